//! Routing at the load balancer (issue 12, "a drained master cannot be brought back from the
//! CLI"): `start` says whether the master is back in rotation and puts a drained one back,
//! `--keep-out-of-rotation`, `routing status|resume`, and the ROUTING of `masters list|show`.

use bbctl::report::{MasterRow, OperationRow, RoutingRow};
use bbctl_api::{DrainPhase, MasterState, RoutingAction, RoutingState};

use crate::support::Fleet;

/// `master-1` drained to its end: stopped, out of rotation by its drain.
fn drained() -> Fleet {
    let fleet = Fleet::two();
    fleet.bbctl(&["drain", "master-1", "--detach"]).expect(0);
    while fleet.agent(0).with(|s| s.drain.as_ref().unwrap().phase) != DrainPhase::Drained {
        fleet.bbctl(&["drain", "status", "master-1"]);
    }
    assert_eq!(fleet.agent(0).with(|s| s.routing), RoutingState::Maint);
    fleet
}

#[test]
fn start_puts_a_drained_master_back_in_rotation_and_says_so() {
    let fleet = drained();
    let run = fleet.bbctl(&["start", "master-1"]).expect(0);
    let mut lines = run.stdout.lines();
    assert!(lines.next().unwrap().contains("ROUTING"), "{}", run.stdout);
    assert!(
        lines
            .next()
            .unwrap()
            .contains("back in rotation (maint -> ready)"),
        "{}",
        run.stdout
    );
    assert_eq!(run.stderr, "");
    assert_eq!(fleet.agent(0).with(|s| s.routing), RoutingState::Ready);
    assert!(
        !fleet
            .agent(0)
            .with(|s| s.start_requests[0].keep_out_of_rotation)
    );
}

#[test]
fn keep_out_of_rotation_then_routing_resume() {
    let fleet = drained();
    let row: OperationRow = fleet
        .bbctl(&["start", "master-1", "--keep-out-of-rotation", "-o", "json"])
        .expect(0)
        .json();
    let routing = row
        .result
        .routing
        .expect("a start says what it did about routing");
    assert_eq!(routing.action, RoutingAction::KeptOut);
    assert_eq!(routing.after, RoutingState::Maint);
    assert!(
        fleet
            .agent(0)
            .with(|s| s.start_requests[0].keep_out_of_rotation)
    );

    let run = fleet.bbctl(&["routing", "status", "master-1"]).expect(0);
    assert!(
        run.stdout.lines().nth(1).unwrap().contains("maint"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("`bbctl routing resume master-1` puts it back"),
        "{}",
        run.stderr
    );

    let row: RoutingRow = fleet
        .bbctl(&["routing", "resume", "master-1", "-o", "json"])
        .expect(0)
        .json();
    assert_eq!(
        (row.master.as_str(), row.before, row.routing),
        ("master-1", Some(RoutingState::Maint), RoutingState::Ready)
    );
    assert_eq!(fleet.agent(0).with(|s| s.routing), RoutingState::Ready);
}

#[test]
fn a_start_leaves_maint_set_by_hand_and_warns() {
    let fleet = Fleet::new(&[("master-1", MasterState::Stopped, false)]);
    fleet.agent(0).with(|s| s.routing = RoutingState::Maint);
    let run = fleet.bbctl(&["start", "master-1"]).expect(0);
    assert!(
        run.stdout.contains("left out of rotation (maint)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .starts_with("warning: master-1: left out of rotation")
            && run
                .stderr
                .contains("`bbctl routing resume master-1` puts it back in rotation"),
        "{}",
        run.stderr
    );
    assert_eq!(fleet.agent(0).with(|s| s.routing), RoutingState::Maint);
}

#[test]
fn routing_resume_is_refused_while_a_drain_holds_the_master() {
    let fleet = Fleet::two();
    fleet.bbctl(&["drain", "master-2", "--detach"]).expect(0);
    let run = fleet.bbctl(&["routing", "resume", "master-2"]).expect(5);
    assert!(
        run.stderr
            .contains("a drain holds this master out of service"),
        "{}",
        run.stderr
    );
    assert_eq!(fleet.agent(1).with(|s| s.routing), RoutingState::Maint);
}

#[test]
fn masters_list_and_show_carry_the_routing_state() {
    let fleet = Fleet::two();
    fleet.agent(1).with(|s| s.routing = RoutingState::Maint);
    let rows: Vec<MasterRow> = fleet
        .bbctl(&["masters", "list", "-o", "json"])
        .expect(0)
        .json();
    let routing: Vec<_> = rows.iter().map(|r| (r.name.as_str(), r.routing)).collect();
    assert_eq!(
        routing,
        [
            ("master-1", Some(RoutingState::Ready)),
            ("master-2", Some(RoutingState::Maint))
        ]
    );
    let table = fleet.bbctl(&["masters", "list"]).expect(0).stdout;
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(&header[..4], ["NAME", "STATE", "ACTIVE", "ROUTING"]);
    let m2: Vec<&str> = table.lines().nth(2).unwrap().split_whitespace().collect();
    assert_eq!(&m2[..4], ["master-2", "running", "yes", "maint"]);
    let show = fleet
        .bbctl(&["masters", "show", "master-2"])
        .expect(0)
        .stdout;
    assert!(show.contains("Routing:    maint\n"), "{show}");
}
