//! Who owns the schedulers and change sources after the switch (part of verify).
//!
//! Buildbot 4.3 (`util/service.py`, `ClusteredBuildbotService`) tries to claim a clustered
//! service at exactly two moments: when the service starts (`startService` → `_activityPoll`
//! at once) and then every `POLL_INTERVAL_SEC` = 300 s on a `LoopingCall` started with it. A
//! SIGHUP reconfig does **not** try again: `reconfigServiceWithBuildbotConfig` reconfigures a
//! scheduler of an unchanged class in place (`reconfigServiceWithSibling`), with no stop/start.
//! In a blue-green upgrade the new masters start while the old ones still own everything, so
//! their first claim fails; the old masters release their claims when they stop, and each new
//! master tries again at its start + k × 300 s. Nothing short of restarting a master prompts it,
//! so verify reports exactly when the next attempt comes, and with `--wait-schedulers` waits
//! for it (bounded by that attempt plus a margin).

use std::collections::BTreeSet;
use std::time::Duration;

use super::verify::get_json;

/// Buildbot's `ClusteredBuildbotService.POLL_INTERVAL_SEC`.
pub const POLL_INTERVAL_SECS: f64 = 300.0;
/// A master's services start a little after its process; the poll comes that much later.
const POLL_MARGIN_SECS: f64 = 15.0;

/// Schedulers and change sources not owned by a new master, one line each (best effort: none
/// when the REST API cannot be read).
pub async fn unowned(rest: &str, new_ids: &BTreeSet<i64>) -> Vec<String> {
    let mut lines = Vec::new();
    for (path, what) in [
        ("schedulers", "scheduler"),
        ("changesources", "change source"),
    ] {
        let answer = get_json(&format!("{rest}{path}")).await;
        for s in answer[path].as_array().into_iter().flatten() {
            if s["master"]["masterid"]
                .as_i64()
                .is_some_and(|id| new_ids.contains(&id))
            {
                continue;
            }
            lines.push(match s["master"]["name"].as_str() {
                Some(owner) => format!("{what} {} owned by {owner}", s["name"]),
                None => format!("{what} {} has no active owner", s["name"]),
            });
        }
    }
    lines
}

/// Seconds until the first new master's next claim attempt, from the new masters' uptimes.
pub fn next_attempt_in(uptimes: &[f64]) -> Option<f64> {
    uptimes
        .iter()
        .map(|up| POLL_INTERVAL_SECS - up.rem_euclid(POLL_INTERVAL_SECS))
        .min_by(f64::total_cmp)
}

/// Waits until nothing is `unowned` or the next claim attempt (plus a margin) has passed;
/// returns what is still unowned.
pub async fn wait_owned(rest: &str, new_ids: &BTreeSet<i64>, eta: f64) -> Vec<String> {
    let limit = Duration::from_secs_f64((eta + POLL_MARGIN_SECS).min(POLL_INTERVAL_SECS + 30.0));
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let left = unowned(rest, new_ids).await;
        if left.is_empty() || tokio::time::Instant::now() >= deadline {
            return left;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// The line that explains unowned schedulers: when Buildbot will next try, and why not sooner.
pub fn explain(eta: Option<f64>) -> String {
    let when = match eta {
        Some(secs) => format!(
            "the next attempt by a new master is in about {:.0} s",
            secs + POLL_MARGIN_SECS / 3.0
        ),
        None => "within 5 minutes".to_string(),
    };
    format!(
        "Buildbot claims schedulers and change sources only when a master starts and on its \
         5-minute activity poll (a reconfig does not prompt it): {when}; \
         `--wait-schedulers` waits for it"
    )
}

#[cfg(test)]
mod tests {
    use super::next_attempt_in;

    #[test]
    fn next_attempt_is_the_soonest_poll_of_any_new_master() {
        assert_eq!(next_attempt_in(&[]), None);
        assert_eq!(next_attempt_in(&[40.0]), Some(260.0));
        assert_eq!(next_attempt_in(&[40.0, 290.0]), Some(10.0));
        assert_eq!(next_attempt_in(&[340.0]), Some(260.0));
    }
}
