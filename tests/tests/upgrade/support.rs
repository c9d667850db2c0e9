//! Helpers of the upgrade e2e tests: running `bbctl` against a fleet, forcing builds anywhere,
//! reading the journal, and the "every build SUCCESS exactly once" check.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bbctl_e2e::{Buildbot, Fleet};
use serde_json::Value;

pub const BUILD_TIMEOUT: Duration = Duration::from_secs(300);

pub use bbctl_e2e::output_text as text;

pub fn masters(fleet: &Fleet) -> Vec<Value> {
    let out = fleet.bbctl(&["masters", "list", "-o", "json"]);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out)))
}

/// The journal of the newest upgrade (or `id`); `None` before one exists.
pub fn journal(fleet: &Fleet, id: Option<&str>) -> Option<Value> {
    let mut args = vec!["upgrade", "status", "-o", "json"];
    args.extend(id);
    let out = fleet.bbctl(&args);
    serde_json::from_slice(&out.stdout).ok()
}

/// The first step of `journal` in state `running`, as `kind master(s)`.
pub fn running_step(journal: &Value) -> Option<String> {
    journal["steps"].as_array()?.iter().find_map(|s| {
        (s["state"] == "running").then(|| {
            let who = s["master"]
                .as_str()
                .map(str::to_string)
                .or_else(|| {
                    s["masters"].as_array().map(|m| {
                        m.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                })
                .unwrap_or_default();
            format!("{} {who}", s["step"].as_str().unwrap_or("?"))
        })
    })
}

/// Polls the journal until a step starting with one of `want` runs; returns the upgrade id
/// and the step.
pub fn wait_step(fleet: &Fleet, want: &[&str], timeout: Duration) -> (String, String) {
    let started = Instant::now();
    loop {
        if let Some(j) = journal(fleet, None)
            && j["phase"] == "running"
            && let Some(step) = running_step(&j)
            && want.iter().any(|w| step.starts_with(w))
        {
            return (j["id"].as_str().unwrap().to_string(), step);
        }
        assert!(
            started.elapsed() < timeout,
            "none of {want:?} ran: {:#}",
            journal(fleet, None).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Forces `builder` through the first slot whose master accepts it.
pub fn force_anywhere(fleet: &Fleet, builder: &str, duration: u64) -> i64 {
    for slot in 0..fleet.info.masters.len() {
        if let Ok(forced) = fleet
            .buildbot(slot)
            .force(builder, &[("duration", &duration.to_string())])
        {
            return forced.buildrequestid;
        }
    }
    panic!("no master accepted a forced {builder}");
}

/// Waits until every request of `requests` has a build running (or done).
pub fn wait_started(fleet: &Fleet, requests: &[i64]) {
    let rest = any_live(fleet);
    for r in requests {
        bbctl_e2e::wait_until(
            &format!("build request {r} to start"),
            Duration::from_secs(120),
            || {
                let builds = rest.list(&format!("builds?buildrequestid={r}"), "builds")?;
                Ok((!builds.is_empty()).then_some(()))
            },
        )
        .unwrap();
    }
}

/// A REST client of any slot whose master answers.
pub fn any_live(fleet: &Fleet) -> Buildbot {
    (0..fleet.info.masters.len())
        .map(|i| fleet.buildbot(i))
        .find(|b| b.get("masters").is_ok())
        .expect("a live master")
}

/// Every request ended SUCCESS with exactly one build (none lost, none RETRY, none twice);
/// returns the master id each ran on.
pub fn assert_success_once(fleet: &Fleet, requests: &[i64]) -> Vec<i64> {
    let rest = any_live(fleet);
    requests
        .iter()
        .map(|id| {
            let outcome = rest.wait_complete(*id, BUILD_TIMEOUT).unwrap();
            assert_eq!(outcome.results, 0, "request {id}: {:?}", outcome.builds);
            assert_eq!(
                outcome.builds.len(),
                1,
                "request {id} ran more than once: {:?}",
                outcome.builds
            );
            outcome.builds[0]["masterid"].as_i64().unwrap()
        })
        .collect()
}

/// The master ids every worker is connected to (`None` while one is not connected).
pub fn worker_masters(rest: &Buildbot) -> Option<Vec<i64>> {
    let workers = rest.list("workers", "workers").ok()?;
    let mut on = Vec::new();
    for w in &workers {
        let ids: Vec<i64> = w["connected_to"]
            .as_array()?
            .iter()
            .filter_map(|c| c["masterid"].as_i64())
            .collect();
        if ids.is_empty() {
            return None;
        }
        on.extend(ids);
    }
    Some(on)
}

/// Waits until every worker is connected, and only to masters in `ids` (`what` names them).
pub fn wait_workers_on(rest: &Buildbot, ids: &BTreeSet<i64>, what: &str, timeout: Duration) {
    bbctl_e2e::wait_until(&format!("every worker on {what}"), timeout, || {
        Ok(worker_masters(rest)
            .filter(|on| on.iter().all(|m| ids.contains(m)))
            .map(|_| ()))
    })
    .unwrap();
}

/// The steps of `journal` as `(kind master(s), state)`, in order.
pub fn steps(journal: &Value) -> Vec<(String, String)> {
    journal["steps"]
        .as_array()
        .map(|steps| {
            steps
                .iter()
                .map(|s| {
                    let who = match (&s["master"], s["masters"].as_array()) {
                        (Value::String(m), _) => m.clone(),
                        (_, Some(ms)) => ms
                            .iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(","),
                        _ => String::new(),
                    };
                    let kind = s["step"].as_str().unwrap_or("?");
                    let state = s["state"].as_str().unwrap_or("?").to_string();
                    (format!("{kind} {who}").trim_end().to_string(), state)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Polls the journal `id` until step `index` is `running` or `done`; returns its state then, or
/// `None` when the upgrade is no longer running.
pub fn wait_step_reached(
    fleet: &Fleet,
    id: &str,
    index: usize,
    timeout: Duration,
) -> Option<String> {
    let started = Instant::now();
    loop {
        let j = journal(fleet, Some(id));
        if let Some(j) = &j {
            if j["phase"] != "running" {
                return None;
            }
            if let Some((_, state)) = steps(j).get(index)
                && (state == "running" || state == "done")
            {
                return Some(state.clone());
            }
        }
        assert!(
            started.elapsed() < timeout,
            "step {index} of {id} never ran: {:#}",
            j.unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Counts, every 300 ms until dropped, how many agents answer `/readyz` 200; keeps the minimum.
pub struct ReadyWatch {
    stop: Arc<AtomicBool>,
    min: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ReadyWatch {
    pub fn start(fleet: &Fleet) -> ReadyWatch {
        let urls: Vec<String> = fleet
            .info
            .masters
            .iter()
            .map(|m| format!("{}/readyz", m.agent_url.trim_end_matches('/')))
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let min = Arc::new(AtomicUsize::new(usize::MAX));
        let (s, m) = (stop.clone(), min.clone());
        let thread = std::thread::spawn(move || {
            let http = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap();
            while !s.load(Ordering::SeqCst) {
                // A probe that got no answer within 5 s (a master slow under load on 2 cores)
                // says nothing about readiness: such a sample is left out and counted.
                let answers: Vec<Option<bool>> = urls
                    .iter()
                    .map(|u| http.get(u.as_str()).send().ok().map(|r| r.status() == 200))
                    .collect();
                if answers.iter().all(Option::is_some) {
                    let ready = answers.iter().filter(|a| **a == Some(true)).count();
                    m.fetch_min(ready, Ordering::SeqCst);
                } else {
                    eprintln!("readiness sample left out: an agent gave no answer within 5 s");
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        });
        ReadyWatch {
            stop,
            min,
            thread: Some(thread),
        }
    }

    pub fn finish(mut self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.min.load(Ordering::SeqCst)
    }
}
