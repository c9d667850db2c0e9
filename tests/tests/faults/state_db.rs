//! Fault 13: the agent's state DB is corrupted, then deleted, in the middle of a drain. On a
//! corrupt file the agent refuses to start (exit 2, one line naming the file) and changes nothing:
//! the master and its running build go on. Once the operator removes the file, the agent starts
//! with a fresh DB and forgets the drain (it never acts on what it cannot account for), but
//! reports what the drain left behind — workers paused `bbctl drain of <agent>`, its server in
//! maint — in `GET /v1/master` `problems`; the operator undoes them and nothing is lost.

use std::process::{Command, Stdio};
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
    let here = workers_on(&bb, mid);
    start_drain(&a, json!({"reason": "fault 13"}));
    wait_workers_held(&bb, mid, &here);
    wait_until("the server in MAINT", Duration::from_secs(30), || {
        Ok((lb_server(fleet, i) == "MAINT").then_some(()))
    })
    .unwrap();
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
    refuses_a_corrupt_state_db(fleet, i, &state_dir);
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

/// The state DB overwritten with garbage (the agent stopped): the agent exits 2 with one line
/// naming the DB, and neither the master nor the load balancer nor the workers change.
fn refuses_a_corrupt_state_db(fleet: &Fleet, i: usize, state_dir: &str) {
    let db = format!("{state_dir}/agent.sqlite3");
    for ext in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{db}{ext}"));
    }
    let garbage: Vec<u8> = (0..64 * 1024u32).map(|n| (n * 7 + 13) as u8).collect();
    std::fs::write(&db, garbage).unwrap();
    let master_pid = fleet.status().unwrap().masters[i].master_pid;
    let out = Command::new(&fleet.info.agent_bin)
        .arg("--config")
        .arg(&fleet.info.masters[i].agent_config)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("fault 13: the agent on a corrupt DB: {stderr}");
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(lines[0].contains("corrupt"), "{stderr}");
    assert!(
        lines[0].contains("agent.sqlite3"),
        "names the file: {stderr}"
    );
    assert_eq!(
        fleet.status().unwrap().masters[i].master_pid,
        master_pid,
        "the master is left alone"
    );
    assert_eq!(lb_server(fleet, i), "MAINT", "routing untouched");
}
