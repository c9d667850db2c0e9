//! Fault 7: the master process is SIGKILLed in the middle of its drain. The drain reports it,
//! starts the master again from the same basedir (so that Buildbot releases the requests it had
//! claimed), prompts the other masters and drains on; the cut build runs again elsewhere.

use std::time::{Duration, Instant};

use bbctl_api::{AuditEntry, DrainPhase};
use bbctl_e2e::{Fleet, pid_alive};
use serde_json::json;

use crate::common::{assert_nothing_left, assert_success_after_retries, kill};
use crate::support::*;

pub fn master_sigkilled_mid_drain(fleet: &Fleet, i: usize) {
    let rest = (i + 2) % 3;
    let bb = fleet.buildbot(rest);
    let mid = masterid(fleet, &bb, i);
    // Long enough to still run when the kill comes (placing it and the drain's first ticks take
    // seconds on a busy machine; a drain that already ended has no master left to kill).
    let busy = force_on(&bb, mid, "sleep", &[("duration", "25")]);
    let here = workers_on(&bb, mid);
    let agent = agent(fleet, i);
    start_drain(
        &agent,
        json!({"reason": "fault 7", "requested_by": "faults@test"}),
    );
    // Mid-drain: the master's workers paused or handed off, its build still running.
    wait_workers_held(&bb, mid, &here);
    let old_pid = twistd_pid(&fleet.info.masters[i].basedir).unwrap();
    let t0 = Instant::now();
    kill(old_pid, "KILL");

    let done = wait_phase(&agent, DrainPhase::Drained, Duration::from_secs(120));
    eprintln!(
        "fault 7: drained {:?} after the kill: {:?}",
        t0.elapsed(),
        done.message
    );
    assert!(done.builds_requeued >= 1, "{done:#?}");
    assert!(
        done.message
            .as_deref()
            .unwrap_or("")
            .contains("master stopped"),
        "{done:#?}"
    );
    let new_pid = twistd_pid(&fleet.info.masters[i].basedir);
    assert!(
        new_pid.is_none_or(|p| p != old_pid && !pid_alive(p)),
        "stopped at the end"
    );

    // The cut build came back RETRY and ran again, elsewhere, to SUCCESS.
    let builds = assert_success_after_retries(&bb, busy.buildrequestid, 1);
    assert_ne!(builds[1]["masterid"].as_i64(), Some(mid), "{builds:#?}");
    eprintln!(
        "fault 7: build re-run SUCCESS {:?} after the kill",
        t0.elapsed()
    );
    // And a new one runs.
    let again = bb.force("sleep", &[("duration", "1")]).unwrap();
    assert_clean_success(&bb, again);

    assert_nothing_left(&bb, mid);
    assert_eq!(lb_server(fleet, i), "MAINT", "the drained master stays out");
    for j in (0..3).filter(|j| *j != i) {
        assert_eq!(lb_server(fleet, j), "UP");
    }
    let audit: Vec<AuditEntry> = agent.get("/v1/audit?limit=1000").unwrap();
    for want in [
        "died under the drain",
        "runs again",
        "prompted the other masters",
    ] {
        assert!(
            audit.iter().any(|a| a.detail.contains(want)),
            "audit lacks {want:?}"
        );
    }
    let ops: Vec<_> = audit.iter().filter(|a| a.action == "start").collect();
    assert!(!ops.is_empty(), "the restart is a recorded start operation");
}
