//! Fault 4: an agent that stops answering in the middle of an upgrade pauses the upgrade instead
//! of failing it. The runner says which agent and why, asks it every [`PROBE_INTERVAL`] whether
//! it answers again, and then retries the step that met it — every step looks before it acts, so
//! a retry does no harm (the same property `upgrade resume` relies on). The wait is bounded by
//! `--pause-timeout` per step; after it the upgrade stops, still resumable, with exit code 3.
//! A journal append that no agent could make — each unreachable or answering 503
//! `store_unavailable` (a PostgreSQL restart) — pauses the same way until one reaches the store.

use std::time::{Duration, Instant};

use super::coordinator::{Coordinator, store_unreachable};
use super::error::UpgradeError;
use crate::client::AgentClient;
use crate::output::upgrade::Emitter;

/// How often a missing agent is asked whether it answers again.
const PROBE_INTERVAL: Duration = Duration::from_secs(2);

/// One pause's bound: the first unreachable failure of a step starts it; the step's success ends
/// it. Later failures of the same step share the budget, so an agent that comes back and goes
/// away again cannot stretch the pause forever.
#[derive(Debug, Default)]
pub struct PauseBudget {
    since: Option<Instant>,
}

impl PauseBudget {
    /// The instant the current pause must end by (starting one now if none is running).
    pub fn until(&mut self, secs: f64) -> Instant {
        *self.since.get_or_insert_with(Instant::now) + Duration::from_secs_f64(secs.max(0.0))
    }

    pub fn reset(&mut self) {
        self.since = None;
    }
}

/// Announces the pause of step `step` of `upgrade`, then waits until `client`'s agent answers
/// (`GET /v1/version`: any answer, even an error status, means it is back) or `until` passes,
/// which stops the upgrade.
pub async fn wait_for_agent(
    emitter: &Emitter,
    client: &AgentClient,
    upgrade: &str,
    step: &str,
    cause: &str,
    until: Instant,
) -> Result<(), UpgradeError> {
    let agent = client.name();
    let left = until.saturating_duration_since(Instant::now());
    emitter.emit(
        "paused",
        Some(step),
        &format!(
            "upgrade paused: {cause}; waiting up to {} for {agent}'s agent to answer again \
                 (checking every {}s; Ctrl-C leaves the upgrade resumable with \
                 `bbctl upgrade resume {upgrade}`)",
            humantime(left),
            PROBE_INTERVAL.as_secs()
        ),
        serde_json::json!({"agent": agent, "cause": cause, "wait_secs": left.as_secs_f64()}),
    );
    let started = Instant::now();
    loop {
        match client.version().await {
            Err(err) if err.is_unreachable() => {}
            _ => {
                let waited = started.elapsed();
                emitter.emit(
                    "unpaused",
                    Some(step),
                    &format!(
                        "{agent}'s agent answers again after {}; retrying the step",
                        humantime(waited)
                    ),
                    serde_json::json!({"agent": agent, "waited_secs": waited.as_secs_f64()}),
                );
                return Ok(());
            }
        }
        if Instant::now() >= until {
            return Err(UpgradeError::PauseTimedOut {
                agent: agent.to_string(),
                cause: cause.to_string(),
            });
        }
        tokio::time::sleep(PROBE_INTERVAL.min(until.saturating_duration_since(Instant::now())))
            .await;
    }
}

/// Announces the pause of step `step` of `upgrade`, then waits until one of the coordinator's
/// agents reaches the fleet store again (`GET /v1/fleet/store` says `reachable`; an agent from
/// before the store counts once it answers) or `until` passes, which stops the upgrade.
pub async fn wait_for_store(
    emitter: &Emitter,
    coord: &Coordinator,
    upgrade: &str,
    step: &str,
    cause: &str,
    until: Instant,
) -> Result<(), UpgradeError> {
    let names: Vec<&str> = coord.agents().iter().map(|a| a.name()).collect();
    let left = until.saturating_duration_since(Instant::now());
    emitter.emit(
        "paused",
        Some(step),
        &format!(
            "upgrade paused: {cause}; waiting up to {} for an agent ({}) to reach the fleet \
             store again (checking every {}s; Ctrl-C leaves the upgrade resumable with \
             `bbctl upgrade resume {upgrade}`)",
            humantime(left),
            names.join(", "),
            PROBE_INTERVAL.as_secs()
        ),
        serde_json::json!({"agents": names, "cause": cause, "wait_secs": left.as_secs_f64()}),
    );
    let started = Instant::now();
    loop {
        let probes = futures_util::future::join_all(coord.agents().iter().map(|a| async move {
            match a.fleet_store().await {
                Ok(info) => info.reachable,
                Err(err) => !store_unreachable(&err),
            }
        }))
        .await;
        if let Some(i) = probes.iter().position(|ok| *ok) {
            let waited = started.elapsed();
            let agent = coord.agents()[i].name();
            emitter.emit(
                "unpaused",
                Some(step),
                &format!(
                    "{agent}'s agent reaches the fleet store again after {}; going on",
                    humantime(waited)
                ),
                serde_json::json!({"agent": agent, "waited_secs": waited.as_secs_f64()}),
            );
            return Ok(());
        }
        if Instant::now() >= until {
            return Err(UpgradeError::StoreTimedOut {
                agents: names.join(", "),
                cause: cause.to_string(),
            });
        }
        tokio::time::sleep(PROBE_INTERVAL.min(until.saturating_duration_since(Instant::now())))
            .await;
    }
}

/// `95s` → `1m35s`, for messages.
fn humantime(d: Duration) -> String {
    let secs = d.as_secs_f64().round() as u64;
    match (secs / 3600, secs % 3600 / 60, secs % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, m, _) => format!("{h}h{m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_starts_once_and_resets() {
        let mut budget = PauseBudget::default();
        let first = budget.until(60.0);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(
            budget.until(60.0),
            first,
            "a second failure shares the pause"
        );
        budget.reset();
        assert!(budget.until(60.0) > first, "a new pause starts afresh");
    }

    #[test]
    fn durations_read_like_an_operator_writes_them() {
        assert_eq!(humantime(Duration::from_secs(42)), "42s");
        assert_eq!(humantime(Duration::from_secs(900)), "15m");
        assert_eq!(humantime(Duration::from_secs(95)), "1m35s");
        assert_eq!(humantime(Duration::from_secs(3720)), "1h2m");
    }
}
