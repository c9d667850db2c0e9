//! Fault 9: PostgreSQL restarts (`pg_ctl restart -m fast`) while a drain runs. The drain treats
//! the REST errors of the outage as transient (retried every tick) and completes; no build lost.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bbctl_api::DrainPhase;
use bbctl_e2e::Fleet;
use serde_json::json;

use crate::common::assert_nothing_left;
use crate::support::*;

fn pg_restart(fleet: &Fleet) {
    let datadir = fleet.info.postgres.datadir.to_str().unwrap().to_owned();
    let mut cmd = if nix_is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", "pg_ctl"]);
        c
    } else {
        Command::new("pg_ctl")
    };
    let ok = cmd
        .args(["restart", "-D", &datadir, "-m", "fast", "-w", "-t", "60"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "pg_ctl restart");
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

pub fn postgres_restarts_mid_drain(fleet: &Fleet, i: usize) {
    let bb = fleet.buildbot(2);
    let mid = masterid(fleet, &bb, i);
    let busy = force_on(&bb, mid, "sleep", &[("duration", "8")]);
    let agent = agent(fleet, i);
    start_drain(&agent, json!({"reason": "fault 9"}));
    std::thread::sleep(Duration::from_secs(1));
    let t0 = Instant::now();
    pg_restart(fleet);
    eprintln!("fault 9: pg_ctl restart took {:?}", t0.elapsed());
    let done = wait_phase(&agent, DrainPhase::Drained, Duration::from_secs(120));
    eprintln!(
        "fault 9: drained {:?} after the restart: {:?}",
        t0.elapsed(),
        done.message
    );
    let outcome = bb
        .wait_complete(busy.buildrequestid, BUILD_TIMEOUT)
        .unwrap();
    eprintln!(
        "fault 9: busy build results {:?}",
        outcome
            .builds
            .iter()
            .map(|b| b["results"].clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(outcome.results, 0, "{outcome:#?}");
    let f = bb.force("sleep", &[("duration", "1")]).unwrap();
    assert_clean_success(&bb, f);
    assert_nothing_left(&bb, mid);
}
