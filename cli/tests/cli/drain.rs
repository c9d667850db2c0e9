//! `drain`: follow (plain lines without a terminal), deadline, detach + status, cancel,
//! re-attaching.

use bbctl::report::DrainRow;
use bbctl_api::DrainPhase;

use crate::fake_agent::DrainEnd;
use crate::support::Fleet;

#[test]
fn follow_prints_progress_on_stderr_and_a_summary_on_stdout() {
    let fleet = Fleet::two();
    let run = fleet
        .bbctl(&["drain", "master-2", "--reason", "kernel update"])
        .expect(0);
    assert!(
        run.stderr
            .contains("master-2: draining, 2 build(s) left, 2 worker(s) attached, 0 handed off"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("master-2: drained, 0 build(s) left, 0 worker(s) attached, 2 handed off"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains('\u{1b}'),
        "no escape codes without a terminal"
    );
    let mut lines = run.stdout.lines();
    assert!(lines.next().unwrap().trim_start().starts_with("MASTER"));
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&row[..7], ["master-2", "drained", "0", "2", "0", "0", "2"]);
    let request = fleet.agent(1).with(|s| s.drain_requests[0].clone());
    assert_eq!(request.reason.as_deref(), Some("kernel update"));
    // Who asked: from the body's `requested_by` or the `X-Bbctl-Requested-By` header.
    let drain = fleet.agent(1).with(|s| s.drain.clone().unwrap());
    assert!(drain.requested_by.unwrap().contains('@'));
}

#[test]
fn deadline_passed_exits_4() {
    let fleet = Fleet::two();
    fleet
        .agent(0)
        .with(|s| s.drain_end = DrainEnd::DeadlinePassed);
    let rows: Vec<DrainRow> = fleet
        .bbctl(&["drain", "master-1", "--deadline", "1h30m", "-o", "json"])
        .expect(4)
        .json();
    assert_eq!(rows[0].status.phase, DrainPhase::DeadlinePassed);
    assert_eq!(
        fleet.agent(0).with(|s| s.drain_requests[0].deadline_secs),
        Some(5400.0)
    );
}

#[test]
fn detach_then_status_then_reattach() {
    let fleet = Fleet::two();
    let rows: Vec<DrainRow> = fleet
        .bbctl(&["drain", "master-2", "--detach", "-o", "json"])
        .expect(0)
        .json();
    assert_eq!(
        (rows[0].master.as_str(), rows[0].status.phase),
        ("master-2", DrainPhase::Draining)
    );

    let status: DrainRow = fleet
        .bbctl(&["drain", "status", "master-2", "-o", "json"])
        .expect(0)
        .json();
    assert_eq!(
        (status.status.builds_running, status.status.builds_finished),
        (1, 1)
    );

    // Re-running attaches to the same drain (same id) and follows it to the end.
    let rows: Vec<DrainRow> = fleet
        .bbctl(&["drain", "master-2", "-o", "json"])
        .expect(0)
        .json();
    assert_eq!(
        (rows[0].status.id, rows[0].status.phase),
        (status.status.id, DrainPhase::Drained)
    );
    assert_eq!(fleet.agent(1).with(|s| s.drain_requests.len()), 2);
}

#[test]
fn status_of_never_drained_master_is_the_agents_error() {
    let fleet = Fleet::two();
    let run = fleet.bbctl(&["drain", "status", "master-1"]).expect(1);
    assert_eq!(
        run.stderr,
        "error: master-1: no drain has run on this agent\n"
    );
}

#[test]
fn cancel_and_unknown_names() {
    let fleet = Fleet::two();
    fleet.bbctl(&["drain", "master-1", "--detach"]).expect(0);
    let run = fleet.bbctl(&["drain", "cancel", "master-1"]).expect(0);
    assert!(run.stdout.contains("cancelled"), "{}", run.stdout);
    let run = fleet.bbctl(&["drain", "master-1", "ghost"]).expect(2);
    assert!(run.stderr.contains("unknown master `ghost`"));
    assert_eq!(
        fleet.agent(0).with(|s| s.drain_requests.len()),
        1,
        "nothing started for a bad list"
    );
}
