//! `schedulers list`: every scheduler and change source with its owner mapped to inventory
//! names; unowned ones marked in the table and counted on stderr.

use bbctl::report::SchedulerRow;
use bbctl_api::{ClusteredService, ServiceKind};

use crate::support::Fleet;

fn service(kind: ServiceKind, name: &str, owner: Option<(i64, &str)>) -> ClusteredService {
    ClusteredService {
        kind,
        name: name.into(),
        masterid: owner.map(|(id, _)| id),
        master_name: owner.map(|(_, n)| n.to_owned()),
    }
}

fn fleet_with_services() -> Fleet {
    let fleet = Fleet::two();
    for agent in &fleet.agents {
        agent.with(|s| {
            s.fleet.services = vec![
                service(ServiceKind::Scheduler, "nightly", None),
                service(
                    ServiceKind::ChangeSource,
                    "poller",
                    Some((7, "other:/srv/x")),
                ),
                service(
                    ServiceKind::Scheduler,
                    "force",
                    Some((2, "host:/srv/master-2")),
                ),
            ];
        });
    }
    fleet
}

#[test]
fn table_names_owners_and_marks_the_unowned() {
    let run = fleet_with_services()
        .bbctl(&["schedulers", "list"])
        .expect(0);
    let expected = "\
KIND            NAME      OWNER
scheduler       force     master-2
scheduler       nightly   (unowned)
change source   poller    other:/srv/x
";
    assert_eq!(run.stdout, expected);
    assert!(
        run.stderr.contains("note: 1 without an owner")
            && run.stderr.contains("activity poll (every 300 s)"),
        "{}",
        run.stderr
    );
}

#[test]
fn json_and_master_filter() {
    let fleet = fleet_with_services();
    let rows: Vec<SchedulerRow> = fleet
        .bbctl(&["schedulers", "list", "-o", "json"])
        .expect(0)
        .json();
    let owners: Vec<(&str, Option<&str>, Option<i64>)> = rows
        .iter()
        .map(|r| (r.name.as_str(), r.owner.as_deref(), r.masterid))
        .collect();
    assert_eq!(
        owners,
        [
            ("force", Some("master-2"), Some(2)),
            ("nightly", None, None),
            ("poller", Some("other:/srv/x"), Some(7)),
        ]
    );
    let on_2: Vec<SchedulerRow> = fleet
        .bbctl(&["schedulers", "list", "--master", "master-2", "-o", "json"])
        .expect(0)
        .json();
    assert_eq!(on_2.len(), 1);
    assert_eq!(on_2[0].kind, ServiceKind::Scheduler);
    let unknown = fleet
        .bbctl(&["schedulers", "list", "--master", "nope"])
        .expect(2);
    assert!(unknown.stderr.contains("unknown master `nope`"));
}

/// A drain of a master that owns schedulers says, before it starts, what goes unowned with it.
#[test]
fn a_drain_names_what_the_master_leaves_unowned() {
    let fleet = fleet_with_services();
    let run = fleet.bbctl(&["drain", "master-2", "--detach"]).expect(0);
    assert!(
        run.stderr
            .contains("note: master-2 owns scheduler \"force\": once it stops they have no owner"),
        "{}",
        run.stderr
    );
    let quiet = fleet.bbctl(&["drain", "master-1", "--detach"]).expect(0);
    assert!(!quiet.stderr.contains("owns"), "{}", quiet.stderr);
}
