//! Fault 8: the WAMP router restarts while a build runs. Buildbot masters that lost it stop their
//! services but keep their process: each agent reports "lost the message queue (restart needed)"
//! in `GET /v1/master` `problems` and `/readyz`; the agents' event streams fall back to polling
//! and return to WAMP with the router. Restarting each master (the operator's part: SIGKILL, then
//! `POST /v1/master/start`, from the same basedir) brings the fleet back, and the build that was
//! in flight is not lost: its request ends RETRY (the cut build) then SUCCESS, once.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bbctl_api::{MasterInfo, OperationResult};
use bbctl_e2e::agent_client::AgentClient;
use bbctl_e2e::{Fleet, pid_alive, wait_until};
use serde_json::{Value, json};

use crate::common::{assert_success_after_retries, kill};
use crate::support::*;

const LOST: &str = "lost the message queue (restart needed)";

fn event_source(a: &AgentClient) -> String {
    a.open_get("/healthz").map_or_else(
        |_| String::new(),
        |(_, h)| h["event_source"].as_str().unwrap_or("").to_owned(),
    )
}

fn wait_source(a: &AgentClient, want: &str, timeout: Duration) {
    wait_until(&format!("event source {want}"), timeout, || {
        Ok((event_source(a) == want).then_some(()))
    })
    .unwrap();
}

/// Starts crossbar again from the fleet's config and records its PID in fleet.json (so that
/// `scripts/fleet down` stops it).
fn start_router(fleet: &Fleet) -> u32 {
    let cbdir = fleet.dir().join("crossbar");
    let home = std::env::var("HOME").unwrap();
    let exe = Path::new(&home).join(".cache/bbctl/crossbar/bin/crossbar");
    // A daemon of its own (`setsid … &` in a shell that exits): not our child, and `$!` is it.
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"cd "$2" && setsid "$1" start --cbdir "$2" --loglevel info </dev/null >>"$3" 2>&1 & echo $!"#)
        .arg("sh")
        .arg(exe)
        .arg(&cbdir)
        .arg(&fleet.info.router.log)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let pid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let path = fleet.dir().join("fleet.json");
    let mut info: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    info["router"]["pid"] = json!(pid);
    std::fs::write(&path, serde_json::to_string_pretty(&info).unwrap()).unwrap();
    pid
}

