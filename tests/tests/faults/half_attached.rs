//! Fault 9b: a worker attaches to a master while PostgreSQL is down. Buildbot 4.3.0 tells the
//! worker it is attached, then fails to write `connected_workers` and logs `worker NAME cannot
//! attach` — and keeps the connection: the worker would sit there, idle, for good. The test
//! proves the fault happened (that line, for this worker, in a master's `twistd.log` after the
//! restart), then that the master's agent closed the connection (its warning) and the worker
//! attached again, its handshake complete (`Worker NAME attached to BUILDER`).

use std::time::Duration;

use bbctl_e2e::{Fleet, wait_until};

use crate::common::restart_worker;
use crate::postgres_restart::{pg_start, pg_stop};
use crate::support::*;

/// The fault, with a worker of master `i` (a running master; `rest` is another one).
pub fn worker_attaches_while_postgres_is_down(fleet: &Fleet, i: usize, rest: usize) {
    let bb = fleet.buildbot(rest);
    let mid = masterid(fleet, &bb, i);
    let victim = workers(&bb)
        .into_iter()
        .find(|w| connected_to(w).contains(&mid))
        .map(|w| w["name"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no worker on master {mid}: {:#?}", workers(&bb)));
    let wslot = fleet
        .info
        .workers
        .iter()
        .find(|w| w.name == victim)
        .unwrap();
    let logs: Vec<_> = fleet
        .info
        .masters
        .iter()
        .map(|m| {
            let path = m.basedir.join("twistd.log");
            let len = std::fs::metadata(&path).map_or(0, |m| m.len());
            (m.name.clone(), path, len, m.agent_log.clone())
        })
        .collect();
    let failed_line = format!("worker {victim} cannot attach");

    pg_stop(fleet);
    let ok = restart_worker(fleet, &wslot.basedir);
    let found = wait_until(
        &format!("a master to log `{failed_line}`"),
        Duration::from_secs(60),
        || {
            Ok(logs.iter().find_map(|(name, path, len, agent_log)| {
                let text = std::fs::read(path).unwrap_or_default();
                let new = String::from_utf8_lossy(text.get(*len as usize..).unwrap_or_default());
                new.contains(&failed_line)
                    .then(|| (name.clone(), agent_log.clone()))
            }))
        },
    );
    pg_start(fleet);
    assert!(ok, "buildbot-worker start");
    let (master, agent_log) = found.unwrap();
    eprintln!("fault 9b: {master} logged `{failed_line}` (PostgreSQL down)");

    // The agent of that master closes the connection (its warning), and the worker attaches
    // again: a new attach whose handshake completes (`Worker NAME attached to BUILDER`) in a
    // master's log after the failure. `/workers` alone proves nothing here: the row of the
    // connection the worker lost while PostgreSQL was down stays behind.
    let settled = format!("Worker {victim} attached to ");
    let on = wait_until(
        &format!("{master}'s agent to free {victim}, and {victim} to attach again"),
        Duration::from_secs(90),
        || {
            let said = std::fs::read_to_string(&agent_log).unwrap_or_default();
            let freed = said.lines().any(|l| {
                l.contains(&format!("worker {victim}:"))
                    && l.contains("cannot attach")
                    && l.contains("closed its connection")
            });
            if !freed {
                return Ok(None);
            }
            Ok(logs.iter().find_map(|(name, path, len, _)| {
                let text = std::fs::read(path).unwrap_or_default();
                let new = String::from_utf8_lossy(text.get(*len as usize..).unwrap_or_default());
                let after = new.rfind(&failed_line).map_or(0, |i| i);
                new[after..].contains(&settled).then(|| name.clone())
            }))
        },
    )
    .unwrap();
    eprintln!("fault 9b: {victim} freed by {master}'s agent, attached again to {on}");
}
