//! `start` / `stop`: conflicts (exit 5), the no-terminal refusal, `--yes`, modes.

use bbctl::report::OperationRow;
use bbctl_api::{MasterState, StopMode};

use crate::support::Fleet;

#[test]
fn start_running_master_is_refused_with_agent_message_verbatim() {
    let fleet = Fleet::two();
    let run = fleet.bbctl(&["start", "master-1"]).expect(5);
    assert_eq!(
        run.stderr,
        "error: master-1: the master is already running (pid 4001)\n"
    );
}

#[test]
fn start_stopped_master() {
    let fleet = Fleet::new(&[("master-1", MasterState::Stopped, false)]);
    let row: OperationRow = fleet
        .bbctl(&["start", "master-1", "-o", "json"])
        .expect(0)
        .json();
    assert_eq!(
        (row.master.as_str(), row.result.kind.as_str(), row.result.ok),
        ("master-1", "start", true)
    );
    assert_eq!(
        fleet.agent(0).with(|s| s.master.state),
        MasterState::Running
    );
}

#[test]
fn stop_without_yes_and_without_terminal_refuses() {
    let fleet = Fleet::two();
    let run = fleet.bbctl(&["stop", "master-2"]).expect(5);
    assert!(
        run.stderr
            .contains("refusing to stop master-2 without --yes"),
        "{}",
        run.stderr
    );
    assert!(
        fleet.agent(1).with(|s| s.stop_requests.is_empty()),
        "nothing was stopped"
    );
}

#[test]
fn stop_with_yes_sends_the_mode() {
    let fleet = Fleet::two();
    let run = fleet
        .bbctl(&["stop", "master-2", "--yes", "--immediate"])
        .expect(0);
    let mut lines = run.stdout.lines();
    assert!(lines.next().unwrap().contains("OPERATION"));
    assert!(lines.next().unwrap().contains("master stopped"));
    assert_eq!(
        fleet.agent(1).with(|s| s.stop_requests[0].mode),
        StopMode::Immediate
    );
    fleet.bbctl(&["stop", "master-1", "-y"]).expect(0);
    assert_eq!(
        fleet.agent(0).with(|s| s.stop_requests[0].mode),
        StopMode::Graceful
    );
}
