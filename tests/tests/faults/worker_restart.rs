//! Fault 11: a worker process is SIGKILLed and started again while the drain hands it off. The
//! drain neither hangs nor fails; the worker ends attached to another master, unpaused.

use std::time::{Duration, Instant};

use bbctl_api::DrainPhase;
use bbctl_e2e::{Fleet, wait_until};
use serde_json::json;

use crate::common::{assert_nothing_left, restart_worker};
use crate::support::*;

pub fn worker_restarts_mid_handoff(fleet: &Fleet, i: usize) {
    let rest = 2;
    let bb = fleet.buildbot(rest);
    let mid = masterid(fleet, &bb, i);
    let busy = force_on(&bb, mid, "sleep", &[("duration", "6")]);
    let running: Vec<i64> = bb
        .list(
            &format!("builds?buildrequestid={}", busy.buildrequestid),
            "builds",
        )
        .unwrap()
        .iter()
        .filter_map(|b| b["workerid"].as_i64())
        .collect();
    // An idle worker of this master: the one the drain hands off at once.
    let victim = workers(&bb)
        .into_iter()
        .find(|w| {
            connected_to(w).contains(&mid) && !running.contains(&w["workerid"].as_i64().unwrap())
        })
        .map(|w| w["name"].as_str().unwrap().to_owned());
    let Some(victim) = victim else {
        panic!("no idle worker on master {mid}: {:#?}", workers(&bb));
    };
    let wslot = fleet
        .info
        .workers
        .iter()
        .find(|w| w.name == victim)
        .unwrap();
    let agent = agent(fleet, i);
    let t0 = Instant::now();
    start_drain(&agent, json!({"reason": "fault 11"}));
    std::thread::sleep(Duration::from_millis(150));
    let ok = restart_worker(fleet, &wslot.basedir);
    assert!(ok, "buildbot-worker start");

    let done = wait_phase(&agent, DrainPhase::Drained, Duration::from_secs(120));
    eprintln!(
        "fault 11: drained in {:?}: {:?}",
        t0.elapsed(),
        done.message
    );
    assert_clean_success(&bb, busy);
    let on = wait_until(
        &format!("{victim} attached to another master"),
        Duration::from_secs(60),
        || {
            let w = workers(&bb)
                .into_iter()
                .find(|w| w["name"].as_str() == Some(victim.as_str()))
                .unwrap();
            let to = connected_to(&w);
            Ok((!to.is_empty() && !to.contains(&mid)).then_some(to))
        },
    )
    .unwrap();
    eprintln!(
        "fault 11: {victim} on {on:?} {:?} after the drain started",
        t0.elapsed()
    );
    assert_nothing_left(&bb, mid);
    let f = bb.force("sleep", &[("duration", "1")]).unwrap();
    assert_clean_success(&bb, f);
}
