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
