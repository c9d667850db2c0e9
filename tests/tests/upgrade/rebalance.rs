//! Issue 16, worker rebalancing on a real fleet: a blue-green upgrade of one master onto one
//! standby slot leaves every worker on the new master; a second master started after it has
//! none. `bbctl workers rebalance` evens them out while builds run: busy workers are never
//! moved, every build request ends SUCCESS exactly once, and Buildbot agrees with the result.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bbctl_e2e::{Fleet, FleetOptions, output_text, wait_until};
use serde::Deserialize;

use super::support::*;

/// `workers rebalance -o json` (docs/cli.md, RebalanceReport): what this test reads.
#[derive(Debug, Deserialize)]
struct Report {
    moves: Vec<Move>,
    after: Vec<Balance>,
}

#[derive(Debug, Deserialize)]
struct Move {
    worker: String,
    from: String,
    landed: Option<String>,
    outcome: String,
}

#[derive(Debug, Deserialize)]
struct Balance {
    master: String,
    workers: Option<usize>,
    target: Option<usize>,
}

/// Buildbot's view: worker name → the master ids it is connected to.
fn attached(fleet: &Fleet) -> BTreeMap<String, Vec<i64>> {
    any_live(fleet)
        .list("workers", "workers")
        .unwrap()
        .into_iter()
        .map(|w| {
            let on = w["connected_to"]
                .as_array()
                .map(|a| a.iter().filter_map(|c| c["masterid"].as_i64()).collect())
                .unwrap_or_default();
            (w["name"].as_str().unwrap().to_owned(), on)
        })
        .collect()
}

fn masterid(fleet: &Fleet, slot: usize) -> i64 {
    let info: bbctl_api::MasterInfo = fleet.agent(slot).get("/v1/master").unwrap();
    info.masterid.unwrap()
}

#[test]
fn rebalance_after_a_blue_green_upgrade_evens_workers_and_never_moves_a_busy_one() {
    let _serial = bbctl_e2e::serial();
    let fleet = Fleet::up(FleetOptions {
        masters: 1,
        standby: 2,
        workers: 6,
    })
    .unwrap();
    let v2 = fleet.info.master_cfg.with_file_name("master-v2.cfg");
    let out = fleet.bbctl(&[
        "upgrade",
        "--new-config",
        v2.to_str().unwrap(),
        "--yes",
        "--reason",
        "e2e rebalance",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    // Blue-green of one master onto one standby slot: master-2 has every worker.
    let m2 = masterid(&fleet, 1);
    wait_workers_on(
        &any_live(&fleet),
        &BTreeSet::from([m2]),
        "master-2",
        Duration::from_secs(120),
    );
    let out = fleet.bbctl(&["start", "master-3", "--reason", "e2e: capacity back"]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let m3 = masterid(&fleet, 2);
    wait_until("master-3 UP at HAProxy", Duration::from_secs(60), || {
        let up = fleet.status()?.masters[2].lb_server.as_deref() == Some("UP");
        Ok(up.then_some(()))
    })
    .unwrap();

    // Two builds run on master-2 while it is rebalanced: their workers must stay.
    let requests: Vec<i64> = (0..2)
        .map(|_| force_anywhere(&fleet, "sleep", 25))
        .collect();
    wait_started(&fleet, &requests);
    let rest = any_live(&fleet);
    let busy: BTreeSet<String> = requests
        .iter()
        .flat_map(|r| {
            rest.list(&format!("builds?buildrequestid={r}"), "builds")
                .unwrap()
        })
        .filter_map(|b| b["workerid"].as_i64())
        .map(|wid| {
            rest.list(&format!("workers/{wid}"), "workers").unwrap()[0]["name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(busy.len(), 2, "two workers run the builds");

    let out = fleet.bbctl(&["workers", "rebalance", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let report: Report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", output_text(&out)));
    assert_eq!(report.moves.len(), 3, "{report:#?}");
    for m in &report.moves {
        assert_eq!(m.outcome, "moved", "{report:#?}");
        assert_eq!(m.from, "master-2", "{report:#?}");
        assert_eq!(m.landed.as_deref(), Some("master-3"), "{report:#?}");
        assert!(
            !busy.contains(&m.worker),
            "a busy worker moved: {report:#?}"
        );
    }
    let balance: Vec<(&str, Option<usize>, Option<usize>)> = report
        .after
        .iter()
        .map(|b| (b.master.as_str(), b.workers, b.target))
        .collect();
    assert!(
        balance.contains(&("master-2", Some(3), Some(3)))
            && balance.contains(&("master-3", Some(3), Some(3))),
        "{report:#?}"
    );

    // Buildbot agrees: three on each, the busy ones still on master-2, each attached once.
    let on = wait_until("Buildbot to show 3 and 3", Duration::from_secs(30), || {
        let on = attached(&fleet);
        let count = |m| on.values().filter(|ids| ids.as_slice() == [m]).count();
        Ok((count(m2) == 3 && count(m3) == 3).then_some(on))
    })
    .unwrap();
    for name in &busy {
        assert_eq!(on[name], [m2], "{on:?}");
    }
    assert_success_once(&fleet, &requests);
    // Balanced now: a second run plans nothing.
    let out = fleet.bbctl(&["workers", "rebalance", "--dry-run", "-o", "json"]);
    let again: Report = serde_json::from_slice(&out.stdout).unwrap();
    assert!(again.moves.is_empty(), "{again:#?}");
}
