//! Topology while builds run: every agent's `/v1/master` and `/v1/fleet` against its master's
//! REST API (`/api/v2/masters`, `/api/v2/workers`, `/api/v2/builds?complete=false`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::time::Duration;

use bbctl_api::{FleetView, MasterInfo, MasterState};
use bbctl_e2e::agent_client::AgentClient;
use bbctl_e2e::{Fleet, shared_fleet, wait_until};
use serde_json::Value;

use crate::{BUILD_TIMEOUT, agents, ids};

/// Worker name → the masters it is connected to, from `/api/v2/workers`.
fn rest_connections(workers: &[Value]) -> BTreeMap<String, BTreeSet<i64>> {
    workers
        .iter()
        .map(|w| {
            let to = w["connected_to"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            (w["name"].as_str().unwrap().to_owned(), ids(to, "masterid"))
        })
        .collect()
}

/// Every difference between agent `i`'s `/v1/master` + `/v1/fleet` and master `i`'s REST API,
/// plus forced builds not running yet. Empty = consistent; also returns the agent's view.
fn topology_mismatches(
    fleet: &Fleet,
    i: usize,
    agent: &AgentClient,
    forced: &[i64],
) -> anyhow::Result<(Vec<String>, MasterInfo)> {
    let info: MasterInfo = agent.get("/v1/master")?;
    let view: FleetView = agent.get("/v1/fleet")?;
    let bb = fleet.buildbot(i);
    let masters = bb.list("masters", "masters")?;
    let workers = bb.list("workers", "workers")?;
    let builds = bb.list("builds?complete=false", "builds")?;
    let mut out = Vec::new();
    let mut differ = |what: &str, agent: String, rest: String| {
        if agent != rest {
            out.push(format!("{what}: agent {agent} != REST {rest}"));
        }
    };

    // This master: identified in REST by its basedir (Buildbot names it `host:basedir`).
    let suffix = format!(":{}", fleet.info.masters[i].basedir.display());
    let row = masters
        .iter()
        .find(|m| m["name"].as_str().is_some_and(|n| n.ends_with(&suffix)))
        .ok_or_else(|| anyhow::anyhow!("no master named *{suffix} in {masters:?}"))?;
    let masterid = row["masterid"].as_i64().unwrap();
    differ(
        "buildbot_name",
        format!("{:?}", info.buildbot_name),
        format!("{:?}", row["name"].as_str()),
    );
    differ(
        "masterid",
        format!("{:?}", info.masterid),
        format!("{:?}", Some(masterid)),
    );
    differ(
        "active",
        format!("{:?}", info.active),
        format!("{:?}", row["active"].as_bool()),
    );

    // Its workers and the builds each runs.
    let builds_of_worker = |workerid: i64| -> BTreeSet<i64> {
        builds
            .iter()
            .filter(|b| b["workerid"] == workerid)
            .filter_map(|b| b["buildid"].as_i64())
            .collect()
    };
    let rest_attached: BTreeMap<String, BTreeSet<i64>> = workers
        .iter()
        .filter(|w| {
            rest_connections(std::slice::from_ref(w))
                .values()
                .any(|m| m.contains(&masterid))
        })
        .map(|w| {
            (
                w["name"].as_str().unwrap().to_owned(),
                builds_of_worker(w["workerid"].as_i64().unwrap()),
            )
        })
        .collect();
    let agent_attached: BTreeMap<String, BTreeSet<i64>> = info
        .workers
        .iter()
        .map(|w| (w.name.clone(), w.builds.iter().copied().collect()))
        .collect();
    differ(
        "workers (name → builds)",
        format!("{agent_attached:?}"),
        format!("{rest_attached:?}"),
    );

    // Its running builds: buildid → (builder, worker).
    let rest_running: BTreeMap<i64, (i64, Option<i64>)> = builds
        .iter()
        .filter(|b| b["masterid"] == masterid)
        .map(|b| {
            (
                b["buildid"].as_i64().unwrap(),
                (b["builderid"].as_i64().unwrap(), b["workerid"].as_i64()),
            )
        })
        .collect();
    let agent_running: BTreeMap<i64, (i64, Option<i64>)> = info
        .builds
        .iter()
        .map(|b| (b.buildid, (b.builderid, b.workerid)))
        .collect();
    differ(
        "running builds",
        format!("{agent_running:?}"),
        format!("{rest_running:?}"),
    );

    // The fleet as this agent sees it.
    let rest_masters: BTreeSet<(i64, String, bool)> = masters
        .iter()
        .map(|m| {
            (
                m["masterid"].as_i64().unwrap(),
                m["name"].as_str().unwrap().to_owned(),
                m["active"] == true,
            )
        })
        .collect();
    let fleet_masters: BTreeSet<(i64, String, bool)> = view
        .masters
        .iter()
        .map(|m| (m.masterid, m.name.clone(), m.active))
        .collect();
    differ(
        "fleet masters",
        format!("{fleet_masters:?}"),
        format!("{rest_masters:?}"),
    );
    let fleet_workers: BTreeMap<String, BTreeSet<i64>> = view
        .workers
        .iter()
        .map(|w| (w.name.clone(), w.connected_to.iter().copied().collect()))
        .collect();
    differ(
        "fleet workers (name → connected_to)",
        format!("{fleet_workers:?}"),
        format!("{:?}", rest_connections(&workers)),
    );
    let fleet_builds: BTreeSet<i64> = view.builds.iter().map(|b| b.buildid).collect();
    differ(
        "fleet running builds",
        format!("{fleet_builds:?}"),
        format!("{:?}", ids(&builds, "buildid")),
    );

    let running_requests = ids(&builds, "buildrequestid");
    for r in forced.iter().filter(|r| !running_requests.contains(r)) {
        out.push(format!("forced build request {r} has no running build yet"));
    }
    Ok((out, info))
}

#[test]
fn topology_matches_buildbot_while_builds_run() {
    let fleet = shared_fleet();
    let agents = agents(fleet);
    // Three 10 s builds, forced through different masters; the fleet has four workers.
    let forced: Vec<i64> = (0..3)
        .map(|i| {
            fleet
                .buildbot(i)
                .force("sleep", &[("duration", "10")])
                .unwrap()
                .buildrequestid
        })
        .collect();

    // The agent's and Buildbot's reads are not atomic: poll until one round agrees everywhere.
    let mut last = Vec::new();
    let views = wait_until(
        "every agent's topology to match REST",
        Duration::from_secs(20),
        || {
            let mut views = Vec::new();
            last.clear();
            for (i, agent) in agents.iter().enumerate() {
                let (problems, info) = topology_mismatches(fleet, i, agent, &forced)?;
                last.extend(
                    problems
                        .into_iter()
                        .map(|p| format!("{}: {p}", info.agent_name)),
                );
                views.push(info);
            }
            Ok(last.is_empty().then_some(views))
        },
    )
    .unwrap_or_else(|e| panic!("{e:#}\nlast differences:\n{}", last.join("\n")));

    for (i, info) in views.iter().enumerate() {
        assert_eq!(info.agent_name, fleet.info.masters[i].name);
        assert_eq!(info.state, MasterState::Running, "{info:#?}");
        assert_eq!(info.active, Some(true), "{info:#?}");
        let pidfile = fleet.info.masters[i].basedir.join("twistd.pid");
        let pid: u32 = fs::read_to_string(pidfile).unwrap().trim().parse().unwrap();
        assert_eq!(info.process.pid, Some(pid), "{info:#?}");
        assert!(
            info.process.running && info.problems.is_empty(),
            "{info:#?}"
        );
    }
    // The per-master views partition the fleet: every worker on exactly one master, every
    // running build (our three at least) on exactly one.
    let attached: Vec<&str> = views
        .iter()
        .flat_map(|v| v.workers.iter().map(|w| w.name.as_str()))
        .collect();
    assert_eq!(attached.len(), fleet.info.workers.len(), "{attached:?}");
    assert_eq!(
        attached.iter().collect::<BTreeSet<_>>().len(),
        attached.len(),
        "{attached:?}"
    );
    let running: Vec<i64> = views
        .iter()
        .flat_map(|v| v.builds.iter().map(|b| b.buildid))
        .collect();
    assert!(running.len() >= forced.len(), "{running:?}");
    assert_eq!(
        running.iter().collect::<BTreeSet<_>>().len(),
        running.len(),
        "{running:?}"
    );

    // Leave the shared fleet idle.
    for r in forced {
        let outcome = fleet.buildbot(0).wait_complete(r, BUILD_TIMEOUT).unwrap();
        assert_eq!(outcome.results, 0, "{outcome:#?}");
    }
}
