//! The drain state machine: one [`tick`] looks at Buildbot and takes every step that is due;
//! [`cancel`] undoes what the drain changed. Every step is idempotent and recorded in the
//! persisted [`DrainState`] before the next, so a restarted agent simply ticks on.
//!
//! Mechanism (docs/drain.md): stop routing at the load balancer; pause every worker attached
//! here (no new build starts on it, a running build is untouched); close the session of each
//! worker with no running build (it reconnects through the load balancer to another master);
//! unpause it once this master has seen it leave (pause is global in Buildbot's DB); stop the
//! master once nothing runs and nothing is attached. SIGUSR1 is never sent while a build runs,
//! so a cancel can always return the master to service without a restart.

use bbctl_api::DrainPhase;

use super::crash::{self, attached_here};
use super::env::{DrainEnv, EnvError};
use super::model::{Drain, DrainState, WorkerTrack};
use super::pauses::{pause_all, unpause_all};
use crate::buildbot::Worker;
use crate::lb::{CloseOutcome, LbError, LoadBalancerHook};

/// A close that found no session is tried again after this many seconds.
pub const CLOSE_RETRY_SECS: f64 = 5.0;
/// How long the master is kept up for handed-off workers to show up on another master (only to
/// report their latency; nothing waits on it otherwise).
pub const ELSEWHERE_WAIT_SECS: f64 = 10.0;

/// The parties a drain acts on.
pub struct Ctx<'a> {
    pub env: &'a dyn DrainEnv,
    pub lb: &'a dyn LoadBalancerHook,
    /// The agent's name, for the pause reason.
    pub agent: &'a str,
}

impl Ctx<'_> {
    pub(super) fn pause_reason(&self) -> String {
        crate::topology::orphans::drain_pause_reason(self.agent)
    }
}

fn lb_err(e: LbError) -> EnvError {
    EnvError(format!("load balancer: {e}"))
}

/// Takes every step that is due now; `notes` receives one sentence per step taken.
pub async fn tick(
    d: &mut Drain,
    ctx: &Ctx<'_>,
    now: f64,
    notes: &mut Vec<String>,
) -> Result<(), EnvError> {
    match d.phase {
        DrainPhase::Draining => draining(d, ctx, now, notes).await,
        DrainPhase::Stopping => stopping(d, ctx, now, notes).await,
        _ => Ok(()),
    }
}

