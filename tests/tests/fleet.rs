//! Issue 2 acceptance: `scripts/fleet` brings up a real fleet (3 masters, 4 workers, agents),
//! `status` shows it, a forced build succeeds, and `down` leaves no process behind. Plus the
//! fleet's master.cfg behaviour other tests rely on, checked on the shared fleet.

use std::collections::BTreeSet;
use std::time::Duration;

use bbctl_e2e::{Fleet, FleetOptions, pid_alive, shared_fleet, wait_until};

const BUILD_TIMEOUT: Duration = Duration::from_secs(120);

#[test]
fn fleet_up_status_build_down_leaves_no_process_behind() {
    let mut fleet = Fleet::up(FleetOptions {
        masters: 3,
        standby: 0,
        workers: 4,
    })
    .unwrap();
    assert_eq!(fleet.info.state, "up");
    assert_eq!(fleet.info.masters.len(), 3);
    assert_eq!(fleet.info.workers.len(), 4);

    let status = fleet.status().unwrap();
    assert!(status.ok, "{status:#?}");
    for part in [&status.postgres, &status.router, &status.load_balancer] {
        assert!(part.alive, "{status:#?}");
    }
    for m in &status.masters {
        assert!(m.agent_alive && m.master_alive && m.active, "{m:#?}");
        assert_eq!(m.lb_server.as_deref(), Some("UP"), "{m:#?}");
    }
    let slot_names: BTreeSet<_> = status.masters.iter().map(|m| m.name.clone()).collect();
    for w in &status.workers {
        assert!(w.alive, "{w:#?}");
        assert_eq!(w.connected_to.len(), 1, "{w:#?}");
        assert!(slot_names.contains(&w.connected_to[0]), "{w:#?}");
    }

    let outcome = fleet
        .buildbot(0)
        .force_and_wait("sleep", 1.0, BUILD_TIMEOUT)
        .unwrap();
    assert_eq!(outcome.results, 0, "{outcome:#?}");
    assert_eq!(outcome.builds.len(), 1, "{outcome:#?}");

    let pids = fleet.recorded_pids();
    // 3 parts + 3 agents + 3 masters + 4 workers.
    assert_eq!(pids.len(), 13, "{pids:?}");
    assert!(pids.iter().all(|(_, pid)| pid_alive(*pid)), "{pids:?}");
    fleet.down().unwrap();
    let alive: Vec<_> = pids.iter().filter(|(_, pid)| pid_alive(*pid)).collect();
    assert!(alive.is_empty(), "still running after down: {alive:?}");

    // A second `down` is harmless.
    fleet.down().unwrap();
}

#[test]
fn parent_waits_for_its_child_and_durations_come_from_properties() {
    let fleet = shared_fleet();
    // Force through a different master than the first test uses: every master has the schedulers.
    let bb = fleet.buildbot(1);
    let forced = bb
        .force("parent", &[("duration", "1"), ("child_duration", "3")])
        .unwrap();
    let outcome = bb
        .wait_complete(forced.buildrequestid, BUILD_TIMEOUT)
        .unwrap();
    assert_eq!(outcome.results, 0, "{outcome:#?}");
    let parent = &outcome.builds[0];

    let child_builder = bb.builder_id("child").unwrap();
    let child = wait_until("the child build", Duration::from_secs(10), || {
        let builds = bb.list(&format!("builds?builderid={child_builder}"), "builds")?;
        Ok(builds.into_iter().find(|b| b["complete"] == true))
    })
    .unwrap();
    assert_eq!(child["results"], 0, "{child}");
    // Buildbot's timestamps are whole seconds (rounded down), so a build of d seconds or more
    // spans at least d of them. Lower bounds only: how much longer a loaded machine takes is not
    // this test's business.
    let span = |b: &serde_json::Value| {
        b["complete_at"].as_i64().unwrap() - b["started_at"].as_i64().unwrap()
    };
    assert!(
        span(&child) >= 3,
        "the child slept its child_duration (3 s), not duration (1 s): {child}"
    );
    // The parent waited for its child, then slept its own duration.
    assert!(
        parent["started_at"].as_i64() <= child["started_at"].as_i64()
            && parent["complete_at"].as_i64() >= child["complete_at"].as_i64(),
        "parent {parent} / child {child}"
    );
    assert!(span(parent) >= 4, "parent {parent} / child {child}");
}

#[test]
fn every_master_is_active_and_knows_every_worker() {
    let fleet = shared_fleet();
    let bb = fleet.buildbot(2);
    let masters = bb.list("masters", "masters").unwrap();
    let active = masters.iter().filter(|m| m["active"] == true).count();
    assert_eq!(active, 3, "{masters:#?}");
    let workers = bb.list("workers", "workers").unwrap();
    let names: BTreeSet<_> = workers.iter().filter_map(|w| w["name"].as_str()).collect();
    let expected: BTreeSet<_> = fleet.info.workers.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, expected);
    for w in &workers {
        let configured: BTreeSet<_> = w["configured_on"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["masterid"].as_i64())
            .collect();
        assert_eq!(
            configured.len(),
            3,
            "worker not configured on every master: {w}"
        );
    }
}
