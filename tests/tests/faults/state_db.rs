//! Fault 13: the agent's state DB is deleted in the middle of a drain. The agent starts with a
//! fresh DB and forgets the drain (it never acts on what it cannot account for), but reports what
//! the drain left behind — workers paused `bbctl drain of <agent>`, its server in maint — in
//! `GET /v1/master` `problems`; the operator undoes them and nothing is lost.

use std::time::Duration;

use bbctl_api::MasterInfo;
use bbctl_e2e::{Fleet, pid_alive, wait_until};
use serde_json::json;

use crate::common::kill;
use crate::support::*;

pub fn state_db_deleted_mid_drain(fleet: &Fleet, i: usize) {
    let bb = fleet.buildbot(2);
    let mid = masterid(fleet, &bb, i);
    let busy = force_on(&bb, mid, "sleep", &[("duration", "8")]);
    let a = agent(fleet, i);
    start_drain(&a, json!({"reason": "fault 13"}));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(lb_server(fleet, i), "MAINT");
    let agent_pid = fleet.info.masters[i].agent_pid;
    kill(agent_pid, "KILL");
    assert!(!pid_alive(agent_pid));
    let cfg = std::fs::read_to_string(&fleet.info.masters[i].agent_config).unwrap();
    let state_dir = cfg
        .lines()
        .find_map(|l| l.trim().strip_prefix("state_dir"))
        .map(|v| {
            v.trim_start_matches([' ', '='])
                .trim()
                .trim_matches('"')
                .to_owned()
        })
        .expect("state_dir in the agent config");
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{state_dir}/agent.sqlite3{ext}"));
    }
    let restarted = restart_agent(fleet, i).unwrap();
    let info: MasterInfo = wait_until("the agent back", Duration::from_secs(30), || {
        Ok(Some(a.get::<MasterInfo>("/v1/master")?))
    })
    .unwrap();
    eprintln!("fault 13: problems after the DB loss: {:?}", info.problems);
    assert!(
        info.drain.is_none(),
        "the drain is forgotten: {:?}",
        info.drain
    );
    assert!(
        info.problems.iter().any(|p| p.contains("no record")),
        "{:?}",
        info.problems
    );
    assert!(
        info.problems.iter().any(|p| p.contains("maint")),
        "{:?}",
        info.problems
    );

    // The operator undoes it: unpause, routing back.
    for w in workers(&bb) {
        if w["pause_reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("bbctl drain of"))
        {
            let id = w["workerid"].as_i64().unwrap();
            bb.control(&format!("workers/{id}"), "unpause", json!({}))
                .unwrap();
        }
    }
    let (code, body) = a
        .request(
            reqwest::Method::POST,
            "/v1/routing/resume",
            Some(&json!({})),
        )
        .unwrap();
    assert_eq!(code, 200, "{body}");
    assert_clean_success(&bb, busy);
    wait_until("no problem left", Duration::from_secs(20), || {
        let info: MasterInfo = a.get("/v1/master")?;
        Ok(info.problems.is_empty().then_some(()))
    })
    .unwrap();
    assert!(paused_workers(&bb).is_empty());
    std::mem::forget(restarted);
}
