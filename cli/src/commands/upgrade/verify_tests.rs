//! The rules of verify, and its loop over scripted looks (no fleet, no clock of consequence).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::time::Duration;

use bbctl_api::{
    BuildRequestInfo, ClusteredService, FleetMaster, FleetView, MasterInfo, ServiceKind, WorkerInfo,
};
use serde_json::json;

use super::*;

const SHA: &str = "2222222222222222222222222222222222222222222222222222222222222222";

fn info(name: &str, masterid: Option<i64>, running: bool, problems: &[&str]) -> MasterInfo {
    serde_json::from_value(json!({
        "agent_name": name,
        "state": if running { "running" } else { "stopped" },
        "buildbot_name": null,
        "masterid": masterid,
        "active": null,
        "last_active": null,
        "basedir": format!("/srv/{name}"),
        "rest_url": "http://127.0.0.1:1/",
        "process": {"running": running, "pid": if running { Some(4242) } else { None }, "uptime_secs": if running { Some(40.0) } else { None }},
        "buildbot_version": "4.3.0",
        "config": {"sha256": SHA, "label": "master-v2.cfg"},
        "workers": [],
        "builds": [],
        "claimed_requests": [],
        "drain": null,
        "problems": problems,
    }))
    .unwrap()
}

fn worker(name: &str, on: &[i64]) -> WorkerInfo {
    WorkerInfo {
        workerid: 1,
        name: name.into(),
        connected_to: on.to_vec(),
        paused: false,
        pause_reason: None,
        builds: vec![],
    }
}

fn fleet(workers: Vec<WorkerInfo>) -> FleetView {
    let m = |masterid: i64, active: bool| FleetMaster {
        masterid,
        name: format!("host:/srv/master-{masterid}"),
        active,
        last_active: None,
    };
    FleetView {
        masters: vec![m(1, false), m(2, false), m(3, true), m(4, true)],
        workers,
        builds: vec![],
        unclaimed_requests: 0,
        claimed_requests: vec![],
        services: vec![ClusteredService {
            kind: ServiceKind::Scheduler,
            name: "force".into(),
            masterid: Some(3),
            master_name: Some("host:/srv/master-3".into()),
        }],
    }
}

/// The fleet after a blue-green upgrade of master-1/2 onto master-3/4: all workers moved.
fn settled_look() -> Look {
    Look {
        new: vec![
            ("master-3".into(), info("master-3", Some(3), true, &[])),
            ("master-4".into(), info("master-4", Some(4), true, &[])),
        ],
        old: vec![
            ("master-1".into(), info("master-1", None, false, &[])),
            ("master-2".into(), info("master-2", None, false, &[])),
        ],
        fleet: Some(fleet(vec![
            worker("worker-1", &[4]),
            worker("worker-2", &[3]),
            worker("worker-3", &[3]),
        ])),
        unread: vec![],
        gone: vec![],
    }
}

/// master-1 taken out of the inventory (its host lost): verify fails while Buildbot still has
/// it active, and settles once it is inactive (expired).
#[test]
fn an_old_master_out_of_the_inventory_counts_once_buildbot_has_it_inactive() {
    let mut look = settled_look();
    look.old.retain(|(m, _)| m != "master-1");
    look.gone = vec![("master-1".into(), Some(1))];
    let fleet = look.fleet.as_mut().unwrap();
    fleet.masters.retain(|m| m.masterid != 1);
    fleet.masters.push(FleetMaster {
        masterid: 1,
        name: "host:/srv/master-1".into(),
        active: true,
        last_active: None,
    });
    match assess(&look, SHA) {
        Verdict::Wrong { what, lines } => {
            assert_eq!(what, "an old master left the inventory but not Buildbot");
            assert!(lines[0].contains("bbctl masters expire"), "{lines:?}");
        }
        other => panic!("{other:?}"),
    }
    look.fleet
        .as_mut()
        .unwrap()
        .masters
        .last_mut()
        .unwrap()
        .active = false;
    // Its stale `connected_workers` row (Buildbot #4277) does not count.
    look.fleet.as_mut().unwrap().workers[0].connected_to = vec![1, 4];
    assert!(
        matches!(assess(&look, SHA), Verdict::Settled(_)),
        "{:?}",
        assess(&look, SHA)
    );
}

/// Runs `settle` over `looks` in order (the last one repeats), with a short bound.
async fn settle_over(looks: Vec<Look>, timeout_ms: u64) -> (Result<Settled, UpgradeError>, usize) {
    let queue = RefCell::new(VecDeque::from(looks));
    let count = RefCell::new(0);
    let result = settle(
        || {
            *count.borrow_mut() += 1;
            let mut q = queue.borrow_mut();
            let next = if q.len() > 1 {
                q.pop_front().unwrap()
            } else {
                q.front().unwrap().clone()
            };
            async move { Ok(next) }
        },
        SHA,
        Duration::from_millis(timeout_ms),
        Duration::from_millis(5),
    )
    .await;
    (result, count.into_inner())
}

fn failure(result: Result<Settled, UpgradeError>) -> (String, Vec<String>) {
    match result {
        Err(UpgradeError::Failed { message, lines }) => (message, lines),
        other => panic!("expected a verify failure, got {other:?}"),
    }
}

#[test]
fn a_settled_fleet_passes_with_its_counts() {
    let Verdict::Settled(s) = assess(&settled_look(), SHA) else {
        panic!("not settled");
    };
    assert_eq!(s.new_ids, [3, 4].into());
    assert_eq!(s.workers, 3);
    assert!(s.unowned.is_empty());
    assert_eq!(s.uptimes, [40.0, 40.0]);
}

