//! Fault 3: an agent is down when an upgrade starts. The real `bbctl upgrade` refuses in its
//! pre-flight (exit 5) and touches nothing: no master restarted, no journal, no lease.

use std::time::Duration;

use bbctl_e2e::{Fleet, pid_alive, wait_until};

use crate::common::{kill, text};
use crate::support::*;

pub fn agent_down_refuses_the_upgrade(fleet: &Fleet, i: usize) {
    let before: Vec<Option<u32>> = fleet
        .info
        .masters
        .iter()
        .map(|m| twistd_pid(&m.basedir))
        .collect();
    let pid = fleet.info.masters[i].agent_pid;
    kill(pid, "TERM");
    wait_until("the agent to stop", Duration::from_secs(15), || {
        Ok((!pid_alive(pid)).then_some(()))
    })
    .unwrap();
    let v2 = fleet.info.master_cfg_v2.to_str().unwrap().to_owned();
    let out = fleet.bbctl(&[
        "upgrade",
        "--new-config",
        &v2,
        "--yes",
        "--reason",
        "fault 3",
    ]);
    let restarted = restart_agent(fleet, i).unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not every agent answers"), "{}", text(&out));
    assert!(
        stderr.contains(&fleet.info.masters[i].name),
        "names the agent: {}",
        text(&out)
    );

    let after: Vec<Option<u32>> = fleet
        .info
        .masters
        .iter()
        .map(|m| twistd_pid(&m.basedir))
        .collect();
    assert_eq!(before, after, "no master was touched");
    let a = agent(fleet, i);
    wait_until("the agent back", Duration::from_secs(20), || {
        Ok((a.open_get("/healthz")?.0 == 200).then_some(()))
    })
    .unwrap();
    let history = fleet.bbctl(&["upgrade", "history", "-o", "json"]);
    let h = String::from_utf8_lossy(&history.stdout);
    assert!(
        !h.contains("fault 3"),
        "no journal was written: {}",
        text(&history)
    );
    let coordinator = agent(fleet, 0);
    let (code, _) = coordinator
        .request(reqwest::Method::GET, "/v1/lease", None)
        .unwrap();
    assert_eq!(code, 404, "the lease is free");
    // The restarted agent stays up for the rest of the test; fleet.json has its PID, so the
    // fleet's `down` stops it.
    std::mem::forget(restarted);
}
