//! Fault 4: an agent becomes unreachable in the middle of an upgrade. The agent of an old master
//! (the coordinator; the journal and lease calls go through the next agent, the fleet store being
//! in PostgreSQL) is SIGKILLed while its master drains:
//! - the upgrade pauses with a message naming the agent and the way out; a build forced during
//!   the pause runs on a new master; the agent stays away past `--pause-timeout`, so the upgrade
//!   stops with exit 3, its journal `failed` (resumable);
//! - the agent is started again and `bbctl upgrade resume` continues; its agent is SIGKILLed once
//!   more, the resumed upgrade pauses again, and this time the agent comes back within the
//!   timeout: `unpaused`, the step is retried and the upgrade completes — every build SUCCESS
//!   exactly once, every worker on a new master, none paused.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bbctl_e2e::{Buildbot, Fleet, wait_until};
use serde_json::Value;

use crate::common::kill;
use crate::support::{paused_workers, restart_agent};
use crate::upgrade_support::*;

/// `--pause-timeout` of the upgrade (the resumed run keeps it: it is in the journal).
const PAUSE_TIMEOUT: &str = "20s";

/// The JSON events `bbctl upgrade -o json` printed so far, and its stderr.
#[derive(Clone, Default)]
pub(crate) struct Printed {
    pub(crate) events: Arc<Mutex<Vec<Value>>>,
    pub(crate) stderr: Arc<Mutex<Vec<String>>>,
}

impl Printed {
    pub(crate) fn collect(child: &mut Child) -> Printed {
        let printed = Printed::default();
        let stdout = child.stdout.take().unwrap();
        let events = printed.events.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(event) = serde_json::from_str::<Value>(&line) {
                    events.lock().unwrap().push(event);
                }
            }
        });
        let stderr = child.stderr.take().unwrap();
        let lines = printed.stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        printed
    }

    pub(crate) fn count(&self, event: &str) -> usize {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e["event"] == event)
            .count()
    }

    pub(crate) fn find(&self, event: &str) -> Option<(usize, Value)> {
        let events = self.events.lock().unwrap();
        events
            .iter()
            .position(|e| e["event"] == event)
            .map(|i| (i, events[i].clone()))
    }

    pub(crate) fn dump(&self) -> String {
        let events = self.events.lock().unwrap();
        let mut text: Vec<String> = events.iter().map(Value::to_string).collect();
        text.extend(self.stderr.lock().unwrap().iter().cloned());
        text.join("\n")
    }
}

