//! Step 4, verify: every old master that is not also a new one stopped, every worker attached
//! to a master on the new configuration, no build request claimed by a stopped master, and who
//! owns the schedulers and change sources ([`super::schedulers`]: reported with the time of
//! Buildbot's next claim attempt, or waited for with `--wait-schedulers`).

use std::collections::BTreeSet;
use std::time::Duration;

use super::journal::Journal;
use super::{Fail, Runner, StepFail, schedulers};

/// How long handed-off workers may take to attach to a new master.
const WORKERS_TIMEOUT: Duration = Duration::from_secs(60);

impl Runner<'_> {
    /// Checks the end state; returns findings that do not fail the upgrade (schedulers).
    pub(super) async fn verify(&self, j: &mut Journal) -> Result<String, StepFail> {
        let mut new_ids = BTreeSet::new();
        let mut rest_urls = Vec::new();
        let mut uptimes = Vec::new();
        for m in &j.new {
            let info = self.client(m)?.master().await.map_err(StepFail::api)?;
            let on_new = info
                .config
                .as_ref()
                .is_some_and(|c| c.sha256 == j.config_sha256);
            if !info.process.running || !on_new {
                return Err(fail(format!("{m} is not running the new configuration")));
            }
            new_ids.extend(info.masterid);
            uptimes.extend(info.process.uptime_secs);
            rest_urls.push(info.rest_url);
        }
        let mut old_ids = BTreeSet::new();
        for m in j.old.iter().filter(|m| !j.new.contains(m)) {
            let info = self.client(m)?.master().await.map_err(StepFail::api)?;
            if info.process.running {
                return Err(fail(format!("old master {m} still runs")));
            }
            old_ids.extend(info.masterid);
        }
        let coordinator = self.client(&j.new[0])?;
        let deadline = tokio::time::Instant::now() + WORKERS_TIMEOUT;
        let workers = loop {
            let fleet = coordinator.fleet().await.map_err(StepFail::api)?;
            let stray: Vec<String> = fleet
                .workers
                .iter()
                .filter(|w| {
                    w.connected_to.is_empty()
                        || w.connected_to.iter().any(|id| !new_ids.contains(id))
                })
                .map(|w| format!("{} (on {:?})", w.name, w.connected_to))
                .collect();
            if stray.is_empty() {
                break fleet.workers.len();
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StepFail::Other(Fail::failed(
                    "workers not attached to a new master",
                    stray,
                )));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        };
        let rest = api_base(&rest_urls[0]);
        let requests = get_json(&format!("{rest}buildrequests?complete=false")).await;
        let stuck: Vec<String> = requests["buildrequests"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| {
                r["claimed_by_masterid"]
                    .as_i64()
                    .is_some_and(|id| old_ids.contains(&id))
            })
            .map(|r| {
                format!(
                    "build request {} claimed by stopped master {}",
                    r["buildrequestid"], r["claimed_by_masterid"]
                )
            })
            .collect();
        if !stuck.is_empty() {
            return Err(StepFail::Other(Fail::failed(
                "requests claimed by stopped masters",
                stuck,
            )));
        }
        let mut findings = schedulers::unowned(&rest, &new_ids).await;
        if !findings.is_empty() {
            let eta = schedulers::next_attempt_in(&uptimes);
            if j.options.wait_schedulers {
                self.emitter.emit(
                    "step_progress",
                    Some("verify"),
                    &format!(
                        "waiting for Buildbot's activity poll to move {} scheduler(s)/change source(s) (at most {:.0} s)",
                        findings.len(),
                        eta.unwrap_or(schedulers::POLL_INTERVAL_SECS) + 15.0
                    ),
                    serde_json::Value::Null,
                );
                findings = schedulers::wait_owned(
                    &rest,
                    &new_ids,
                    eta.unwrap_or(schedulers::POLL_INTERVAL_SECS),
                )
                .await;
            }
            if !findings.is_empty() {
                findings.push(schedulers::explain(eta));
            }
        }
        j.findings = findings;
        Ok(format!(
            "old masters stopped, {workers} worker(s) on new masters, no request claimed by a stopped master, {}",
            if j.findings.is_empty() {
                "schedulers on new masters"
            } else {
                "schedulers still moving"
            }
        ))
    }
}

fn fail(message: String) -> StepFail {
    StepFail::Other(Fail::failed(message, vec![]))
}

/// `…/api/v2/` from an agent's `rest_url` (given with or without the API path).
fn api_base(rest_url: &str) -> String {
    let base = rest_url.trim_end_matches('/');
    if base.ends_with("/api/v2") {
        format!("{base}/")
    } else {
        format!("{base}/api/v2/")
    }
}

/// A Buildbot REST read; `null` when it fails (verification then finds nothing to report).
pub(super) async fn get_json(url: &str) -> serde_json::Value {
    let Ok(client) = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    else {
        return serde_json::Value::Null;
    };
    match client.get(url).send().await {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => serde_json::Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::api_base;

    #[test]
    fn api_base_accepts_both_forms() {
        assert_eq!(api_base("http://h:1/"), "http://h:1/api/v2/");
        assert_eq!(api_base("http://h:1/api/v2"), "http://h:1/api/v2/");
    }
}
