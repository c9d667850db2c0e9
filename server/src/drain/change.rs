//! A change to the drain in progress (`PATCH /v1/drain`; issue 12): a new deadline, counted from
//! now like the first one (it extends or shortens the drain), and/or `force_after_deadline`. A
//! drain that stopped at its deadline (`deadline_passed`) goes on under the new terms. Re-running
//! `bbctl drain NAME --deadline D` on a drain in progress applies D this way.

use bbctl_api::{DrainChange, DrainPhase};

use super::DrainError;
use super::model::Drain;

/// What a change did.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The drain had stopped at its deadline and goes on (its loop must be started again).
    pub resumed: bool,
    /// The step for the drain's history.
    pub note: String,
}

/// Applies `req` to `d` at `now`; refuses a drain that is not in progress and a force without
/// any deadline. `actor` is named in the note.
pub fn apply(
    d: &mut Drain,
    req: &DrainChange,
    actor: Option<&str>,
    now: f64,
) -> Result<Applied, DrainError> {
    match d.phase {
        DrainPhase::Draining | DrainPhase::DeadlinePassed => {}
        DrainPhase::Stopping => {
            return Err(DrainError::NotChangeable {
                phase: d.phase.as_str(),
                why: "nothing runs on the master any more, it is being stopped",
            });
        }
        DrainPhase::Cordoned => {
            return Err(DrainError::NotChangeable {
                phase: d.phase.as_str(),
                why: "a cordon takes no deadline; drain the master to give one",
            });
        }
        _ => {
            return Err(DrainError::NotChangeable {
                phase: d.phase.as_str(),
                why: "it has ended; a deadline only applies to a drain in progress",
            });
        }
    }
    let (old_deadline, old_force) = (d.state.deadline_at, d.force_after_deadline());
    let new_deadline = req.deadline_secs.map(|secs| now + secs).or(old_deadline);
    let new_force = req.force_after_deadline.unwrap_or(old_force);
    if new_force && new_deadline.is_none() {
        return Err(DrainError::BadChange(
            "force_after_deadline needs a deadline: give deadline_secs too",
        ));
    }
    d.state.deadline_at = new_deadline;
    if req.force_after_deadline.is_some() {
        d.state.force_after_deadline = Some(new_force);
    }
    let mut parts = Vec::new();
    if req.deadline_secs.is_some() {
        parts.push(format!(
            "deadline changed from {} to {}",
            when(old_deadline, now),
            when(new_deadline, now)
        ));
    }
    if new_force != old_force {
        parts.push(format!(
            "at the deadline busy workers are now {}",
            if new_force {
                "handed off (their builds end RETRY and are re-queued elsewhere)"
            } else {
                "left alone (the drain stops there)"
            }
        ));
    }
    if parts.is_empty() {
        parts.push("drain terms unchanged".to_owned());
    }
    let resumed = d.phase == DrainPhase::DeadlinePassed;
    if resumed {
        d.phase = DrainPhase::Draining;
        d.state.message = None;
        parts.push("the drain goes on".to_owned());
    }
    let mut note = parts.join("; ");
    if let Some(who) = actor {
        note.push_str(&format!(" (requested by {who})"));
    }
    Ok(Applied { resumed, note })
}

/// A deadline relative to `now`, for the note.
fn when(deadline: Option<f64>, now: f64) -> String {
    match deadline {
        None => "none".to_owned(),
        Some(t) if t >= now => format!("{:.0} s from now", t - now),
        Some(t) => format!("{:.0} s ago", now - t),
    }
}

#[cfg(test)]
mod tests {
    use bbctl_api::DrainRequest;

    use super::*;
    use crate::drain::model::DrainState;

    fn drain(phase: DrainPhase, deadline_at: Option<f64>, force: bool) -> Drain {
        Drain {
            id: 1,
            phase,
            request: DrainRequest {
                deadline_secs: deadline_at.map(|t| t - 100.0),
                force_after_deadline: force,
                reason: None,
                requested_by: Some("a@h".into()),
                cordon: false,
            },
            state: DrainState {
                deadline_at,
                ..DrainState::default()
            },
            started_at: 100.0,
            finished_at: None,
        }
    }

    fn change(deadline_secs: Option<f64>, force: Option<bool>) -> DrainChange {
        DrainChange {
            deadline_secs,
            force_after_deadline: force,
            requested_by: None,
        }
    }

    #[test]
    fn a_new_deadline_counts_from_now_and_is_noted_with_who_asked() {
        let mut d = drain(DrainPhase::Draining, Some(700.0), false);
        let a = apply(&mut d, &change(Some(60.0), None), Some("b@h"), 160.0).unwrap();
        assert_eq!(d.state.deadline_at, Some(220.0));
        assert!(!a.resumed && d.phase == DrainPhase::Draining);
        assert_eq!(
            a.note,
            "deadline changed from 540 s from now to 60 s from now (requested by b@h)"
        );
        assert!(!d.status().force_after_deadline);
        // Extending works the same way.
        apply(&mut d, &change(Some(3600.0), None), None, 170.0).unwrap();
        assert_eq!(d.state.deadline_at, Some(3770.0));
    }

    #[test]
    fn a_drain_stopped_at_its_deadline_goes_on_with_force() {
        let mut d = drain(DrainPhase::DeadlinePassed, Some(160.0), false);
        d.state.message = Some("the deadline passed".into());
        let a = apply(&mut d, &change(Some(0.0), Some(true)), None, 200.0).unwrap();
        assert!(a.resumed, "{a:?}");
        assert_eq!(d.phase, DrainPhase::Draining);
        assert_eq!(d.state.message, None);
        assert!(d.force_after_deadline() && d.status().force_after_deadline);
        assert!(
            a.note.contains("from 40 s ago to 0 s from now"),
            "{}",
            a.note
        );
        assert!(a.note.contains("handed off"), "{}", a.note);
        assert!(a.note.ends_with("the drain goes on"), "{}", a.note);
    }

    #[test]
    fn refused_changes_change_nothing() {
        let mut d = drain(DrainPhase::Draining, None, false);
        let before = d.clone();
        let err = apply(&mut d, &change(None, Some(true)), None, 150.0).unwrap_err();
        assert!(err.to_string().contains("needs a deadline"), "{err}");
        for phase in [
            DrainPhase::Stopping,
            DrainPhase::Drained,
            DrainPhase::Cancelled,
            DrainPhase::Failed,
        ] {
            let mut e = drain(phase, None, false);
            let err = apply(&mut e, &change(Some(60.0), None), None, 150.0).unwrap_err();
            assert!(
                err.to_string()
                    .starts_with(&format!("the drain is {phase}: ")),
                "{err}"
            );
            assert_eq!(e.state.deadline_at, None);
        }
        assert_eq!(d, before);
    }
}
