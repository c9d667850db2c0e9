//! A master process that dies under a drain (SIGKILL, the OOM killer, a crash) — fault 7 of
//! docs/faults.md.
//!
//! Buildbot leaves the build requests a dead master had claimed claimed *forever*, unless a master
//! with the same name (same host and basedir) starts again: its start-up housekeeping marks its
//! unfinished builds RETRY and releases their requests. The other masters only notice released
//! requests when something prompts them (a SIGHUP, a worker attaching, a worker unpaused). So the
//! drain, instead of failing: reports the crash, starts the master again from the same basedir
//! (through the agent's own start logic; routing stays stopped, so no worker comes back to it),
//! prompts the other masters, and drains on. Its workers lost their connections with the process
//! and reconnect to other masters by themselves.

use super::ctx::Ctx;
use super::env::{EnvError, Observation};
use super::model::Drain;
use crate::buildbot::Worker;
use bbctl_api::DrainPhase;

/// After this many restarts the drain gives up (phase `failed`): something kills the master.
pub const MAX_CRASH_RESTARTS: u32 = 3;

/// Whether `w` is attached to master `mid`. Buildbot keeps `connected_to` rows it did not delete:
/// those of the dead process after a crash restart (`restarted`), and one whose delete failed when
/// the master logged the worker's detach (`logged_detached`; e.g. PostgreSQL restarting at that
/// moment). A worker with such a row that is also connected to another master has left.
pub fn attached_here(w: &Worker, mid: i64, restarted: bool, logged_detached: bool) -> bool {
    let here = w.connected_to.iter().any(|m| m.masterid == mid);
    let stale_row = restarted || logged_detached;
    here && !(stale_row && w.connected_to.iter().any(|m| m.masterid != mid))
}

/// Handles a master that is not running while the drain is `draining`. Returns `Ok(true)` when
/// this was a crash (the tick ends here), `Ok(false)` for a clean stop outside the drain.
pub async fn dead_master(
    d: &mut Drain,
    ctx: &Ctx<'_>,
    now: f64,
    notes: &mut Vec<String>,
) -> Result<bool, EnvError> {
    let s = &mut d.state;
    if !s.restart_pending && !ctx.env.master_crashed() {
        return Ok(false);
    }
    if !s.restart_pending {
        if s.crash_restarts >= MAX_CRASH_RESTARTS {
            d.phase = DrainPhase::Failed;
            d.finished_at = Some(now);
            let msg = format!(
                "the master process died again after {} restart(s) by the drain; giving up \
                 (workers still paused by the drain: {}; `bbctl drain cancel {}` undoes it)",
                s.crash_restarts,
                s.paused_by_drain
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
                ctx.agent
            );
            s.message = Some(msg.clone());
            notes.push(msg);
            return Ok(true);
        }
        s.restart_pending = true;
        s.crash_restarts += 1;
        let lost = std::mem::take(&mut s.running);
        s.running_builds.clear();
        for (buildid, workerid) in &lost {
            s.requeued.insert(*buildid);
            if let Some(t) = s
                .workers
                .values_mut()
                .find(|t| Some(t.workerid) == *workerid)
            {
                t.free_at = Some(now);
                t.closed_at.get_or_insert(now);
            }
        }
        let ids: Vec<String> = lost.keys().map(i64::to_string).collect();
        let msg = format!(
            "the master process died under the drain (crash {}): its workers lost their \
             connections and reconnect to other masters; {}; restarting the master from the \
             same basedir so that Buildbot releases the build requests it had claimed",
            s.crash_restarts,
            if ids.is_empty() {
                "no build was running".to_owned()
            } else {
                format!(
                    "build(s) {} end RETRY and run again elsewhere",
                    ids.join(", ")
                )
            }
        );
        s.message = Some(msg.clone());
        notes.push(msg);
        return Ok(true);
    }
    ctx.env.restart_master(s.requested_by.as_deref()).await?;
    restarted(d, now, notes);
    Ok(true)
}

fn restarted(d: &mut Drain, now: f64, notes: &mut Vec<String>) {
    let s = &mut d.state;
    s.restart_pending = false;
    s.restarted_at = Some(now);
    s.nudge_due = true;
    let msg = "the master runs again under its old name: Buildbot marked its unfinished builds \
               RETRY and released its claimed build requests; the drain goes on (routing stays \
               stopped, so no worker comes back to it)"
        .to_owned();
    s.message = Some(msg.clone());
    notes.push(msg);
}

/// A restart that someone else did (the master runs again while a restart was pending).
pub fn restart_seen(d: &mut Drain, now: f64, notes: &mut Vec<String>) {
    if d.state.restart_pending {
        restarted(d, now, notes);
    }
}

/// Prompts the other masters to claim the released requests: an `unpause` of a worker that is
/// not paused changes nothing in Buildbot but makes the master holding it run
/// `maybeStartBuildsForWorker`. Workers that are paused (by the operator or by this drain) are
/// left alone.
pub async fn nudge(
    d: &mut Drain,
    ctx: &Ctx<'_>,
    obs: &Observation,
    notes: &mut Vec<String>,
) -> Result<(), EnvError> {
    let s = &mut d.state;
    if !s.nudge_due {
        return Ok(());
    }
    let mid = s.masterid;
    let mut prompted = Vec::new();
    for w in &obs.workers {
        let elsewhere = w.connected_to.iter().any(|m| m.masterid != mid);
        if !elsewhere || w.paused || s.operator_paused.contains(&w.name) {
            continue;
        }
        ctx.env
            .set_paused(
                w.workerid,
                false,
                "bbctl drain: prompt after a master restart",
            )
            .await?;
        prompted.push(w.name.clone());
    }
    s.nudge_due = false;
    notes.push(format!(
        "prompted the other masters to claim the released build requests (unpause of idle-capable \
         workers {})",
        if prompted.is_empty() {
            "— none connected yet; their attach prompts them".to_owned()
        } else {
            prompted.join(", ")
        }
    ));
    Ok(())
}
