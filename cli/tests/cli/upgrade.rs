//! `upgrade --dry-run`: the plan from what the agents say, and its exit code (0 feasible, 5 not),
//! with nothing staged or started.

use bbctl_api::MasterState;

use crate::support::Fleet;

#[test]
fn dry_run_plans_blue_green_onto_the_idle_slot_and_touches_nothing() {
    let fleet = Fleet::new(&[
        ("master-1", MasterState::Running, false),
        ("master-2", MasterState::Stopped, true),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("master.cfg");
    std::fs::write(&cfg, "c = BuildmasterConfig = {}\n").unwrap();
    let run = fleet
        .bbctl(&[
            "upgrade",
            "--new-config",
            cfg.to_str().unwrap(),
            "--dry-run",
        ])
        .expect(0);
    assert!(run.stdout.contains("Plan (blue_green)"), "{}", run.stdout);
    let rows: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("master-"))
        .collect();
    assert!(
        rows[0].contains("old") && rows[1].contains("new"),
        "{rows:?}"
    );
    assert_eq!(
        fleet.agent(1).with(|s| s.master.state),
        MasterState::Stopped
    );
}

#[test]
fn dry_run_of_blue_green_without_idle_slots_is_infeasible() {
    let fleet = Fleet::new(&[("master-1", MasterState::Running, false)]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("master.cfg");
    std::fs::write(&cfg, "c = {}\n").unwrap();
    let run = fleet
        .bbctl(&[
            "upgrade",
            "--new-config",
            cfg.to_str().unwrap(),
            "--strategy",
            "blue-green",
            "--dry-run",
        ])
        .expect(5);
    assert!(run.stderr.contains("--strategy rolling"), "{}", run.stderr);
}

/// A fleet of one running master and one standby slot, and a new configuration to plan with.
fn canary_fleet() -> (Fleet, tempfile::TempDir, String) {
    let fleet = Fleet::new(&[
        ("master-1", MasterState::Running, false),
        ("master-2", MasterState::Stopped, true),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("master.cfg");
    std::fs::write(&cfg, "c = BuildmasterConfig = {}\n").unwrap();
    let cfg = cfg.to_str().unwrap().to_owned();
    (fleet, dir, cfg)
}

#[test]
fn dry_run_with_a_canary_names_it_in_the_plan() {
    let (fleet, _dir, cfg) = canary_fleet();
    let run = fleet
        .bbctl(&[
            "upgrade",
            "--new-config",
            &cfg,
            "--canary",
            "1",
            "--dry-run",
        ])
        .expect(0);
    assert!(run.stdout.contains("Canaries: master-2"), "{}", run.stdout);
    let row = run
        .stdout
        .lines()
        .find(|l| l.starts_with("master-2"))
        .unwrap_or_default();
    assert!(row.contains("canary"), "{}", run.stdout);

    let json = fleet
        .bbctl(&[
            "upgrade",
            "--new-config",
            &cfg,
            "--canary",
            "1",
            "--dry-run",
            "-o",
            "json",
        ])
        .expect(0);
    let plan: serde_json::Value = json
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["event"] == "plan")
        .expect("a plan event");
    assert_eq!(plan["data"]["canary"], serde_json::json!(["master-2"]));
}

#[test]
fn more_canaries_than_standby_slots_is_infeasible_and_bad_gate_flags_are_usage_errors() {
    let (fleet, _dir, cfg) = canary_fleet();
    let run = fleet
        .bbctl(&[
            "upgrade",
            "--new-config",
            &cfg,
            "--canary",
            "2",
            "--dry-run",
        ])
        .expect(5);
    assert!(
        run.stdout
            .contains("--canary 2: only 1 new (standby) slot(s)"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    let run = fleet
        .bbctl(&[
            "upgrade",
            "--new-config",
            &cfg,
            "--canary",
            "0",
            "--dry-run",
        ])
        .expect(2);
    assert!(
        run.stderr.contains("--canary must be at least 1"),
        "{}",
        run.stderr
    );
    let run = fleet
        .bbctl(&[
            "upgrade",
            "--new-config",
            &cfg,
            "--canary",
            "1",
            "--analysis-window",
            "0s",
            "--dry-run",
        ])
        .expect(2);
    assert!(
        run.stderr
            .contains("--analysis-window must be longer than zero"),
        "{}",
        run.stderr
    );
    let run = fleet
        .bbctl(&[
            "upgrade",
            "--new-config",
            &cfg,
            "--canary",
            "1",
            "--gate-error-margin",
            "1.5",
            "--dry-run",
        ])
        .expect(2);
    assert!(run.stderr.contains("--gate-error-margin"), "{}", run.stderr);
    // A gate flag without --canary.
    fleet
        .bbctl(&[
            "upgrade",
            "--new-config",
            &cfg,
            "--auto-promote",
            "--dry-run",
        ])
        .expect(2);
    let run = fleet
        .bbctl(&[
            "upgrade",
            "--new-config",
            &cfg,
            "--canary",
            "1",
            "--strategy",
            "rolling",
            "--dry-run",
        ])
        .expect(5);
    assert!(
        run.stdout.contains("--canary needs a blue-green"),
        "{}",
        run.stdout
    );
    assert_eq!(
        fleet.agent(1).with(|s| s.master.state),
        MasterState::Stopped
    );
}

#[test]
fn a_slow_agent_is_waited_for_and_said_so_not_refused() {
    let (fleet, _dir, cfg) = canary_fleet();
    // The inventory's timeout is 2 s; the first two answers (bbctl's ask and its one retry of a
    // read) come 3 s late, then the agent answers at once.
    fleet.agent(0).with(|s| {
        s.slow_master_answers = 2;
        s.slow_by = std::time::Duration::from_secs(3);
    });
    let run = fleet
        .bbctl(&["upgrade", "--new-config", &cfg, "--dry-run"])
        .expect(0);
    assert!(
        run.stderr
            .contains("master-1: slow (connected, no answer within 2s): asking again"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("Plan (blue_green)"), "{}", run.stdout);
}
