//! Fault 9: PostgreSQL goes away in the middle of a drain and stays away across many drain ticks
//! (a tick is 250 ms), then comes back. The test first proves the outage reached the drain: the
//! agent reports "step failed, retrying" (an `agent.drain` event and an audit entry) while
//! PostgreSQL is down, and over the following ticks the drain does not move on — it stays
//! `draining` and the master keeps running its build. Then, with PostgreSQL back, the drain
//! completes and nothing is lost: the build running on the draining master and one running on
//! another master through the outage each ran exactly once and ended SUCCESS, a build forced
//! afterwards too, no worker is left paused, no request is claimed by the stopped master.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bbctl_api::{AuditEntry, DrainPhase, DrainStatus};
use bbctl_e2e::{Fleet, pid_alive, wait_until};
use serde_json::json;

use crate::common::assert_nothing_left;
use crate::support::*;

/// A drain tick (`server/src/drain/mod.rs` `TICK`).
const TICK: Duration = Duration::from_millis(250);
/// How many ticks PostgreSQL stays down after the drain reported the outage.
const TICKS_DOWN: u32 = 12;

/// `pg_ctl ARGS` with the fleet's binaries, as `postgres` when we are root (as scripts/fleet
/// runs it).
fn pg_ctl(fleet: &Fleet, args: &[&str]) {
    let pg = &fleet.info.postgres;
    let exe = pg.bindir.join("pg_ctl");
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    let out = cmd
        .args(args)
        .arg("-D")
        .arg(&pg.datadir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pg_ctl {args:?}: {}",
        bbctl_e2e::output_text(&out)
    );
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

pub(crate) fn pg_stop(fleet: &Fleet) {
    pg_ctl(fleet, &["stop", "-m", "fast", "-w", "-t", "60"]);
}

pub(crate) fn pg_start(fleet: &Fleet) {
    let log = fleet.info.postgres.log.to_str().unwrap().to_owned();
    pg_ctl(fleet, &["start", "-l", &log, "-w", "-t", "60"]);
}

/// The master request `f`'s build runs on, once it has started.
fn started_on(bb: &bbctl_e2e::Buildbot, f: bbctl_e2e::ForcedBuild) -> i64 {
    wait_until(
        &format!("build request {} to start", f.buildrequestid),
        Duration::from_secs(30),
        || {
            let builds = bb.list(
                &format!("builds?buildrequestid={}", f.buildrequestid),
                "builds",
            )?;
            Ok(builds.first().and_then(|b| b["masterid"].as_i64()))
        },
    )
    .unwrap()
}

/// Waits until request `f`'s build is in the middle of its `sleep` step, past the DB writes of
/// its start (the step started, its stdio log has its header): Buildbot 4.3 leaves a build whose
/// start-up write fails hanging for good ("from a running build; this is a serious error"), so
/// the outage must begin while the build writes nothing.
pub(crate) fn wait_mid_step(bb: &bbctl_e2e::Buildbot, f: bbctl_e2e::ForcedBuild) {
    wait_until(
        &format!("build request {} in its sleep step", f.buildrequestid),
        Duration::from_secs(60),
        || {
            let builds = bb.list(
                &format!("builds?buildrequestid={}", f.buildrequestid),
                "builds",
            )?;
            let Some(id) = builds.first().and_then(|b| b["buildid"].as_i64()) else {
                return Ok(None);
            };
            let steps = bb.list(&format!("builds/{id}/steps"), "steps")?;
            let Some(step) = steps
                .iter()
                .find(|s| s["name"] == "sleep" && !s["started_at"].is_null())
            else {
                return Ok(None);
            };
            let stepid = step["stepid"].as_i64().unwrap_or_default();
            let logs = bb.list(&format!("steps/{stepid}/logs"), "logs")?;
            Ok(logs
                .iter()
                .any(|l| l["num_lines"].as_i64().unwrap_or(0) > 0)
                .then_some(()))
        },
    )
    .unwrap();
}

pub fn postgres_down_mid_drain(fleet: &Fleet, i: usize) {
    let bb = fleet.buildbot(2);
    let mid = masterid(fleet, &bb, i);
    let master_pid = twistd_pid(&fleet.info.masters[i].basedir).unwrap();
    // Long enough to outlast the outage: the drain must wait for it.
    let busy = force_on(&bb, mid, "sleep", &[("duration", "30")]);
    let here = workers_on(&bb, mid);
    let agent = agent(fleet, i);
    let mut events = agent.events().unwrap();
    start_drain(&agent, json!({"reason": "fault 9"}));
    wait_workers_held(&bb, mid, &here);
    // A build on another master that runs through the outage too.
    let other = bb.force("sleep", &[("duration", "20")]).unwrap();
    let other_master = started_on(&bb, other);
    assert_ne!(other_master, mid, "a build forced mid-drain ran elsewhere");
    wait_mid_step(&bb, busy);
    wait_mid_step(&bb, other);
    let before: DrainStatus = agent.get("/v1/drain").unwrap();
    assert_eq!(before.phase, DrainPhase::Draining, "{before:#?}");
    assert!(before.builds_running >= 1, "{before:#?}");

    let t0 = Instant::now();
    pg_stop(fleet);
    eprintln!("fault 9: PostgreSQL stopped in {:?}", t0.elapsed());
    // The outage reaches the drain: its next tick fails and says so.
    let failed = events
        .wait_for(
            "the drain to report a failed step",
            Duration::from_secs(60),
            |e| e.kind == "agent.drain" && e.summary.contains("step failed, retrying"),
        )
        .unwrap_or_else(|e| {
            pg_start(fleet);
            panic!("{e:#}")
        });
    eprintln!(
        "fault 9: {:?} after the stop: {}",
        t0.elapsed(),
        failed.event.summary
    );
    // Buildbot itself cannot answer from its DB meanwhile.
    let rest = bb.list("builds?complete=false", "builds");
    let rest = rest.map(|rows| rows.len()).map_err(|e| format!("{e:#}"));
    eprintln!("fault 9: Buildbot REST during the outage: {rest:?}");
    assert!(rest.is_err(), "Buildbot answered from its DB: {rest:?}");
    // And the drain does not move on while it cannot see: it stays `draining` and the master
    // keeps running, tick after tick.
    let mut stuck = Vec::new();
    for _ in 0..TICKS_DOWN {
        std::thread::sleep(TICK);
        let now: DrainStatus = agent.get("/v1/drain").unwrap();
        stuck.push((now.phase, pid_alive(master_pid)));
    }
    let down_for = t0.elapsed();
    pg_start(fleet);
    eprintln!("fault 9: PostgreSQL back after {down_for:?}");
    assert!(
        stuck
            .iter()
            .all(|(phase, alive)| *phase == DrainPhase::Draining && *alive),
        "the drain moved on while PostgreSQL was down: {stuck:?}"
    );
    let done = wait_phase(&agent, DrainPhase::Drained, Duration::from_secs(180));
    eprintln!(
        "fault 9: drained {:?} after the stop: {:?}",
        t0.elapsed(),
        done.message
    );
    assert!(
        done.builds_finished >= 1 && done.builds_requeued == 0,
        "{done:#?}"
    );
    assert!(!pid_alive(master_pid), "the drained master is stopped");
    let audit: Vec<AuditEntry> = agent.get("/v1/audit?limit=1000").unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action == "drain" && a.detail.contains("step failed, retrying")),
        "the failed step is audited"
    );

    // Nothing lost: each forced request ran exactly once and succeeded.
    let ran = assert_clean_success(&bb, busy);
    assert_eq!(ran[0]["masterid"].as_i64(), Some(mid), "{ran:#?}");
    let ran = assert_clean_success(&bb, other);
    assert_eq!(ran[0]["masterid"].as_i64(), Some(other_master), "{ran:#?}");
    let after = bb.force("sleep", &[("duration", "1")]).unwrap();
    assert_clean_success(&bb, after);
    assert_nothing_left(&bb, mid);
    assert_eq!(lb_server(fleet, i), "MAINT", "the drained master stays out");
}