pub fn router_restarts(fleet: &Fleet) {
    let agents: Vec<AgentClient> = (0..fleet.info.masters.len())
        .map(|i| agent(fleet, i))
        .collect();
    for a in &agents {
        wait_source(a, "wamp", Duration::from_secs(30));
    }
    // A build in flight when the router goes: long enough that it cannot end by itself before
    // the masters are restarted.
    let bb = fleet.buildbot(0);
    let inflight = bb.force("sleep", &[("duration", "45")]).unwrap();
    let cut = wait_until("the build to start", Duration::from_secs(30), || {
        let builds = bb.list(
            &format!("builds?buildrequestid={}", inflight.buildrequestid),
            "builds",
        )?;
        Ok(builds.into_iter().next())
    })
    .unwrap();
    // In its step, not merely created: a build still preparing its worker when the master
    // stops its services ends CANCELLED ("Master Shutdown"), not RETRY, and is not run again.
    crate::postgres_restart::wait_mid_step(&bb, inflight);
    let t0 = Instant::now();
    let killed_at = bbctl_e2e::agent_client::epoch_now();
    let router = fleet.info.router.pid;
    kill(router, "TERM");
    if wait_until("crossbar to stop", Duration::from_secs(20), || {
        Ok((!pid_alive(router)).then_some(()))
    })
    .is_err()
    {
        kill(router, "KILL");
    }
    for a in &agents {
        let info: MasterInfo =
            wait_until("the lost queue reported", Duration::from_secs(60), || {
                let info: MasterInfo = a.get("/v1/master")?;
                Ok(info
                    .problems
                    .iter()
                    .any(|p| p.contains(LOST))
                    .then_some(info))
            })
            .unwrap();
        assert!(info.process.running, "the process stays alive: {info:#?}");
        let (code, health) = a.open_get("/readyz").unwrap();
        assert_eq!(code, 503, "{health}");
        assert!(
            health["reasons"][0].as_str().unwrap().contains(LOST),
            "{health}"
        );
        wait_source(a, "polling", Duration::from_secs(30));
    }
    eprintln!(
        "fault 8: reported by every agent {:?} after the router stopped",
        t0.elapsed()
    );

    let new_router = start_router(fleet);
    for a in &agents {
        wait_source(a, "wamp", Duration::from_secs(60));
    }
    eprintln!(
        "fault 8: event streams back on wamp {:?} after",
        t0.elapsed()
    );
    assert!(pid_alive(new_router));
    // The masters do not rejoin by themselves: restart needed (they ignore SIGTERM now).
    for (i, a) in agents.iter().enumerate() {
        let info: MasterInfo = a.get("/v1/master").unwrap();
        assert!(info.problems.iter().any(|p| p.contains(LOST)), "{info:#?}");
        kill(twistd_pid(&fleet.info.masters[i].basedir).unwrap(), "KILL");
        let started: OperationResult = a
            .post(
                "/v1/master/start",
                &json!({"reason": "fault 8: lost the MQ"}),
            )
            .unwrap();
        assert!(started.ok, "{started:#?}");
    }
    for a in &agents {
        wait_until("ready again", Duration::from_secs(60), || {
            Ok((a.open_get("/readyz")?.0 == 200).then_some(()))
        })
        .unwrap();
    }
    wait_until("every worker reconnected", Duration::from_secs(60), || {
        Ok(workers(&bb)
            .iter()
            .all(|w| !connected_to(w).is_empty())
            .then_some(()))
    })
    .unwrap();
    let f = bb.force("sleep", &[("duration", "1")]).unwrap();
    assert_clean_success(&bb, f);
    // The build in flight during the loss: cut (RETRY, ended after the router stopped), then
    // run again to SUCCESS — once. Or Buildbot's own race (docs/faults.md, fault 8): the master
    // that lost the router stops the build for a retry, but its step's interrupt can end first,
    // and the build, then its request, end CANCELLED — never run twice.
    let outcome = bb
        .wait_complete(inflight.buildrequestid, Duration::from_secs(300))
        .unwrap();
    if outcome.results == 6 {
        assert_eq!(outcome.builds.len(), 1, "{outcome:#?}");
        let state = outcome.builds[0]["state_string"].as_str().unwrap_or("");
        assert!(state.contains("cancelled"), "{outcome:#?}");
        let shut_down = fleet.info.masters.iter().any(|m| {
            std::fs::read_to_string(m.basedir.join("twistd.log"))
                .is_ok_and(|log| log.contains("stopping build: Master Shutdown"))
        });
        assert!(
            shut_down,
            "cancelled by a master's shutdown, not by anything else"
        );
        assert_eq!(outcome.builds[0]["buildid"], cut["buildid"], "{outcome:#?}");
        eprintln!("fault 8: the build in flight ended CANCELLED by Buildbot's shutdown race");
        assert!(paused_workers(&bb).is_empty());
        return;
    }
    let builds = assert_success_after_retries(&bb, inflight.buildrequestid, 1);
    assert_eq!(builds[0]["buildid"], cut["buildid"], "{builds:#?}");
    let cut_at = builds[0]["complete_at"].as_f64().unwrap();
    assert!(
        cut_at >= killed_at.floor(),
        "the first build ended before the router stopped: {builds:#?}"
    );
    assert!(paused_workers(&bb).is_empty());
    eprintln!(
        "fault 8: fleet serving again {:?} after the router stopped",
        t0.elapsed()
    );
}
