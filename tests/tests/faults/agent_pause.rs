//! Fault 4: an agent becomes unreachable in the middle of an upgrade. The agent of an old master
//! (the coordinator, which also holds the journal) is SIGKILLed while its master drains: the
//! upgrade pauses with a message naming the agent and the way out, a build forced during the
//! pause runs on a new master, and once the agent is started again the upgrade resumes by itself
//! and completes — every build SUCCESS exactly once, every worker on a new master, none paused.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bbctl_e2e::{Fleet, wait_until};
use serde_json::Value;

use crate::common::kill;
use crate::support::{paused_workers, restart_agent};
use crate::upgrade_support::*;

/// The JSON events `bbctl upgrade -o json` printed so far, and its stderr.
#[derive(Clone, Default)]
struct Printed {
    events: Arc<Mutex<Vec<Value>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Printed {
    fn collect(child: &mut Child) -> Printed {
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

    fn find(&self, event: &str) -> Option<(usize, Value)> {
        let events = self.events.lock().unwrap();
        events
            .iter()
            .position(|e| e["event"] == event)
            .map(|i| (i, events[i].clone()))
    }

    fn dump(&self) -> String {
        let events = self.events.lock().unwrap();
        let mut text: Vec<String> = events.iter().map(Value::to_string).collect();
        text.extend(self.stderr.lock().unwrap().iter().cloned());
        text.join("\n")
    }
}

pub fn agent_unreachable_pauses_the_upgrade(fleet: &Fleet, i: usize) {
    let name = fleet.info.masters[i].name.clone();
    let v2 = fleet.info.master_cfg_v2.to_str().unwrap().to_string();
    let mut requests: Vec<i64> = [20, 24, 28]
        .iter()
        .map(|d| force_anywhere(fleet, "sleep", *d))
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let started = Instant::now();
    let mut child = fleet
        .bbctl_cmd(&[
            "upgrade",
            "--new-config",
            &v2,
            "--yes",
            "-o",
            "json",
            "--reason",
            "fault 4",
            "--pause-timeout",
            "5m",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let printed = Printed::collect(&mut child);
    let (id, step) = wait_step(fleet, &["wait_drained"], Duration::from_secs(180));
    kill(fleet.info.masters[i].agent_pid, "KILL");
    eprintln!("fault 4: {name}'s agent SIGKILLed during {step}");

    let (at, paused) = wait_until("the upgrade to pause", Duration::from_secs(90), || {
        Ok(printed.find("paused"))
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", printed.dump()));
    eprintln!("fault 4: {}", paused["message"]);
    assert_eq!(paused["data"]["agent"], name.as_str(), "{paused:#}");
    let message = paused["message"].as_str().unwrap();
    assert!(message.contains("unreachable"), "{message}");
    assert!(
        message.contains(&format!("bbctl upgrade resume {id}")),
        "names the way out: {message}"
    );
    assert!(child.try_wait().unwrap().is_none(), "paused, not ended");

    // Work goes on during the pause: a build forced now runs on a new master.
    requests.push(force_anywhere(fleet, "sleep", 6));
    std::thread::sleep(Duration::from_secs(6));
    assert!(printed.find("unpaused").is_none(), "{}", printed.dump());
    assert!(child.try_wait().unwrap().is_none(), "still paused");
    std::mem::forget(restart_agent(fleet, i).unwrap());

    while child.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the upgrade hangs:\n{}",
            printed.dump()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{}", printed.dump());
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
    let new_ids: std::collections::BTreeSet<i64> = masters(fleet)
        .iter()
        .filter(|m| new.contains(&m["name"].as_str().unwrap()))
        .filter_map(|m| m["masterid"].as_i64())
        .collect();
    assert_eq!(new_ids.len(), new.len(), "{j:#}");
    let rest = any_live(fleet);
    wait_workers_on(&rest, &new_ids, "a new master", Duration::from_secs(30));
    assert!(
        paused_workers(&rest).is_empty(),
        "{:?}",
        paused_workers(&rest)
    );
    eprintln!(
        "fault 4: paused and resumed; upgrade done in {:?}",
        started.elapsed()
    );
}
