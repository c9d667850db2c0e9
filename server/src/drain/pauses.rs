//! The drain's worker pauses: every worker attached to the draining master is paused (no new
//! build starts on it) before its session is cut, and unpaused once it has left — or all at once
//! when the drain is cancelled. Pause is global in Buildbot's DB, so every pause the drain made
//! is recorded in its state, and only those are undone.

use super::ctx::Ctx;
use super::env::EnvError;
use super::model::DrainState;
use crate::buildbot::Worker;

/// Pauses every worker in `here` that is not paused yet, all at once: an idle worker's handoff
/// waits for its pause, and one REST call after another adds up on a busy master. Every pause
/// that succeeded is recorded before the first failure is returned, so none is left unrecorded.
pub(super) async fn pause_all(
    s: &mut DrainState,
    ctx: &Ctx<'_>,
    here: &[&Worker],
    notes: &mut Vec<String>,
) -> Result<(), EnvError> {
    let reason = ctx.pause_reason();
    // Paused by this drain, but the agent died before it recorded that: undo it like the others.
    for w in here {
        if w.paused
            && w.pause_reason.as_deref() == Some(reason.as_str())
            && !s.paused_by_drain.contains_key(&w.name)
        {
            s.paused_by_drain.insert(w.name.clone(), w.workerid);
            notes.push(format!(
                "worker {} is paused by this drain (its pause was not recorded before the agent \
                 stopped); it is unpaused once it has left",
                w.name
            ));
        }
    }
    let due: Vec<&Worker> = here
        .iter()
        .filter(|w| !w.paused && !s.paused_by_drain.contains_key(&w.name))
        .copied()
        .collect();
    let results = futures_util::future::join_all(
        due.iter()
            .map(|w| ctx.env.set_paused(w.workerid, true, &reason)),
    )
    .await;
    let mut first_err = None;
    for (w, result) in due.iter().zip(results) {
        match result {
            Ok(()) => {
                s.paused_by_drain.insert(w.name.clone(), w.workerid);
                notes.push(format!(
                    "paused worker {} (no new build starts on it; a running one goes on)",
                    w.name
                ));
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    first_err.map_or(Ok(()), Err)
}

/// Unpauses every worker the drain paused.
pub(super) async fn unpause_all(
    s: &mut DrainState,
    ctx: &Ctx<'_>,
    notes: &mut Vec<String>,
) -> Result<(), EnvError> {
    let reason = ctx.pause_reason();
    for (name, wid) in s.paused_by_drain.clone() {
        ctx.env.set_paused(wid, false, &reason).await?;
        s.paused_by_drain.remove(&name);
        notes.push(format!("unpaused worker {name}"));
    }
    Ok(())
}
