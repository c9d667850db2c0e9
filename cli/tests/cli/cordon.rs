//! `cordon` / `uncordon`: what the agent is asked, what each answers, refusals that change
//! nothing (exit 5), a drain continuing a cordon and `drain cancel` returning to it, and an
//! upgrade refused while a master is cordoned unless `--include-cordoned`.

use bbctl::report::DrainRow;
use bbctl_api::{DrainPhase, MasterState};

use crate::support::Fleet;

fn phase(fleet: &Fleet, i: usize) -> Option<DrainPhase> {
    fleet.agent(i).with(|s| s.drain.as_ref().map(|d| d.phase))
}

#[test]
fn cordon_asks_a_cordon_shows_it_and_is_idempotent() {
    let fleet = Fleet::two();
    let run = fleet
        .bbctl(&["-o", "json", "cordon", "master-2", "--reason", "disk check"])
        .expect(0);
    let rows: Vec<DrainRow> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].master, "master-2");
    assert_eq!(rows[0].status.phase, DrainPhase::Cordoned);
    assert_eq!(rows[0].status.reason.as_deref(), Some("disk check"));
    let req = fleet.agent(1).with(|s| s.drain_requests[0].clone());
    assert!(req.cordon && req.deadline_secs.is_none());
    assert!(req.requested_by.unwrap().contains('@'));
    assert_eq!(phase(&fleet, 0), None, "master-1 untouched");

    // masters list shows it.
    let list = fleet.bbctl(&["masters", "list"]).expect(0);
    let row = list
        .stdout
        .lines()
        .find(|l| l.starts_with("master-2"))
        .unwrap();
    assert!(row.contains("cordoned"), "{}", list.stdout);

    // Again: nothing changes, and it says so.
    let again = fleet.bbctl(&["cordon", "master-2"]).expect(0);
    assert!(
        again.stderr.contains("master-2: already cordoned"),
        "{}",
        again.stderr
    );
    assert_eq!(phase(&fleet, 1), Some(DrainPhase::Cordoned));
}

#[test]
fn uncordon_puts_it_back_and_a_master_not_cordoned_is_left_alone() {
    let fleet = Fleet::two();
    fleet.bbctl(&["cordon", "master-2"]).expect(0);
    let run = fleet
        .bbctl(&["-o", "json", "uncordon", "master-2"])
        .expect(0);
    let rows: Vec<DrainRow> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(rows[0].status.phase, DrainPhase::Cancelled);
    assert_eq!(
        fleet.agent(1).with(|s| s.master.state),
        MasterState::Running
    );
    // Never cordoned: exit 0, a note, nothing asked of the agent but its drain status.
    let never = fleet
        .bbctl(&["-o", "json", "uncordon", "master-1"])
        .expect(0);
    assert!(
        never
            .stderr
            .contains("master-1: not cordoned; nothing changed"),
        "{}",
        never.stderr
    );
    assert_eq!(never.stdout.trim(), "[]");
}

#[test]
fn a_draining_master_is_neither_cordoned_nor_uncordoned() {
    let fleet = Fleet::two();
    fleet.bbctl(&["drain", "master-2", "--detach"]).expect(0);
    let cordon = fleet.bbctl(&["cordon", "master-2"]).expect(5);
    assert!(
        cordon
            .stderr
            .contains("refused: master-2: not cordoned: a drain holds it (draining)"),
        "{}",
        cordon.stderr
    );
    let uncordon = fleet.bbctl(&["uncordon", "master-2"]).expect(5);
    assert!(
        uncordon.stderr.contains("`bbctl drain cancel master-2`"),
        "{}",
        uncordon.stderr
    );
    assert_eq!(phase(&fleet, 1), Some(DrainPhase::Draining));
    // Only the drain's own request reached the agent.
    assert_eq!(fleet.agent(1).with(|s| s.drain_requests.len()), 2);
}

#[test]
fn a_drain_continues_the_cordon_and_drain_cancel_returns_to_it() {
    let fleet = Fleet::two();
    fleet
        .bbctl(&["cordon", "master-2", "--reason", "flaky disk"])
        .expect(0);
    // drain cancel does not lift a cordon.
    let cancel = fleet.bbctl(&["drain", "cancel", "master-2"]).expect(5);
    assert!(
        cancel.stderr.contains("`bbctl uncordon master-2`"),
        "{}",
        cancel.stderr
    );
    assert_eq!(phase(&fleet, 1), Some(DrainPhase::Cordoned));

    // The fake's drain ends one build per look: give it enough not to end during this test.
    fleet.agent(1).with(|s| {
        let d = s.drain.as_mut().unwrap();
        d.builds_running = 10;
        d.workers_attached = 10;
    });
    fleet
        .bbctl(&["drain", "master-2", "--detach", "--reason", "replace"])
        .expect(0);
    assert_eq!(phase(&fleet, 1), Some(DrainPhase::Draining));
    let uncordon = fleet.bbctl(&["uncordon", "master-2"]).expect(5);
    assert!(
        uncordon.stderr.contains("a drain continues its cordon"),
        "{}",
        uncordon.stderr
    );
    let back = fleet
        .bbctl(&["-o", "json", "drain", "cancel", "master-2"])
        .expect(0);
    let row: DrainRow = serde_json::from_str(&back.stdout).unwrap();
    assert_eq!(row.status.phase, DrainPhase::Cordoned);
    assert_eq!(row.status.reason.as_deref(), Some("flaky disk"));
}

#[test]
fn a_cordon_of_a_stopped_master_is_refused_and_unknown_names_are_usage_errors() {
    let fleet = Fleet::new(&[
        ("master-1", MasterState::Running, false),
        ("master-2", MasterState::Stopped, false),
    ]);
    let run = fleet.bbctl(&["cordon", "master-2"]).expect(5);
    assert!(
        run.stderr.contains("the master is not running"),
        "{}",
        run.stderr
    );
    assert_eq!(phase(&fleet, 1), None);
    let unknown = fleet.bbctl(&["cordon", "master-9"]).expect(2);
    assert!(unknown.stderr.contains("master-9"), "{}", unknown.stderr);
}

#[test]
fn an_upgrade_refuses_a_cordoned_fleet_unless_told_to_include_it() {
    let fleet = Fleet::new(&[
        ("master-1", MasterState::Running, false),
        ("master-2", MasterState::Running, false),
        ("master-3", MasterState::Stopped, true),
    ]);
    fleet
        .bbctl(&["cordon", "master-2", "--reason", "flaky disk"])
        .expect(0);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("master.cfg");
    std::fs::write(&cfg, "c = BuildmasterConfig = {}\n").unwrap();
    let cfg = cfg.to_str().unwrap();
    let refused = fleet
        .bbctl(&["upgrade", "--new-config", cfg, "--dry-run"])
        .expect(5);
    assert!(
        refused.stderr.contains("part of the fleet is cordoned")
            && refused
                .stderr
                .contains("master-2: cordoned (reason: flaky disk"),
        "{}",
        refused.stderr
    );
    fleet
        .bbctl(&[
            "upgrade",
            "--new-config",
            cfg,
            "--dry-run",
            "--include-cordoned",
        ])
        .expect(0);
    assert_eq!(phase(&fleet, 1), Some(DrainPhase::Cordoned), "untouched");
}
