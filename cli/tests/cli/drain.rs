//! `drain`: follow (plain lines without a terminal), deadline, detach + status, cancel,
//! re-attaching; a new deadline for a drain in progress, a stalled drain (exit 7), an agent lost
//! while following (exit 3), Ctrl-C (exit 130), masters named as in the inventory.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use bbctl::report::DrainRow;
use bbctl_api::{DrainFailure, DrainPhase};

use crate::fake_agent::DrainEnd;
use crate::support::Fleet;

#[test]
fn follow_prints_progress_on_stderr_and_a_summary_on_stdout() {
    let fleet = Fleet::two();
    let run = fleet
        .bbctl(&["drain", "master-2", "--reason", "kernel update"])
        .expect(0);
    // Each line: phase, elapsed time, builds left, workers attached, handed off.
    let line = |phase: &str, rest: &str| {
        run.stderr
            .lines()
            .any(|l| l.starts_with(&format!("master-2: {phase}, ")) && l.contains(rest))
    };
    assert!(
        line(
            "draining",
            " elapsed, 2 build(s) left, 2 worker(s) attached, 0 handed off"
        ),
        "{}",
        run.stderr
    );
    assert!(
        line(
            "drained",
            "10s elapsed, 0 build(s) left, 0 worker(s) attached, 2 handed off"
        ),
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

#[test]
fn rerunning_with_a_deadline_changes_the_drain_in_progress() {
    let fleet = Fleet::two();
    fleet.bbctl(&["drain", "master-2", "--detach"]).expect(0);
    let run = fleet
        .bbctl(&[
            "drain",
            "master-2",
            "--deadline",
            "1m",
            "--force-after-deadline",
            "--detach",
            "-o",
            "json",
        ])
        .expect(0);
    let changes = fleet.agent(1).with(|s| s.drain_changes.clone());
    assert_eq!(changes.len(), 1, "one PATCH: {changes:?}");
    assert_eq!(
        (changes[0].deadline_secs, changes[0].force_after_deadline),
        (Some(60.0), Some(true))
    );
    assert!(changes[0].requested_by.as_deref().unwrap().contains('@'));
    assert!(
        run.stderr
            .contains("master-2: deadline changed from none to ")
            && run.stderr.contains(" UTC (in ")
            && run.stderr.contains("busy workers are handed off"),
        "{}",
        run.stderr
    );
    let rows: Vec<DrainRow> = run.json();
    assert!(rows[0].status.deadline_at.is_some() && rows[0].status.force_after_deadline);
    // Without --deadline, re-running only re-attaches: nothing more is changed.
    fleet.bbctl(&["drain", "master-2", "--detach"]).expect(0);
    assert_eq!(fleet.agent(1).with(|s| s.drain_changes.len()), 1);
}

#[test]
fn a_change_the_agent_refuses_is_an_error_and_changes_nothing() {
    let fleet = Fleet::two();
    fleet.bbctl(&["drain", "master-2", "--detach"]).expect(0);
    fleet.agent(1).with(|s| {
        s.drain.as_mut().unwrap().phase = DrainPhase::Stopping;
    });
    let run = fleet
        .bbctl(&["drain", "master-2", "--deadline", "1m", "--detach"])
        .expect(5);
    assert!(
        run.stderr.contains(
            "error: the drain in progress was not changed: master-2: the drain is stopping"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(
        fleet
            .agent(1)
            .with(|s| s.drain.clone().unwrap().deadline_at),
        None
    );
}

/// A drain whose step has failed since long before the stall timeout.
fn stuck(fleet: &Fleet, i: usize, since: f64) {
    fleet.agent(i).with(|s| {
        s.drain_failing = Some(DrainFailure {
            reason: "load balancer: HAProxy has no server `workers/wrong`".into(),
            since,
        });
    });
}

#[test]
fn a_stalled_drain_shows_why_and_stops_following_with_exit_7() {
    let fleet = Fleet::two();
    stuck(&fleet, 1, 1_000.0);
    let run = fleet
        .bbctl(&["drain", "master-2", "--stall-timeout", "30s"])
        .expect(7);
    assert!(
        run.stderr.contains("master-2: draining, ")
            && run.stderr.contains(" — a step has failed for ")
            && run.stderr.contains(
                "load balancer: HAProxy has no server `workers/wrong` (the agent keeps retrying)"
            ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("master-2: stalled: the drain cannot progress")
            && run.stderr.contains("`bbctl drain cancel master-2`")
            && run.stderr.contains("`bbctl drain status master-2`"),
        "{}",
        run.stderr
    );
    // `drain status` shows the reason in MESSAGE, not `-`.
    let run = fleet.bbctl(&["drain", "status", "master-2"]).expect(0);
    assert!(
        run.stdout.contains("HAProxy has no server `workers/wrong`"),
        "{}",
        run.stdout
    );
    let row: DrainRow = fleet
        .bbctl(&["drain", "status", "master-2", "-o", "json"])
        .expect(0)
        .json();
    assert_eq!(row.status.failing.unwrap().since, 1_000.0);
}

#[test]
fn an_agent_lost_while_following_exits_3_and_says_how_to_reattach() {
    let fleet = Fleet::two();
    // The drain does not move on (its step fails, but not for long enough to stall).
    stuck(&fleet, 1, 4_000_000_000.0);
    let mut child = crate::support::command(&[
        "--inventory",
        fleet.inventory().to_str().unwrap(),
        "drain",
        "master-2",
    ])
    .stderr(Stdio::piped())
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    wait_for_line(&mut stderr, "following the drain");
    fleet.agent(1).kill();
    let rest = read_rest(&mut stderr);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3), "{rest}");
    assert!(
        rest.contains("master-2: lost contact with the agent")
            && rest.contains("follow again with `bbctl drain master-2`"),
        "{rest}"
    );
}

#[test]
fn ctrl_c_while_following_says_how_to_reattach_and_exits_130() {
    let fleet = Fleet::two();
    stuck(&fleet, 1, 4_000_000_000.0);
    let mut child = crate::support::command(&[
        "--inventory",
        fleet.inventory().to_str().unwrap(),
        "drain",
        "master-2",
        "-o",
        "json",
    ])
    .stderr(Stdio::piped())
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    wait_for_line(&mut stderr, "following the drain");
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let rest = read_rest(&mut stderr);
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{rest}");
    assert!(
        rest.contains("interrupted: no longer following; the drain goes on")
            && rest.contains("`bbctl drain master-2`")
            && rest.contains("`bbctl drain status master-2`"),
        "{rest}"
    );
    // The last known state is still the result on stdout.
    let rows: Vec<DrainRow> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(rows[0].status.phase, DrainPhase::Draining);
    // The drain itself was left alone.
    assert_eq!(
        fleet.agent(1).with(|s| s.drain.clone().unwrap().phase),
        DrainPhase::Draining
    );
}

#[test]
fn handoffs_name_the_masters_as_the_inventory_does() {
    let fleet = Fleet::two();
    let rows: Vec<DrainRow> = fleet
        .bbctl(&["drain", "master-2", "-o", "json"])
        .expect(0)
        .json();
    // The agent says `host:/srv/master-1` (Buildbot's name); the operator's name is master-1.
    let to: Vec<_> = rows[0]
        .status
        .workers_handed_off
        .iter()
        .map(|h| h.to_master.as_deref())
        .collect();
    assert_eq!(to, [Some("master-1"), Some("master-1")]);
    let run = fleet.bbctl(&["drain", "status", "master-2"]).expect(0);
    assert!(!run.stdout.contains("host:/srv/"), "{}", run.stdout);
}

#[test]
fn a_drain_that_started_nowhere_prints_no_empty_table() {
    let fleet = Fleet::two();
    fleet.agent(1).with(|s| s.master.process.running = false);
    let run = fleet.bbctl(&["drain", "master-2"]).expect(5);
    assert_eq!(run.stdout, "", "no table header alone");
    assert!(
        run.stderr
            .contains("error: master-2: the master is not running"),
        "{}",
        run.stderr
    );
}

fn wait_for_line(reader: &mut impl BufRead, needle: &str) {
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "stderr ended before `{needle}`:\n{seen}"
        );
        if line.contains(needle) {
            return;
        }
        seen.push_str(&line);
    }
}

fn read_rest(reader: &mut impl BufRead) -> String {
    let mut rest = String::new();
    std::io::Read::read_to_string(reader, &mut rest).unwrap();
    rest
}
