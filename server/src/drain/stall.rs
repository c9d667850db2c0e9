//! A drain step that keeps failing (issue 12): the load balancer refuses a command or does not
//! answer, Buildbot refuses a pause. The runner (`super::runner`) retries the tick every
//! [`super::TICK`]; this module remembers *what* fails and *since when*, so that the status
//! (`DrainStatus::failing`) says it instead of a bare `draining`, and the CLI can stop following
//! a drain that cannot progress. One note is published per new reason and one when the step
//! succeeds again — not one per retry.

use serde::{Deserialize, Serialize};

use super::env::EnvError;
use super::model::DrainState;

/// The failure of the last tick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepFailure {
    /// The step's error, as the drain reports it.
    pub reason: String,
    /// When the first of the failures in a row happened.
    pub since: f64,
}

/// After a failed tick: records `err`, keeping `since` across failures in a row (whatever their
/// reason). Returns the note to publish when the reason is new.
pub fn failed(s: &mut DrainState, err: &EnvError, now: f64) -> Option<String> {
    let since = s.failing.as_ref().map_or(now, |f| f.since);
    if s.failing.as_ref().is_some_and(|f| f.reason == err.0) {
        return None;
    }
    s.failing = Some(StepFailure {
        reason: err.0.clone(),
        since,
    });
    Some(format!("step failed, retrying: {}", err.0))
}

/// After a tick that succeeded: clears the failure. Returns the note to publish if there was one.
pub fn succeeded(s: &mut DrainState, now: f64) -> Option<String> {
    let f = s.failing.take()?;
    Some(format!(
        "the failing step succeeded after {:.1} s of retries ({})",
        (now - f.since).max(0.0),
        f.reason
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> EnvError {
        EnvError(text.into())
    }

    #[test]
    fn failures_in_a_row_keep_their_start_and_are_noted_once_per_reason() {
        let mut s = DrainState::default();
        let lb = "load balancer: HAProxy has no server `workers/m9`";
        assert_eq!(
            failed(&mut s, &err(lb), 100.0).as_deref(),
            Some(format!("step failed, retrying: {lb}").as_str())
        );
        // The same failure on the next ticks: no new note, same start.
        assert_eq!(failed(&mut s, &err(lb), 100.25), None);
        assert_eq!(failed(&mut s, &err(lb), 130.0), None);
        assert_eq!(s.failing.as_ref().map(|f| f.since), Some(100.0));
        // Another reason: noted, the failures still count from the first.
        let down = "load balancer: /run/haproxy.sock: connection refused";
        assert!(failed(&mut s, &err(down), 140.0).unwrap().contains(down));
        let f = s.failing.clone().unwrap();
        assert_eq!((f.reason.as_str(), f.since), (down, 100.0));
        // A tick that succeeds clears it, once.
        let note = succeeded(&mut s, 160.0).unwrap();
        assert!(note.contains("60.0 s"), "{note}");
        assert_eq!(s.failing, None);
        assert_eq!(succeeded(&mut s, 161.0), None);
        // A new run of failures starts afresh.
        failed(&mut s, &err(lb), 170.0);
        assert_eq!(s.failing.as_ref().map(|f| f.since), Some(170.0));
    }
}
