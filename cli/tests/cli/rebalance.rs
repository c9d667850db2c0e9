//! `workers rebalance`: the plan from what the agents say, moves one at a time through the
//! agents (a fake load balancer lands each worker on the agent with the fewest), busy workers
//! never moved, masters out of service left alone, pins, `--dry-run`, `--max-moves`, bad input.

use bbctl::report::rebalance::RebalanceReport;
use bbctl_api::{DrainPhase, DrainStatus, MasterState, WorkerInfo};

use crate::support::Fleet;

fn workers(prefix: &str, n: usize, masterid: i64) -> Vec<WorkerInfo> {
    (0..n)
        .map(|i| WorkerInfo {
            workerid: masterid * 100 + i as i64,
            name: format!("{prefix}{i:02}"),
            connected_to: vec![masterid],
            paused: false,
            pause_reason: None,
            builds: vec![],
        })
        .collect()
}

/// Three running masters holding `counts` workers; each lands moved workers on the others.
fn fleet(counts: [usize; 3]) -> Fleet {
    let fleet = Fleet::new(&[
        ("master-1", MasterState::Running, false),
        ("master-2", MasterState::Running, false),
        ("master-3", MasterState::Running, false),
    ]);
    for (i, n) in counts.into_iter().enumerate() {
        let others: Vec<_> = (0..3)
            .filter(|j| *j != i)
            .map(|j| fleet.agent(j).state.clone())
            .collect();
        fleet.agent(i).with(|s| {
            s.master.workers = workers(&format!("m{}w", i + 1), n, i as i64 + 1);
            s.lands_on = others;
        });
    }
    fleet
}

fn counts(fleet: &Fleet) -> Vec<usize> {
    (0..3)
        .map(|i| fleet.agent(i).with(|s| s.master.workers.len()))
        .collect()
}