/// Regression (issue 11): after `bbctl upgrade resume` during verify, verify reported "workers
/// not attached to a new master" for its whole 60 s on a healthy fleet. It read the new
/// masters' Buildbot ids once, before its loop, and dropped a master whose agent could not read
/// its own identity at that moment (its `masterid` was `null`, the REST failure in `problems`):
/// every worker on that master then looked stray until the bound. Now every look reads again,
/// and an unknown id is "not read yet", never "elsewhere".
#[tokio::test]
async fn a_new_master_whose_id_was_unreadable_at_first_is_read_again() {
    let mut first = settled_look();
    first.new[1].1 = info(
        "master-4",
        None,
        true,
        &["Buildbot REST API http://127.0.0.1:1/api/v2/masters: operation timed out"],
    );
    let Verdict::Pending { what, lines } = assess(&first, SHA) else {
        panic!("an unknown id must not settle, nor fail at once");
    };
    assert!(what.contains("identity"), "{what}");
    assert!(
        lines[0].contains("master-4") && lines[0].contains("timed out"),
        "{lines:?}"
    );

    let (result, looks) = settle_over(vec![first, settled_look()], 5_000).await;
    assert_eq!(result.unwrap().new_ids, [3, 4].into());
    assert_eq!(looks, 2);
}

#[tokio::test]
async fn an_id_that_never_becomes_readable_fails_naming_the_master() {
    let mut look = settled_look();
    look.new[1].1 = info(
        "master-4",
        None,
        true,
        &["Buildbot REST API …: connection refused"],
    );
    let (message, lines) = failure(settle_over(vec![look], 30).await.0);
    assert!(
        message.contains("identity") && message.contains("still after"),
        "{message}"
    );
    assert_eq!(lines.len(), 1);
    assert!(lines[0].starts_with("master-4:"), "{lines:?}");
}

#[tokio::test]
async fn a_failed_fleet_read_never_passes() {
    let mut look = settled_look();
    look.fleet = None;
    look.unread = vec!["master-3: Buildbot REST API …/schedulers: HTTP 500".into()];
    let (message, lines) = failure(settle_over(vec![look], 30).await.0);
    assert!(
        message.starts_with("could not read the fleet's state"),
        "{message}"
    );
    assert!(lines[0].contains("schedulers"), "{lines:?}");
}

#[tokio::test]
async fn workers_still_moving_are_waited_for_and_named_if_they_stay() {
    let mut moving = settled_look();
    moving.fleet = Some(fleet(vec![
        worker("worker-1", &[1]),
        worker("worker-2", &[]),
        worker("worker-3", &[3]),
    ]));
    let (result, looks) = settle_over(vec![moving.clone(), settled_look()], 5_000).await;
    assert!(result.is_ok());
    assert_eq!(looks, 2);

    let (message, lines) = failure(settle_over(vec![moving], 30).await.0);
    assert!(
        message.starts_with("workers not attached to a new master"),
        "{message}"
    );
    assert_eq!(
        lines,
        [
            "worker-1 is on master id 1 (host:/srv/master-1)",
            "worker-2 is not connected"
        ]
    );
}

#[tokio::test]
async fn an_old_master_still_running_fails_at_once() {
    let mut look = settled_look();
    look.old[0].1 = info("master-1", Some(1), true, &[]);
    let (message, lines) = failure(settle_over(vec![look], 5_000).await.0);
    assert_eq!(message, "an old master still runs");
    assert!(lines[0].contains("master-1"), "{lines:?}");
}

#[test]
fn a_new_master_off_the_new_configuration_is_wrong() {
    let mut look = settled_look();
    look.new[0].1.config = None;
    assert!(matches!(assess(&look, SHA), Verdict::Wrong { .. }));
}

#[test]
fn claims_by_stopped_masters_are_stuck_and_claims_by_other_live_masters_are_not() {
    let request = |id: i64, by: i64| BuildRequestInfo {
        buildrequestid: id,
        builderid: 1,
        claimed: true,
        claimed_by_masterid: Some(by),
        submitted_at: None,
    };
    let mut look = settled_look();
    let view = look.fleet.as_mut().unwrap();
    view.masters.push(FleetMaster {
        masterid: 9,
        name: "other:/srv/x".into(),
        active: true,
        last_active: None,
    });
    view.claimed_requests = vec![request(10, 3), request(11, 9)];
    assert!(matches!(assess(&look, SHA), Verdict::Settled(_)));

    look.fleet
        .as_mut()
        .unwrap()
        .claimed_requests
        .push(request(12, 2));
    let Verdict::Pending { what, lines } = assess(&look, SHA) else {
        panic!("a claim by a stopped master must not settle");
    };
    assert_eq!(what, "requests claimed by stopped masters");
    assert_eq!(
        lines,
        ["build request 12 claimed by stopped master id 2 (host:/srv/master-2)"]
    );
}

#[test]
fn services_not_on_a_new_master_are_findings_not_failures() {
    let mut look = settled_look();
    look.fleet.as_mut().unwrap().services[0].masterid = None;
    look.fleet.as_mut().unwrap().services[0].master_name = None;
    let Verdict::Settled(s) = assess(&look, SHA) else {
        panic!("schedulers do not fail verify");
    };
    assert_eq!(s.unowned, ["scheduler \"force\" has no active owner"]);
}
