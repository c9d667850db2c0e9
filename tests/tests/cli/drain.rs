//! `bbctl drain master-2 --detach`, then `bbctl drain status master-2 -o json` until drained.

use std::collections::BTreeSet;
use std::time::Duration;

use bbctl_api::{DrainPhase, MasterInfo};
use bbctl_e2e::{Fleet, FleetOptions, wait_until};

use crate::rows::{DrainRow, MasterRow, RowState};
use crate::{bbctl, json_of};

/// Draining mutates the fleet for good: a fleet of its own (2 masters, 2 workers).
#[test]
fn drain_detach_then_status_tracks_it() {
    let fleet = Fleet::up(FleetOptions {
        masters: 2,
        standby: 0,
        workers: 2,
    })
    .unwrap();
    let agent = fleet.agent(1);
    let before: MasterInfo = agent.get("/v1/master").unwrap();
    let masterid = before.masterid.unwrap();

    let rows: Vec<DrainRow> = json_of(&bbctl(
        &fleet,
        &[
            "drain", "master-2", "--detach", "--reason", "e2e", "-o", "json",
        ],
    ));
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].master, "master-2");
    assert_eq!(rows[0].status.reason.as_deref(), Some("e2e"));
    let id = rows[0].status.id;

    let done = wait_until(
        "bbctl drain status master-2 to say drained",
        Duration::from_secs(90),
        || {
            let row: DrainRow = serde_json::from_slice(
                &bbctl(&fleet, &["drain", "status", "master-2", "-o", "json"]).stdout,
            )?;
            anyhow::ensure!(
                row.master == "master-2" && row.status.id == id,
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

    // The fleet agrees: master-2 inactive and stopped, every worker on master-1.
    let masters = fleet.buildbot(0).list("masters", "masters").unwrap();
    assert!(
        masters
            .iter()
            .any(|m| m["masterid"] == masterid && m["active"] == false),
        "{masters:?}"
    );
    let rows: Vec<MasterRow> =
        serde_json::from_slice(&bbctl(&fleet, &["masters", "list", "-o", "json"]).stdout).unwrap();
    assert_eq!(rows[1].state, RowState::Drained, "{rows:#?}");
    assert_eq!(rows[0].workers, Some(fleet.info.workers.len()), "{rows:#?}");
}