fn report(stdout: &str) -> RebalanceReport {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn uneven_workers_are_evened_out_one_move_at_a_time() {
    let fleet = fleet([6, 0, 0]);
    let run = fleet
        .bbctl(&["-o", "json", "workers", "rebalance"])
        .expect(0);
    let r = report(&run.stdout);
    assert!(!r.dry_run);
    assert_eq!(r.moves.len(), 4, "{r:#?}");
    assert!(
        r.moves
            .iter()
            .all(|m| m.outcome == "moved" && m.from == "master-1")
    );
    // Where each landed is named as in the inventory.
    assert!(
        r.moves
            .iter()
            .all(|m| matches!(m.landed.as_deref(), Some("master-2" | "master-3"))),
        "{r:#?}"
    );
    assert_eq!(counts(&fleet), [2, 2, 2]);
    let after: Vec<_> = r.after.iter().map(|b| (b.workers, b.target)).collect();
    assert_eq!(after, [(Some(2), Some(2)); 3]);
    // One progress line per move on stderr.
    assert_eq!(
        run.stderr.lines().filter(|l| l.contains(", moved")).count(),
        4,
        "{}",
        run.stderr
    );
    // Each move asked the worker's own master, with who asked.
    let asked = fleet.agent(0).with(|s| s.move_requests.clone());
    assert_eq!(asked.len(), 4);
    assert!(asked[0].1.requested_by.as_deref().unwrap().contains('@'));
    assert_eq!(asked[0].1.timeout_secs, Some(30.0));
}

#[test]
fn dry_run_plans_and_moves_nothing() {
    let fleet = fleet([5, 1, 0]);
    let run = fleet
        .bbctl(&["workers", "rebalance", "--dry-run"])
        .expect(0);
    assert!(run.stdout.contains("WORKER"), "{}", run.stdout);
    assert!(run.stdout.contains("planned"), "{}", run.stdout);
    assert!(
        run.stdout.contains("MASTER") && run.stdout.contains("TARGET"),
        "{}",
        run.stdout
    );
    assert_eq!(counts(&fleet), [5, 1, 0]);
    assert!(fleet.agent(0).with(|s| s.move_requests.is_empty()));
    let json = fleet
        .bbctl(&["-o", "json", "workers", "rebalance", "--dry-run"])
        .expect(0);
    let r = report(&json.stdout);
    assert!(r.dry_run);
    assert_eq!(r.moves.len(), 3, "{r:#?}");
    assert!(r.moves.iter().all(|m| m.outcome == "planned"));
}

#[test]
fn busy_workers_are_never_moved_and_are_named() {
    let fleet = fleet([6, 0, 0]);
    fleet.agent(0).with(|s| {
        for w in &mut s.master.workers[..4] {
            w.builds = vec![7];
        }
    });
    let run = fleet
        .bbctl(&["-o", "json", "workers", "rebalance"])
        .expect(0);
    let r = report(&run.stdout);
    let moved: Vec<&str> = r.moves.iter().map(|m| m.worker.as_str()).collect();
    assert_eq!(moved, ["m1w04", "m1w05"]);
    assert_eq!(counts(&fleet), [4, 1, 1]);
    assert_eq!(r.held.len(), 4, "{r:#?}");
    assert!(r.held.iter().all(|h| h.why.contains("busy")));
}

#[test]
fn masters_out_of_service_take_no_workers_and_max_moves_caps_the_run() {
    let fleet = fleet([6, 0, 0]);
    fleet.agent(2).with(|s| {
        s.drain = Some(cordon());
        s.master.state = MasterState::Cordoned;
    });
    let run = fleet
        .bbctl(&["-o", "json", "workers", "rebalance", "--max-moves", "1"])
        .expect(0);
    let r = report(&run.stdout);
    assert_eq!(r.moves.len(), 1);
    assert_eq!(r.moves[0].to, "master-2");
    let m3 = r.before.iter().find(|b| b.master == "master-3").unwrap();
    assert_eq!(m3.out.as_deref(), Some("cordoned"));
    assert_eq!(m3.target, None);
}

#[test]
fn a_pin_that_names_no_master_is_a_usage_error_and_nothing_moves() {
    let fleet = fleet([6, 0, 0]);
    let inventory = fleet.inventory();
    let mut text = std::fs::read_to_string(&inventory).unwrap();
    text.push_str("\n[[pins]]\nworkers = \"m1w0*\"\nmasters = [\"master-9\"]\n");
    std::fs::write(&inventory, text).unwrap();
    let run = fleet.bbctl(&["workers", "rebalance"]).expect(2);
    assert!(
        run.stderr
            .contains("the pin of `m1w0*` names no master `master-9`"),
        "{}",
        run.stderr
    );
    assert!(fleet.agent(0).with(|s| s.move_requests.is_empty()));
    let bad = fleet
        .bbctl(&["workers", "rebalance", "--move-timeout", "0s"])
        .expect(2);
    assert!(bad.stderr.contains("--move-timeout"), "{}", bad.stderr);
}

#[test]
fn pinned_workers_stay_on_their_masters() {
    let fleet = fleet([6, 0, 0]);
    let inventory = fleet.inventory();
    let mut text = std::fs::read_to_string(&inventory).unwrap();
    text.push_str("\n[[pins]]\nworkers = \"m1w0*\"\nmasters = [\"master-1\"]\n");
    std::fs::write(&inventory, text).unwrap();
    let run = fleet
        .bbctl(&["-o", "json", "workers", "rebalance"])
        .expect(0);
    assert!(report(&run.stdout).moves.is_empty(), "{}", run.stdout);
    assert_eq!(counts(&fleet), [6, 0, 0]);
}

fn cordon() -> DrainStatus {
    DrainStatus {
        id: 1,
        phase: DrainPhase::Cordoned,
        started_at: 1_700_000_000.0,
        finished_at: None,
        deadline_at: None,
        force_after_deadline: false,
        reason: None,
        requested_by: None,
        builds_running: 0,
        builds_finished: 0,
        builds_requeued: 0,
        workers_attached: 0,
        workers_handed_off: vec![],
        message: None,
        running_builds: vec![],
        failing: None,
        cordoned_at: Some(1_700_000_000.0),
    }
}
