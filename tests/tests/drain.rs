//! Issue 4 acceptance: the server-side drain on real fleets (3 masters, 4 workers), with the
//! `haproxy` hook and with the `relay` hook. Each test owns its fleet (drains stop masters) and
//! the tests run one at a time.
//!
//! What is asserted after `drained`: the drained master's HAProxy server stays in MAINT (its
//! master is gone; bringing it back is the operator's `start`, which does not touch routing),
//! every other server is UP, no worker is left paused.

#[path = "drain/support.rs"]
mod support;

#[path = "drain/cordon.rs"]
mod cordon;

use std::process::Command;
use std::time::{Duration, Instant};

use bbctl_api::DrainPhase;
use bbctl_e2e::{Fleet, FleetOptions, pid_alive, wait_until};
use serde_json::json;
use support::*;

/// Drains slot `i` while a parent build (waiting on its child) runs there; new builds forced
/// during the drain must run elsewhere. Asserts the acceptance criteria; returns nothing.
fn full_drain(fleet: &Fleet, i: usize, rest: usize, check_parent: bool) {
    let bb = fleet.buildbot(rest);
    let mid = masterid(fleet, &bb, i);
    let master_pid = twistd_pid(&fleet.info.masters[i].basedir).unwrap();
    let pids = worker_pids(fleet);
    let busy = if check_parent {
        force_on(
            &bb,
            mid,
            "parent",
            &[("duration", "6"), ("child_duration", "8")],
        )
    } else {
        force_on(&bb, mid, "sleep", &[("duration", "10")])
    };
    let here = workers_on(&bb, mid);
    let agent = agent(fleet, i);
    let t0 = Instant::now();
    let (code, st) = start_drain(
        &agent,
        json!({"reason": "e2e full drain", "requested_by": "e2e@test"}),
    );
    assert_eq!((code, st.phase), (202, DrainPhase::Draining), "{st:#?}");
    let (again, st2) = start_drain(&agent, json!({}));
    assert_eq!(
        (again, st2.id),
        (200, st.id),
        "a second POST returns the drain"
    );
    let (code, health) = agent.open_get("/readyz").unwrap();
    assert_eq!((code, health["status"].as_str()), (503, Some("draining")));

    // New builds forced during the drain (once it has paused this master's workers) run on
    // the other masters.
    wait_workers_held(&bb, mid, &here);
    let during: Vec<_> = (0..2)
        .map(|_| bb.force("sleep", &[("duration", "3")]).unwrap())
        .collect();

    let done = wait_phase(&agent, DrainPhase::Drained, Duration::from_secs(120));
    eprintln!("drained in {:?}: {:?}", t0.elapsed(), done.message);
    assert!(!pid_alive(master_pid), "the master process is gone");
    assert_clean_success(&bb, busy);
    for f in during {
        for b in assert_clean_success(&bb, f) {
            assert_ne!(b["masterid"].as_i64(), Some(mid), "{b:#}");
        }
    }
    assert!(
        done.builds_finished >= 1 && done.builds_requeued == 0,
        "{done:#?}"
    );
    assert_eq!(done.requested_by.as_deref(), Some("e2e@test"));
    // Handed off, as the drain saw it and as Buildbot sees it: on another master now.
    assert_handed_off(&done, &here);
    wait_until(
        "the handed-off workers on other masters",
        Duration::from_secs(60),
        || {
            let moved = workers(&bb).iter().all(|w| {
                let to = connected_to(w);
                !here.contains(&w["name"].as_str().unwrap_or_default().to_owned())
                    || (!to.is_empty() && !to.contains(&mid))
            });
            Ok(moved.then_some(()))
        },
    )
    .unwrap();
    assert_eq!(worker_pids(fleet), pids, "no worker process restarted");
    assert!(paused_workers(&bb).is_empty(), "{:?}", paused_workers(&bb));
    let (code, _) = cancel_drain(&agent);
    assert_eq!(code, 409, "a drained master cannot be cancelled");
}

