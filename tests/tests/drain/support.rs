//! Helpers of the drain tests: Buildbot reads and controls, placing a build on a chosen master,
//! and the agent's `/v1/drain` calls.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Child;
use std::time::Duration;

use anyhow::{Result, bail};
use bbctl_api::{DrainPhase, DrainStatus};
use bbctl_e2e::agent_client::AgentClient;
use bbctl_e2e::{Buildbot, Fleet, ForcedBuild, wait_until};
use serde_json::{Value, json};

pub const BUILD_TIMEOUT: Duration = Duration::from_secs(180);

pub use bbctl_e2e::serial;

/// The Buildbot id of slot `i`'s master.
pub fn masterid(fleet: &Fleet, bb: &Buildbot, i: usize) -> i64 {
    let suffix = format!(":{}", fleet.info.masters[i].basedir.display());
    let masters = bb.list("masters", "masters").unwrap();
    masters
        .iter()
        .find(|m| m["name"].as_str().is_some_and(|n| n.ends_with(&suffix)))
        .and_then(|m| m["masterid"].as_i64())
        .expect("the slot's master is in /api/v2/masters")
}

/// Every worker row.
pub fn workers(bb: &Buildbot) -> Vec<Value> {
    bb.list("workers", "workers").unwrap()
}

pub fn connected_to(w: &Value) -> Vec<i64> {
    w["connected_to"]
        .as_array()
        .map(|a| a.iter().filter_map(|m| m["masterid"].as_i64()).collect())
        .unwrap_or_default()
}

/// Names of the workers attached to `mid`.
pub fn workers_on(bb: &Buildbot, mid: i64) -> Vec<String> {
    workers(bb)
        .iter()
        .filter(|w| connected_to(w).contains(&mid))
        .map(|w| w["name"].as_str().unwrap().to_owned())
        .collect()
}

pub fn paused_workers(bb: &Buildbot) -> Vec<String> {
    workers(bb)
        .iter()
        .filter(|w| w["paused"].as_bool() == Some(true))
        .map(|w| w["name"].as_str().unwrap().to_owned())
        .collect()
}

pub fn set_paused(bb: &Buildbot, workerid: i64, paused: bool) {
    let method = if paused { "pause" } else { "unpause" };
    bb.control(
        &format!("workers/{workerid}"),
        method,
        json!({"reason": "e2e placement"}),
    )
    .unwrap();
}

/// Forces `builder` so that its build runs on master `mid`: every idle-capable worker elsewhere
/// is paused until the build has started there, then unpaused again.
pub fn force_on(bb: &Buildbot, mid: i64, builder: &str, props: &[(&str, &str)]) -> ForcedBuild {
    let others: Vec<i64> = workers(bb)
        .iter()
        .filter(|w| !connected_to(w).contains(&mid) && w["paused"].as_bool() != Some(true))
        .map(|w| w["workerid"].as_i64().unwrap())
        .collect();
    assert!(!workers_on(bb, mid).is_empty(), "no worker on master {mid}");
    placed(&format!("master {mid}"), || {
        let (forced, (on, _)) =
            force_with_others_paused(bb, &others, builder, props, Duration::from_secs(30));
        (forced, on == Some(mid))
    })
}

/// Tries `place` (a forced build and whether it started where the caller wants it) up to three
/// times: a master that has not yet processed a pause (it travels over the MQ, seconds on a
/// busy machine) may still start the build on a worker that was to be paused. A build placed
/// elsewhere is left to finish; it is not one the test follows.
pub fn placed(where_: &str, mut place: impl FnMut() -> (ForcedBuild, bool)) -> ForcedBuild {
    for attempt in 1..=3 {
        let (forced, ok) = place();
        if ok {
            return forced;
        }
        eprintln!(
            "build request {} did not start on {where_} (attempt {attempt}); forcing again",
            forced.buildrequestid
        );
    }
    panic!("the build did not start on {where_} in three attempts");
}

/// Forces `builder` with the workers `others` paused until its build has started, then
/// unpauses them; returns the request and where its build started (masterid, workerid).
pub fn force_with_others_paused(
    bb: &Buildbot,
    others: &[i64],
    builder: &str,
    props: &[(&str, &str)],
    timeout: Duration,
) -> (ForcedBuild, (Option<i64>, Option<i64>)) {
    for id in others {
        set_paused(bb, *id, true);
    }
    // The pause travels over the MQ to every master.
    std::thread::sleep(Duration::from_secs(2));
    let forced = bb.force(builder, props).unwrap();
    let started = wait_until(
        &format!("build request {} to start", forced.buildrequestid),
        timeout,
        || {
            let builds = bb.list(
                &format!("builds?buildrequestid={}", forced.buildrequestid),
                "builds",
            )?;
            Ok(builds
                .first()
                .map(|b| (b["masterid"].as_i64(), b["workerid"].as_i64())))
        },
    );
    for id in others {
        set_paused(bb, *id, false);
    }
    // Until Buildbot shows them unpaused, a next placement would take them for paused by
    // someone else and leave them out of its own pauses. Best effort: a drain may pause one of
    // them again meanwhile.
    let _ = wait_until(
        "the placement's pauses to be undone",
        Duration::from_secs(10),
        || {
            let rows = workers(bb);
            let still = rows.iter().any(|w| {
                w["paused"].as_bool() == Some(true)
                    && w["workerid"]
                        .as_i64()
                        .is_some_and(|id| others.contains(&id))
            });
            Ok((!still).then_some(()))
        },
    );
    (forced, started.unwrap())
}