/// Spawns `bbctl ARGS -o json` with its output collected.
fn spawn_json(fleet: &Fleet, args: &[&str]) -> (Child, Printed) {
    let mut args = args.to_vec();
    args.extend(["-o", "json"]);
    let mut child = fleet
        .bbctl_cmd(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let printed = Printed::collect(&mut child);
    (child, printed)
}

/// Waits for `child` to exit (within `timeout`) and returns its exit code.
pub(crate) fn wait_exit(child: &mut Child, printed: &Printed, timeout: Duration) -> Option<i32> {
    wait_until("bbctl to exit", timeout, || Ok(child.try_wait()?))
        .unwrap_or_else(|e| panic!("{e:#}\n{}", printed.dump()))
        .code()
}

/// The master a request's (first) build runs on, once it has started.
fn started_on(rest: &Buildbot, request: i64) -> i64 {
    wait_until(
        &format!("build request {request} to start"),
        Duration::from_secs(120),
        || {
            let builds = rest.list(&format!("builds?buildrequestid={request}"), "builds")?;
            Ok(builds.first().and_then(|b| b["masterid"].as_i64()))
        },
    )
    .unwrap()
}

/// Waits until slot `i`'s (re)started agent answers `GET /v1/master`: the first one runs the
/// master's `buildbot --version` (then cached), which on a loaded machine can take longer than
/// the CLI's 5 s timeout.
fn warm(fleet: &Fleet, i: usize) {
    let agent = fleet.agent(i);
    wait_until("the agent to answer", Duration::from_secs(60), || {
        Ok(Some(agent.get::<Value>("/v1/master")?))
    })
    .unwrap();
}

/// Waits until the upgrade's journal shows a step starting with `want` running; fails at once,
/// with what bbctl printed, if bbctl exits first.
pub(crate) fn wait_running(
    fleet: &Fleet,
    child: &mut Child,
    printed: &Printed,
    want: &str,
) -> (String, String) {
    wait_until(
        &format!("step {want} to run"),
        Duration::from_secs(240),
        || {
            if let Some(status) = child.try_wait()? {
                panic!("bbctl exited {status} first:\n{}", printed.dump());
            }
            Ok(journal(fleet, None).and_then(|j| {
                let step = running_step(&j)?;
                (j["phase"] == "running" && step.starts_with(want))
                    .then(|| (j["id"].as_str().unwrap_or_default().to_owned(), step))
            }))
        },
    )
    .unwrap_or_else(|e| panic!("{e:#}\n{}", printed.dump()))
}

/// Waits for the `paused` event (the `nth`, counting from 1) and checks what it says.
fn assert_paused(printed: &Printed, nth: usize, id: &str, name: &str) -> (usize, Value) {
    wait_until("the upgrade to pause", Duration::from_secs(90), || {
        Ok((printed.count("paused") >= nth).then_some(()))
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", printed.dump()));
    let (at, paused) = printed.find("paused").unwrap();
    eprintln!("fault 4: {}", paused["message"]);
    assert_eq!(paused["data"]["agent"], name, "{paused:#}");
    let message = paused["message"].as_str().unwrap();
    assert!(message.contains("unreachable"), "{message}");
    assert!(
        message.contains(&format!("bbctl upgrade resume {id}")),
        "names the way out: {message}"
    );
    (at, paused)
}

pub fn agent_unreachable_pauses_the_upgrade(fleet: &Fleet, i: usize) {
    let name = fleet.info.masters[i].name.clone();
    let v2 = fleet.info.master_cfg_v2.to_str().unwrap().to_string();
    for a in 0..fleet.info.masters.len() {
        warm(fleet, a);
    }
    let rest = any_live(fleet);
    let old_ids: BTreeSet<i64> = masters(fleet)
        .iter()
        .filter(|m| m["state"] == "running")
        .filter_map(|m| m["masterid"].as_i64())
        .collect();
    assert_eq!(old_ids.len(), 2, "{:#?}", masters(fleet));
    // Two long builds (three workers: one stays free to be handed off to a new master): the old
    // masters drain for as long as they run, through both losses of the agent.
    let mut requests: Vec<i64> = [80, 90]
        .iter()
        .map(|d| force_anywhere(fleet, "sleep", *d))
        .collect();
    for r in &requests {
        started_on(&rest, *r);
    }
    let (mut child, printed) = spawn_json(
        fleet,
        &[
            "upgrade",
            "--new-config",
            &v2,
            "--yes",
            "--reason",
            "fault 4",
            "--pause-timeout",
            PAUSE_TIMEOUT,
        ],
    );
    let (id, step) = wait_running(fleet, &mut child, &printed, "wait_drained");
    // The free worker has been handed off (and unpaused) to a new master.
    wait_until(
        "a free worker on a new master",
        Duration::from_secs(60),
        || {
            Ok(rest
                .list("workers", "workers")?
                .iter()
                .any(|w| {
                    let on: Vec<i64> = w["connected_to"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|c| c["masterid"].as_i64())
                        .collect();
                    w["paused"] != true && !on.is_empty() && on.iter().all(|m| !old_ids.contains(m))
                })
                .then_some(()))
        },
    )
    .unwrap();
    kill(fleet.info.masters[i].agent_pid, "KILL");
    eprintln!("fault 4: {name}'s agent SIGKILLed during {step}");
    assert_paused(&printed, 1, &id, &name);
    assert!(child.try_wait().unwrap().is_none(), "paused, not ended");

    // Work goes on during the pause: a build forced now runs on a new master.
    let during = force_anywhere(fleet, "sleep", 6);
    requests.push(during);
    let on = started_on(&rest, during);
    assert!(!old_ids.contains(&on), "ran on old master {on}");

    // Past the pause timeout: exit 3, resumable.
    let code = wait_exit(&mut child, &printed, Duration::from_secs(120));
    assert_eq!(code, Some(3), "{}", printed.dump());
    assert!(printed.find("unpaused").is_none(), "{}", printed.dump());
    let (_, finished) = printed.find("finished").expect("a finished event");
    assert_eq!(finished["data"]["exit"], 3, "{finished:#}");
    let said = finished["message"].as_str().unwrap();
    assert!(
        said.contains(&name) && said.contains("pause timeout"),
        "{said}"
    );
    let stderr = printed.stderr.lock().unwrap().join("\n");
    assert!(
        stderr.contains(&format!("bbctl upgrade resume {id}")),
        "{}",
        printed.dump()
    );
    std::mem::forget(restart_agent(fleet, i).unwrap());
    warm(fleet, i);
    let j = wait_until(
        "the journal readable again",
        Duration::from_secs(30),
        || Ok(journal(fleet, Some(&id))),
    )
    .unwrap();
    // Written through another agent (the journal is in the fleet store, not on the lost one):
    // `failed` past the pause timeout, which `resume` takes up.
    assert_eq!(j["phase"], "failed", "resumable: {j:#}");
    assert!(
        j["message"]
            .as_str()
            .is_some_and(|m| m.contains("pause timeout")),
        "{j:#}"
    );
    eprintln!("fault 4: exit 3 past the pause timeout; resuming");

    // `bbctl upgrade resume`, and the agent lost once more: back within the timeout this time.
    let (mut child, printed) = spawn_json(fleet, &["upgrade", "resume", &id]);
    wait_until(
        "the resumed run to start a step",
        Duration::from_secs(60),
        || Ok((printed.count("step_started") >= 1).then_some(())),
    )
    .unwrap_or_else(|e| panic!("{e:#}\n{}", printed.dump()));
    let (_, step) = wait_running(fleet, &mut child, &printed, "wait_drained");
    let pid = fleet.reload_info().unwrap().masters[i].agent_pid;
    kill(pid, "KILL");
    eprintln!("fault 4: {name}'s agent SIGKILLed again during the resumed {step}");
    let (at, _) = assert_paused(&printed, 1, &id, &name);
    std::mem::forget(restart_agent(fleet, i).unwrap());
    warm(fleet, i);
    let code = wait_exit(&mut child, &printed, Duration::from_secs(300));
    assert_eq!(code, Some(0), "{}", printed.dump());
    let (resumed_at, resumed) = printed.find("unpaused").expect("an unpaused event");
    assert!(resumed_at > at, "{}", printed.dump());
    assert_eq!(resumed["data"]["agent"], name.as_str(), "{resumed:#}");
    let j = journal(fleet, Some(&id)).unwrap();
    assert_eq!(j["phase"], "succeeded", "{j:#}");

    assert_success_once(fleet, &requests);
    let new: Vec<&str> = j["new"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let new_ids: BTreeSet<i64> = masters(fleet)
        .iter()
        .filter(|m| new.contains(&m["name"].as_str().unwrap()))
        .filter_map(|m| m["masterid"].as_i64())
        .collect();
    assert_eq!(new_ids.len(), new.len(), "{j:#}");
    assert!(new_ids.contains(&on), "{on} is not a new master: {j:#}");
    let rest = any_live(fleet);
    wait_workers_on(&rest, &new_ids, "a new master", Duration::from_secs(30));
    assert!(
        paused_workers(&rest).is_empty(),
        "{:?}",
        paused_workers(&rest)
    );
    eprintln!("fault 4: exit 3, resumed, paused and unpaused; upgrade done");
}