async fn draining(
    d: &mut Drain,
    ctx: &Ctx<'_>,
    now: f64,
    notes: &mut Vec<String>,
) -> Result<(), EnvError> {
    let s = &mut d.state;
    if !s.routing_stopped {
        ctx.lb.stop_routing().await.map_err(lb_err)?;
        s.routing_stopped = true;
        notes.push(format!(
            "load balancer ({}): no new worker connection is routed to this master",
            ctx.lb.kind()
        ));
    }
    if !ctx.env.master_running() {
        if crash::dead_master(d, ctx, now, notes).await? {
            return Ok(());
        }
        let s = &mut d.state;
        d.phase = DrainPhase::Failed;
        d.finished_at = Some(now);
        let left: Vec<&str> = s.paused_by_drain.keys().map(String::as_str).collect();
        let msg = if left.is_empty() {
            "the master process is not running (it stopped outside the drain)".to_owned()
        } else {
            format!(
                "the master process is not running (it stopped outside the drain); workers \
                 still paused by the drain: {} (DELETE /v1/drain once the master runs, or \
                 unpause them through another master)",
                left.join(", ")
            )
        };
        s.message = Some(msg.clone());
        notes.push(msg);
        return Ok(());
    }
    crash::restart_seen(d, now, notes);
    let obs = ctx.env.observe().await?;
    crash::nudge(d, ctx, &obs, notes).await?;
    let s = &mut d.state;
    let mid = s.masterid;
    let restarted = s.restarted_at.is_some();
    if !s.initialized {
        // A worker paused with this drain's own reason was paused by it before the agent died
        // with the pause unrecorded: it is the drain's (`pause_all` adopts it), not an operator's.
        let ours = ctx.pause_reason();
        s.operator_paused = obs
            .workers
            .iter()
            .filter(|w| w.paused && w.pause_reason.as_deref() != Some(ours.as_str()))
            .map(|w| w.name.clone())
            .collect();
        s.initialized = true;
        if !s.operator_paused.is_empty() {
            let names: Vec<&str> = s.operator_paused.iter().map(String::as_str).collect();
            notes.push(format!(
                "workers paused before the drain stay paused: {}",
                names.join(", ")
            ));
        }
    }

    // Builds: count those that ended since the last look.
    let mine: std::collections::BTreeMap<i64, Option<i64>> = obs
        .builds
        .iter()
        .filter(|b| b.masterid == Some(mid))
        .map(|b| (b.buildid, b.workerid))
        .collect();
    let ended: Vec<(i64, Option<i64>)> = s
        .running
        .iter()
        .filter(|(id, _)| !mine.contains_key(id))
        .map(|(id, w)| (*id, *w))
        .collect();
    for (buildid, workerid) in ended {
        // Buildbot's `complete_at` is whole seconds: the end lies in [complete_at,
        // complete_at + 1) and before this look.
        let end = ctx
            .env
            .build_complete_at(buildid)
            .await
            .map_or(now, |at| now.min(at + 1.0));
        if s.requeued.contains(&buildid) {
            notes.push(format!(
                "build {buildid} ended by the handoff at the deadline; Buildbot re-queues it"
            ));
        } else {
            s.builds_finished += 1;
            notes.push(format!("build {buildid} finished"));
        }
        if let Some(t) = s
            .workers
            .values_mut()
            .find(|t| Some(t.workerid) == workerid && t.closed_at.is_none())
        {
            t.free_at = Some(end);
        }
    }
    s.running = mine.clone();

    // Workers attached here: pause, then hand off the idle ones.
    let here: Vec<&Worker> = obs
        .workers
        .iter()
        .filter(|w| attached_here(w, mid, restarted))
        .collect();
    s.workers_attached = here.len() as i64;
    pause_all(s, ctx, &here, notes).await?;
    for w in &here {
        let track = s
            .workers
            .entry(w.name.clone())
            .or_insert_with(|| WorkerTrack {
                workerid: w.workerid,
                ..WorkerTrack::default()
            });
        if let Some((buildid, _)) = mine.iter().find(|(_, wid)| **wid == Some(w.workerid)) {
            track.last_build = Some(*buildid);
            if track.closed_at.is_none() {
                track.free_at = None;
            }
            continue;
        }
        track.free_at.get_or_insert(now);
        close_session(w, track, ctx, now, false, notes).await?;
    }

    // Workers that left: unpause them, and watch them arrive on another master.
    let reason = ctx.pause_reason();
    let DrainState {
        workers,
        paused_by_drain,
        ..
    } = s;
    for (name, track) in workers.iter_mut() {
        let Some(w) = obs.workers.iter().find(|w| &w.name == name) else {
            continue;
        };
        if attached_here(w, mid, restarted) {
            continue;
        }
        if track.closed_at.is_none() {
            // It left by itself; it counts as handed off from now.
            track.closed_at = Some(now);
            track.free_at.get_or_insert(now);
        }
        if let Some(wid) = paused_by_drain.get(name).copied() {
            ctx.env.set_paused(wid, false, &reason).await?;
            paused_by_drain.remove(name);
            notes.push(format!(
                "unpaused worker {name}: this master saw it leave; it is usable where it reconnects"
            ));
        }
        if track.attached_elsewhere_at.is_none()
            && let Some(other) = w.connected_to.iter().find(|m| m.masterid != mid)
        {
            let to = obs
                .masters
                .iter()
                .find(|m| m.masterid == other.masterid)
                .map_or_else(|| format!("master {}", other.masterid), |m| m.name.clone());
            track.attached_elsewhere_at = Some(now);
            let free = track.free_at.unwrap_or(now);
            notes.push(format!(
                "worker {name} attached to {to} {:.1} s after it was free",
                now - free
            ));
            track.to_master = Some(to);
        }
    }

    // The deadline.
    if s.deadline_at.is_some_and(|t| now >= t) && !mine.is_empty() {
        if !d.request.force_after_deadline {
            d.phase = DrainPhase::DeadlinePassed;
            let msg = format!(
                "the deadline passed with {} build(s) running; the drain changed nothing more: \
                 routing stays stopped and its paused workers stay paused (DELETE /v1/drain \
                 restores full service)",
                mine.len()
            );
            s.message = Some(msg.clone());
            notes.push(msg);
            return Ok(());
        }
        for w in &here {
            let Some((buildid, _)) = mine.iter().find(|(_, wid)| **wid == Some(w.workerid)) else {
                continue;
            };
            if s.requeued.contains(buildid) {
                continue;
            }
            let track = s.workers.entry(w.name.clone()).or_default();
            if close_session(w, track, ctx, now, true, notes).await? {
                track.forced = true;
                track.free_at = Some(now);
                s.requeued.insert(*buildid);
                notes.push(format!(
                    "deadline passed: build {buildid} on worker {} ends as RETRY and is re-queued \
                     on another master",
                    w.name
                ));
            }
        }
    }

    // Done here?
    if mine.is_empty() && here.is_empty() {
        let arriving = s.workers.values().any(|t| {
            t.attached_elsewhere_at.is_none()
                && t.closed_at.is_some_and(|c| now - c < ELSEWHERE_WAIT_SECS)
        });
        if !arriving {
            unpause_all(s, ctx, notes).await?;
            d.phase = DrainPhase::Stopping;
            notes.push("no build runs and no worker is attached: stopping the master".into());
        }
    }
    Ok(())
}

