//! The cordon (issue 16; docs/drain.md "Cordon"): a drain that never stops its master. It takes
//! the drain's steps — routing stopped at every load balancer, the workers attached here paused
//! and handed off as they go idle — and then holds in phase `cordoned`, the master still running
//! (UI, REST, schedulers), until an uncordon (a cancel: full service again) or a drain, which
//! continues from where the cordon stands. Cancelling that drain returns to the cordon.
//!
//! Everything here is a pure step on the persisted [`Drain`]; `super::operations` calls it under
//! the drain lock and `super::engine` during a tick.

use bbctl_api::{DrainPhase, DrainRequest};

use super::here::Here;
use super::model::Drain;

/// The sentence a cordon's status carries, from what the last look showed here.
fn message(agent: &str, workers: usize, builds: usize) -> String {
    if workers == 0 {
        return format!(
            "cordoned: no worker is attached; the master runs and takes no new worker connection \
             (`bbctl uncordon {agent}` puts it back in rotation)"
        );
    }
    format!(
        "cordoned: {workers} worker(s) still attached, {builds} build(s) running; each worker is \
         handed off once it is idle (`bbctl uncordon {agent}` puts the master back in rotation)"
    )
}

/// The end of a cordon's tick (after the drain's steps): the status says what is left here, and
/// the moment the last worker has left is a step of its own.
pub(super) fn hold(d: &mut Drain, agent: &str, here: &Here<'_>, notes: &mut Vec<String>) {
    let s = &mut d.state;
    let msg = message(agent, here.workers.len(), here.builds.len());
    if s.message.as_deref() == Some(msg.as_str()) {
        return;
    }
    let clear = here.workers.is_empty();
    if clear && !s.cordon_clear {
        notes.push("every worker has left; the master stays up, cordoned".to_owned());
    }
    s.cordon_clear = clear;
    s.message = Some(msg);
}

/// A drain asked of a cordoned master continues the cordon (everything it paused and handed off
/// stays done) under the drain's terms. Returns the step for the history. The deadline was
/// checked by the caller.
pub(super) fn continue_as_drain(
    d: &mut Drain,
    req: &DrainRequest,
    actor: Option<String>,
    now: f64,
) -> String {
    let s = &mut d.state;
    d.phase = DrainPhase::Draining;
    s.deadline_at = req.deadline_secs.map(|secs| now + secs);
    s.force_after_deadline = Some(req.force_after_deadline);
    s.drain_reason = req.reason.clone();
    if actor.is_some() {
        s.requested_by = actor;
    }
    s.message = None;
    let mut note = "drain started on the cordoned master: it continues from the cordon".to_owned();
    if let Some(r) = &req.reason {
        note.push_str(&format!(" (reason: {r})"));
    }
    note
}

/// A cancel of a drain that continued a cordon returns to the cordon: nothing it did is undone,
/// the master stays out of rotation. Returns whether it did (else the cancel goes on as usual).
pub(super) fn back_to_cordon(d: &mut Drain, agent: &str, notes: &mut Vec<String>) -> bool {
    let s = &mut d.state;
    if s.cordoned_at.is_none()
        || !matches!(d.phase, DrainPhase::Draining | DrainPhase::DeadlinePassed)
    {
        return false;
    }
    d.phase = DrainPhase::Cordoned;
    s.deadline_at = None;
    s.force_after_deadline = Some(false);
    s.drain_reason = None;
    s.message = None;
    s.cordon_clear = false;
    notes.push(format!(
        "drain cancelled: the master stays cordoned as before the drain (`bbctl uncordon {agent}` \
         puts it back in rotation)"
    ));
    true
}

#[cfg(test)]
#[path = "cordon_tests.rs"]
mod engine_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drain::model::DrainState;

    fn cordon(phase: DrainPhase) -> Drain {
        Drain {
            id: 1,
            phase,
            request: DrainRequest {
                deadline_secs: None,
                force_after_deadline: false,
                reason: Some("disk check".into()),
                requested_by: Some("ann@ops".into()),
                cordon: true,
            },
            state: DrainState {
                cordoned_at: Some(100.0),
                ..DrainState::default()
            },
            started_at: 100.0,
            finished_at: None,
        }
    }

    #[test]
    fn a_drain_continues_the_cordon_and_its_cancel_returns_to_it() {
        let mut d = cordon(DrainPhase::Cordoned);
        let req = DrainRequest {
            deadline_secs: Some(60.0),
            force_after_deadline: true,
            reason: Some("upgrade".into()),
            requested_by: None,
            cordon: false,
        };
        let note = continue_as_drain(&mut d, &req, Some("bob@ops".into()), 200.0);
        assert!(note.contains("continues from the cordon"), "{note}");
        assert_eq!(d.phase, DrainPhase::Draining);
        assert_eq!(d.state.deadline_at, Some(260.0));
        assert!(d.force_after_deadline());
        let status = d.status();
        assert_eq!(status.reason.as_deref(), Some("upgrade"));
        assert_eq!(status.requested_by.as_deref(), Some("bob@ops"));
        assert_eq!(status.cordoned_at, Some(100.0));

        let mut notes = Vec::new();
        assert!(back_to_cordon(&mut d, "m2", &mut notes));
        assert_eq!(d.phase, DrainPhase::Cordoned);
        assert_eq!(d.state.deadline_at, None);
        assert!(!d.force_after_deadline());
        assert_eq!(d.status().reason.as_deref(), Some("disk check"));
        assert!(notes[0].contains("stays cordoned"), "{notes:?}");
    }

    #[test]
    fn only_a_drain_that_continued_a_cordon_returns_to_it() {
        let mut notes = Vec::new();
        // The cordon itself: a cancel is the uncordon.
        assert!(!back_to_cordon(
            &mut cordon(DrainPhase::Cordoned),
            "m2",
            &mut notes
        ));
        // A failed drain is undone in full.
        assert!(!back_to_cordon(
            &mut cordon(DrainPhase::Failed),
            "m2",
            &mut notes
        ));
        // A plain drain.
        let mut plain = cordon(DrainPhase::Draining);
        plain.state.cordoned_at = None;
        assert!(!back_to_cordon(&mut plain, "m2", &mut notes));
        assert!(notes.is_empty());
        // Past its deadline, a drain that continued a cordon goes back to it too.
        assert!(back_to_cordon(
            &mut cordon(DrainPhase::DeadlinePassed),
            "m2",
            &mut notes
        ));
    }

    #[test]
    fn the_message_says_what_is_left_here() {
        assert!(message("m2", 0, 0).contains("no worker is attached"));
        let busy = message("m2", 3, 1);
        assert!(
            busy.contains("3 worker(s) still attached, 1 build(s) running"),
            "{busy}"
        );
        assert!(busy.contains("bbctl uncordon m2"));
    }
}
