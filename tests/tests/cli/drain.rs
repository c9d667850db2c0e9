//! `bbctl drain NAME --detach` of the master that owns the schedulers, then `bbctl drain status
//! NAME -o json` until drained; `bbctl schedulers list` before and after, against Buildbot's REST.

use std::collections::BTreeSet;
use std::time::Duration;

use bbctl_api::{DrainPhase, MasterInfo};
use bbctl_e2e::{Buildbot, Fleet, FleetOptions, wait_until};

use crate::rows::{DrainRow, MasterRow, RowState, SchedulerRow};
use crate::{bbctl, describe, json_of};

/// `schedulers list -o json`, checked against `/api/v2/schedulers` and `/changesources`: the
/// same services, each with the owner Buildbot names (`masterid`).
fn schedulers_as_rest_says(fleet: &Fleet, rest: &Buildbot) -> Vec<SchedulerRow> {
    let rows: Vec<SchedulerRow> = json_of(&bbctl(fleet, &["schedulers", "list", "-o", "json"]));
    let mut from_rest = Vec::new();
    for (path, kind) in [
        ("schedulers", "scheduler"),
        ("changesources", "change_source"),
    ] {
        for s in rest.list(path, path).unwrap() {
            let owner = s["master"]["masterid"].as_i64();
            from_rest.push((
                kind.to_owned(),
                s["name"].as_str().unwrap().to_owned(),
                owner,
            ));
        }
    }
    let mut ours: Vec<(String, String, Option<i64>)> = rows
        .iter()
        .map(|r| (r.kind.clone(), r.name.clone(), r.masterid))
        .collect();
    from_rest.sort();
    ours.sort();
    assert_eq!(ours, from_rest, "{rows:#?}");
    rows
}

/// Draining mutates the fleet for good: a fleet of its own (2 masters, 2 workers).
#[test]
fn drain_detach_then_status_tracks_it() {
    let fleet = Fleet::up(FleetOptions {
        masters: 2,
        standby: 0,
        workers: 2,
    })
    .unwrap();
    let rest = fleet.buildbot(0);
    // The master that owns the schedulers (the first to start claims them all) is drained.
    let owned = wait_until(
        "a master to own the schedulers",
        Duration::from_secs(60),
        || {
            let rows = schedulers_as_rest_says(&fleet, &rest);
            Ok(rows.iter().all(|r| r.owner.is_some()).then_some(rows))
        },
    )
    .unwrap();
    assert!(!owned.is_empty(), "the fleet's master.cfg has schedulers");
    let name = owned[0].owner.clone().unwrap();
    let slot = fleet
        .info
        .masters
        .iter()
        .position(|m| m.name == name)
        .unwrap_or_else(|| panic!("owner {name} is a slot: {owned:#?}"));
    let victims: Vec<&str> = owned
        .iter()
        .filter(|r| r.owner.as_deref() == Some(name.as_str()))
        .map(|r| r.name.as_str())
        .collect();
    // How the note names each (in the fleet view's order, not necessarily this one).
    let named: Vec<String> = owned
        .iter()
        .filter(|r| r.owner.as_deref() == Some(name.as_str()))
        .map(|r| {
            let kind = if r.kind == "change_source" {
                "change source"
            } else {
                "scheduler"
            };
            format!("{kind} {:?}", r.name)
        })
        .collect();
    let agent = fleet.agent(slot);
    let before: MasterInfo = agent.get("/v1/master").unwrap();
    let masterid = before.masterid.unwrap();

    let out = bbctl(
        &fleet,
        &["drain", &name, "--detach", "--reason", "e2e", "-o", "json"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let note = stderr
        .lines()
        .find(|l| l.starts_with(&format!("note: {name} owns ")))
        .unwrap_or_else(|| panic!("no note: {}", describe(&out)));
    assert!(
        named.iter().all(|n| note.contains(n.as_str()))
            && note.contains("once it stops they have no owner"),
        "{named:?}\n{}",
        describe(&out)
    );
    let rows: Vec<DrainRow> = json_of(&out);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].master, name);
    assert_eq!(rows[0].status.reason.as_deref(), Some("e2e"));
    let id = rows[0].status.id;

    let done = wait_until(
        "bbctl drain status to say drained",
        Duration::from_secs(90),
        || {
            let row: DrainRow = serde_json::from_slice(
                &bbctl(&fleet, &["drain", "status", &name, "-o", "json"]).stdout,
            )?;
            anyhow::ensure!(
                row.master == name && row.status.id == id,
                "another drain: {row:?}"
            );
            Ok((row.status.phase == DrainPhase::Drained).then_some(row))
        },
    )
    .unwrap();
    assert_eq!(
        (done.status.builds_running, done.status.workers_attached),
        (0, 0),
        "{done:#?}"
    );
    assert!(done.status.finished_at.is_some(), "{done:#?}");
    let handed: BTreeSet<&str> = done
        .status
        .workers_handed_off
        .iter()
        .map(|h| h.worker.as_str())
        .collect();
    let had: BTreeSet<&str> = before.workers.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(handed, had, "{done:#?}");

    // The fleet agrees: the drained master inactive and stopped, every worker on the other.
    let other = 1 - slot;
    let masters = fleet.buildbot(other).list("masters", "masters").unwrap();
    assert!(
        masters
            .iter()
            .any(|m| m["masterid"] == masterid && m["active"] == false),
        "{masters:?}"
    );
    let rows: Vec<MasterRow> =
        serde_json::from_slice(&bbctl(&fleet, &["masters", "list", "-o", "json"]).stdout).unwrap();
    assert_eq!(rows[slot].state, RowState::Drained, "{rows:#?}");
    assert_eq!(
        rows[other].workers,
        Some(fleet.info.workers.len()),
        "{rows:#?}"
    );

    // What it owned is unowned now (until the other master's activity poll), never its.
    let after = schedulers_as_rest_says(&fleet, &fleet.buildbot(other));
    for row in after.iter().filter(|r| victims.contains(&r.name.as_str())) {
        assert_ne!(row.owner.as_deref(), Some(name.as_str()), "{after:#?}");
        assert_ne!(row.masterid, Some(masterid), "{after:#?}");
    }
}