/// Closes `w`'s session unless the handshake is unfinished or a close was just tried. Returns
/// whether a close was attempted.
async fn close_session(
    w: &Worker,
    track: &mut WorkerTrack,
    ctx: &Ctx<'_>,
    now: f64,
    busy: bool,
    notes: &mut Vec<String>,
) -> Result<bool, EnvError> {
    let Some(att) = ctx.env.attachment(&w.name) else {
        return Ok(false);
    };
    if !att.settled && !busy {
        return Ok(false);
    }
    let same = track.closed_port == Some(att.attach.peer_port);
    if same
        && track
            .close_tried_at
            .is_some_and(|t| now - t < CLOSE_RETRY_SECS)
    {
        return Ok(false);
    }
    match ctx.lb.close_worker_session(&att.attach).await {
        Ok(CloseOutcome::Closed { session }) => notes.push(format!(
            "closed worker {}'s connection ({session}); it reconnects through the load balancer",
            w.name
        )),
        Err(LbError::SessionNotFound { .. }) => notes.push(format!(
            "worker {}: no live session from {}:{} (it may be leaving); trying again in {} s",
            w.name, att.attach.peer_host, att.attach.peer_port, CLOSE_RETRY_SECS
        )),
        Err(e) => return Err(lb_err(e)),
    }
    track.closed_at.get_or_insert(now);
    track.closed_port = Some(att.attach.peer_port);
    track.close_tried_at = Some(now);
    Ok(true)
}

async fn stopping(
    d: &mut Drain,
    ctx: &Ctx<'_>,
    now: f64,
    notes: &mut Vec<String>,
) -> Result<(), EnvError> {
    if ctx.env.master_running() {
        ctx.env.stop_master(d.state.requested_by.as_deref()).await?;
    }
    d.phase = DrainPhase::Drained;
    d.finished_at = Some(now);
    let s = &mut d.state;
    s.running.clear();
    s.workers_attached = 0;
    let latencies: Vec<f64> = s
        .workers
        .values()
        .filter_map(|t| Some(t.attached_elsewhere_at? - t.free_at?))
        .collect();
    let max = latencies.iter().copied().fold(0.0_f64, f64::max);
    let msg = format!(
        "drained in {:.1} s: {} build(s) finished, {} re-queued, {} worker(s) handed off \
         (slowest {:.1} s from free to attached elsewhere); master stopped; the load balancer \
         keeps this master out of rotation",
        now - d.started_at,
        s.builds_finished,
        s.requeued.len(),
        s.workers.values().filter(|t| t.closed_at.is_some()).count(),
        max
    );
    s.message = Some(msg.clone());
    notes.push(msg);
    Ok(())
}

/// Returns the master to full service: unpause what the drain paused, route again.
pub async fn cancel(
    d: &mut Drain,
    ctx: &Ctx<'_>,
    now: f64,
    notes: &mut Vec<String>,
) -> Result<(), EnvError> {
    let s = &mut d.state;
    s.cancel_requested = true;
    unpause_all(s, ctx, notes).await?;
    if s.routing_stopped {
        ctx.lb.resume_routing().await.map_err(lb_err)?;
        s.routing_stopped = false;
        notes.push(format!(
            "load balancer ({}): worker connections are routed to this master again",
            ctx.lb.kind()
        ));
    }
    d.phase = DrainPhase::Cancelled;
    d.finished_at = Some(now);
    s.message = Some("cancelled: the master is back in full service".into());
    notes.push("drain cancelled: the master is back in full service".into());
    Ok(())
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