#[test]
fn haproxy_cancel_deadline_and_full_drain() {
    let _serial = serial();
    let fleet = Fleet::up(FleetOptions::default()).unwrap();
    let bb = fleet.buildbot(2);
    let m1 = masterid(&fleet, &bb, 0);
    let m1_pid = twistd_pid(&fleet.info.masters[0].basedir).unwrap();
    let agent1 = agent(&fleet, 0);
    let (code, _) = agent1
        .request(reqwest::Method::GET, "/v1/drain", None)
        .unwrap();
    assert_eq!(code, 404, "no drain yet");

    // Cancel mid-drain: full service again, no restart.
    let busy = force_on(&bb, m1, "sleep", &[("duration", "10")]);
    start_drain(&agent1, json!({"reason": "e2e cancel"}));
    wait_until("master-1 MAINT at HAProxy", Duration::from_secs(30), || {
        Ok((lb_server(&fleet, 0) == "MAINT").then_some(()))
    })
    .unwrap();
    let (code, body) = cancel_drain(&agent1);
    assert_eq!(
        (code, body["phase"].as_str()),
        (200, Some("cancelled")),
        "{body}"
    );
    assert_eq!(cancel_drain(&agent1).0, 409);
    wait_until("readyz 200", Duration::from_secs(10), || {
        Ok((agent1.open_get("/readyz")?.0 == 200).then_some(()))
    })
    .unwrap();
    wait_until("master-1 UP at HAProxy", Duration::from_secs(10), || {
        Ok((lb_server(&fleet, 0) == "UP").then_some(()))
    })
    .unwrap();
    assert_clean_success(&bb, busy);
    assert!(paused_workers(&bb).is_empty());
    let again = force_on(&bb, m1, "sleep", &[("duration", "1")]);
    assert_clean_success(&bb, again);
    assert_eq!(twistd_pid(&fleet.info.masters[0].basedir), Some(m1_pid));

    // Deadline without force: the drain reports it and changes nothing more.
    let busy = force_on(&bb, m1, "sleep", &[("duration", "12")]);
    start_drain(&agent1, json!({"deadline_secs": 2}));
    let st = wait_phase(&agent1, DrainPhase::DeadlinePassed, Duration::from_secs(20));
    assert!(st.builds_running >= 1, "{st:#?}");
    assert!(pid_alive(m1_pid));
    let (code, health) = agent1.open_get("/readyz").unwrap();
    assert_eq!((code, health["status"].as_str()), (503, Some("draining")));
    // And it changes nothing more: over the next ticks (250 ms) it stays there, the master runs.
    for _ in 0..8 {
        std::thread::sleep(Duration::from_millis(250));
        let later: bbctl_api::DrainStatus = agent1.get("/v1/drain").unwrap();
        assert_eq!(later.phase, DrainPhase::DeadlinePassed, "{later:#?}");
        assert!(pid_alive(m1_pid));
    }
    assert_eq!(cancel_drain(&agent1).0, 200);
    assert_clean_success(&bb, busy);
    assert!(paused_workers(&bb).is_empty());

    // The full drain of master-2, with a parent waiting for its triggered child.
    full_drain(&fleet, 1, 2, true);
    assert_eq!(lb_server(&fleet, 1), "MAINT");
    assert_eq!(lb_server(&fleet, 0), "UP");
    assert_eq!(lb_server(&fleet, 2), "UP");
}

#[test]
fn haproxy_forced_deadline_and_agent_kill_9() {
    let _serial = serial();
    let fleet = Fleet::up(FleetOptions::default()).unwrap();
    let bb = fleet.buildbot(0);

    // Deadline + force: the running build comes back RETRY, then succeeds elsewhere.
    let m2 = masterid(&fleet, &bb, 1);
    let busy = force_on(&bb, m2, "sleep", &[("duration", "20")]);
    let agent2 = agent(&fleet, 1);
    start_drain(
        &agent2,
        json!({"deadline_secs": 3, "force_after_deadline": true}),
    );
    let st = wait_phase(&agent2, DrainPhase::Drained, Duration::from_secs(60));
    assert_eq!(st.builds_requeued, 1, "{st:#?}");
    let outcome = bb
        .wait_complete(busy.buildrequestid, BUILD_TIMEOUT)
        .unwrap();
    assert_eq!(outcome.results, 0, "{outcome:#?}");
    assert_eq!(outcome.builds.len(), 2, "{outcome:#?}");
    assert_eq!(
        outcome.builds[0]["results"].as_i64(),
        Some(5),
        "RETRY first"
    );
    assert_ne!(outcome.builds[1]["masterid"].as_i64(), Some(m2));
    assert!(paused_workers(&bb).is_empty());

    // kill -9 the agent mid-drain, start it again: the drain completes.
    let m3 = masterid(&fleet, &bb, 2);
    let busy = force_on(&bb, m3, "sleep", &[("duration", "10")]);
    let agent3 = agent(&fleet, 2);
    start_drain(&agent3, json!({"reason": "e2e kill -9"}));
    // Mid-drain: routing stopped and the master's workers paused.
    let here = workers_on(&bb, m3);
    wait_workers_held(&bb, m3, &here);
    wait_until("master-3 MAINT at HAProxy", Duration::from_secs(30), || {
        Ok((lb_server(&fleet, 2) == "MAINT").then_some(()))
    })
    .unwrap();
    let pid = fleet.info.masters[2].agent_pid;
    assert!(
        Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    wait_until("the agent to die", Duration::from_secs(5), || {
        Ok((!pid_alive(pid)).then_some(()))
    })
    .unwrap();
    let _restarted = restart_agent(&fleet, 2).unwrap();
    let st = wait_phase(&agent3, DrainPhase::Drained, Duration::from_secs(90));
    eprintln!("after restart: {:?}", st.message);
    assert_clean_success(&bb, busy);
    assert!(paused_workers(&bb).is_empty(), "{:?}", paused_workers(&bb));
    assert_eq!(
        lb_server(&fleet, 2),
        "MAINT",
        "expected: its master is gone"
    );
    assert_eq!(lb_server(&fleet, 0), "UP");
    let audit: Vec<bbctl_api::AuditEntry> = agent3.get("/v1/audit?limit=1000").unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.detail.contains("the agent restarted")),
        "the resume is audited"
    );
}

#[test]
fn relay_full_drain() {
    let _serial = serial();
    let fleet = Fleet::up_with_args(FleetOptions::default(), &["--lb-hook", "relay"]).unwrap();
    full_drain(&fleet, 1, 0, false);
    assert_eq!(lb_server(&fleet, 0), "UP");
}