/// A forced request ended SUCCESS with exactly one build (no RETRY, no CANCELLED).
pub fn assert_clean_success(bb: &Buildbot, f: ForcedBuild) -> Vec<Value> {
    let outcome = bb.wait_complete(f.buildrequestid, BUILD_TIMEOUT).unwrap();
    assert_eq!(outcome.results, 0, "{outcome:#?}");
    assert_eq!(outcome.builds.len(), 1, "a build was retried: {outcome:#?}");
    outcome.builds
}

pub fn agent(fleet: &Fleet, i: usize) -> AgentClient {
    fleet.agent(i)
}

/// `POST /v1/drain`: status code and status.
pub fn start_drain(agent: &AgentClient, body: Value) -> (u16, DrainStatus) {
    let (code, answer) = agent
        .request(reqwest::Method::POST, "/v1/drain", Some(&body))
        .unwrap();
    assert!(code == 200 || code == 202, "{code}: {answer}");
    (code, serde_json::from_value(answer).unwrap())
}

pub fn cancel_drain(agent: &AgentClient) -> (u16, Value) {
    agent
        .request(reqwest::Method::DELETE, "/v1/drain", None)
        .unwrap()
}

/// Polls `GET /v1/drain` until its phase is `phase` (fails at once on another final phase).
pub fn wait_phase(agent: &AgentClient, phase: DrainPhase, timeout: Duration) -> DrainStatus {
    wait_until(&format!("drain phase {phase:?}"), timeout, || {
        let s: DrainStatus = agent.get("/v1/drain")?;
        if s.phase == phase {
            return Ok(Some(s));
        }
        if matches!(
            s.phase,
            DrainPhase::Failed | DrainPhase::Cancelled | DrainPhase::Drained
        ) {
            bail!("the drain ended {:?}: {:?}", s.phase, s.message);
        }
        Ok(None)
    })
    .unwrap()
}

/// The PID in `<dir>/twistd.pid`.
pub fn twistd_pid(dir: &Path) -> Option<u32> {
    std::fs::read_to_string(dir.join("twistd.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Every worker's PID.
pub fn worker_pids(fleet: &Fleet) -> BTreeMap<String, u32> {
    fleet
        .info
        .workers
        .iter()
        .map(|w| (w.name.clone(), twistd_pid(&w.basedir).unwrap()))
        .collect()
}

/// HAProxy's view of slot `i`'s server (`UP`, `MAINT`, ...).
pub fn lb_server(fleet: &Fleet, i: usize) -> String {
    fleet.status().unwrap().masters[i]
        .lb_server
        .clone()
        .unwrap_or_default()
}

/// Waits until a drain of master `mid` holds every worker of `here` (those attached to it when it
/// started): each is paused or already gone from `mid`, so no new build can start there.
pub fn wait_workers_held(bb: &Buildbot, mid: i64, here: &[String]) {
    wait_until(
        &format!("the drain to pause or hand off {here:?}"),
        Duration::from_secs(30),
        || {
            let rows = bb.list("workers", "workers")?;
            let held = here.iter().all(|name| {
                rows.iter()
                    .find(|w| w["name"].as_str() == Some(name.as_str()))
                    .is_some_and(|w| {
                        w["paused"].as_bool() == Some(true) || !connected_to(w).contains(&mid)
                    })
            });
            Ok(held.then_some(()))
        },
    )
    .unwrap();
}

/// Every worker of `workers` was handed off: the drain saw it attached to another master, after
/// it became free (how long that took is a benchmark, scripts/bench-handoff; printed here only).
pub fn assert_handed_off(status: &DrainStatus, workers: &[String]) {
    for name in workers {
        let h = status
            .workers_handed_off
            .iter()
            .find(|h| &h.worker == name)
            .unwrap_or_else(|| panic!("{name} not handed off: {status:#?}"));
        let at = h
            .attached_elsewhere_at
            .unwrap_or_else(|| panic!("{name} never seen elsewhere: {status:#?}"));
        assert!(
            h.to_master.is_some(),
            "{name}: to which master? {status:#?}"
        );
        assert!(
            at >= h.free_at,
            "{name} attached elsewhere before it was free: {status:#?}"
        );
        eprintln!(
            "handoff {name}: {:.2} s to {:?} (not a bound)",
            at - h.free_at,
            h.to_master
        );
    }
}

/// An agent started again by the test (after a kill -9); killed when dropped.
pub struct Restarted(pub Child);

impl Drop for Restarted {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts slot `i`'s agent again (after a kill) with its recorded binary and config; its PID
/// goes into fleet.json.
pub fn restart_agent(fleet: &Fleet, i: usize) -> Result<Restarted> {
    Ok(Restarted(fleet.start_agent(i, &[])?))
}
