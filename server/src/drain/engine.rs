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

use super::crash;
pub use super::ctx::Ctx;
use super::ctx::lb_err;
use super::env::{EnvError, Observation};
use super::handoff;
use super::here::Here;
use super::model::{Drain, DrainState};
use super::pauses::{pause_all, unpause_all};

/// Takes every step that is due now; `notes` receives one sentence per step taken.
pub async fn tick(
    d: &mut Drain,
    ctx: &Ctx<'_>,
    now: f64,
    notes: &mut Vec<String>,
) -> Result<(), EnvError> {
    match d.phase {
        DrainPhase::Draining | DrainPhase::Cordoned => draining(d, ctx, now, notes).await,
        DrainPhase::Stopping => stopping(d, ctx, now, notes).await,
        _ => Ok(()),
    }
}

/// One tick of a drain in progress (or of a cordon: the same steps, but it holds instead of
/// stopping the master and has no deadline): the steps below, in this order. A dead master and
/// a deadline reached without `force_after_deadline` end the tick early.
async fn draining(
    d: &mut Drain,
    ctx: &Ctx<'_>,
    now: f64,
    notes: &mut Vec<String>,
) -> Result<(), EnvError> {
    stop_routing(&mut d.state, ctx, notes).await?;
    if !ctx.env.master_running() {
        return master_not_running(d, ctx, now, notes).await;
    }
    crash::restart_seen(d, now, notes);
    let obs = ctx.env.observe().await?;
    crash::nudge(d, ctx, &obs, notes).await?;
    let here = Here::look(&obs, &d.state);
    let s = &mut d.state;
    remember_operator_pauses(s, ctx, &obs, notes);
    count_ended_builds(s, ctx, &here, now, notes).await;
    s.running_builds = here.running_builds(&obs);
    s.workers_attached = here.workers.len() as i64;
    pause_all(s, ctx, &here.workers, notes).await?;
    // Workers that left are followed (unpaused, reported) even while a close failed on a load
    // balancer that does not answer; the failure ends the tick after that.
    let handed = handoff::hand_off_idle(s, ctx, &here, now, notes).await;
    handoff::follow_departed(s, ctx, &obs, now, notes).await?;
    handed?;
    if d.phase == DrainPhase::Cordoned {
        super::cordon::hold(d, ctx.agent, &here, notes);
        return Ok(());
    }
    if deadline_passed(&d.state, &here, now) {
        if !d.force_after_deadline() {
            stop_at_deadline(d, ctx.agent, here.builds.len(), notes);
            return Ok(());
        }
        handoff::requeue_busy(&mut d.state, ctx, &here, now, notes).await?;
    }
    stop_when_done(d, ctx, &here, now, notes).await
}

/// The first step, once: the load balancer routes no new worker connection here.
async fn stop_routing(
    s: &mut DrainState,
    ctx: &Ctx<'_>,
    notes: &mut Vec<String>,
) -> Result<(), EnvError> {
    if s.routing_stopped {
        return Ok(());
    }
    ctx.lb.stop_routing().await.map_err(lb_err)?;
    s.routing_stopped = true;
    notes.push(format!(
        "load balancer ({}): no new worker connection is routed to this master",
        ctx.lb.kind()
    ));
    Ok(())
}

/// The master is not running: a crash is restarted (`super::crash`); a clean stop outside the
/// drain fails it, naming the workers it still holds paused.
async fn master_not_running(
    d: &mut Drain,
    ctx: &Ctx<'_>,
    now: f64,
    notes: &mut Vec<String>,
) -> Result<(), EnvError> {
    if crash::dead_master(d, ctx, now, notes).await? {
        return Ok(());
    }
    if d.phase == DrainPhase::Cordoned {
        // A cordon keeps no worker from working once its master is gone: the workers it still
        // held paused are free to run builds wherever they reconnect.
        unpause_all(&mut d.state, ctx, notes).await?;
    }
    let s = &mut d.state;
    d.phase = DrainPhase::Failed;
    d.finished_at = Some(now);
    let left: Vec<&str> = s.paused_by_drain.keys().map(String::as_str).collect();
    let msg = if s.cordoned_at.is_some() && left.is_empty() {
        format!(
            "the master process is not running (it stopped outside the cordon); the cordon \
             ended, its workers unpaused; routing stays stopped (`bbctl uncordon {}` puts it \
             back in rotation once the master runs)",
            ctx.agent
        )
    } else if left.is_empty() {
        "the master process is not running (it stopped outside the drain)".to_owned()
    } else {
        format!(
            "the master process is not running (it stopped outside the drain); workers \
             still paused by the drain: {} (`bbctl drain cancel {}` once the master runs, or \
             unpause them through another master)",
            left.join(", "),
            ctx.agent
        )
    };
    s.message = Some(msg.clone());
    notes.push(msg);
    Ok(())
}

/// On the first look only: the workers an operator had paused, which the drain never unpauses.
/// A worker paused with this drain's own reason was paused by it before the agent died with the
/// pause unrecorded: it is the drain's (`pause_all` adopts it), not an operator's.
fn remember_operator_pauses(
    s: &mut DrainState,
    ctx: &Ctx<'_>,
    obs: &Observation,
    notes: &mut Vec<String>,
) {
    if s.initialized {
        return;
    }
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

/// Counts the builds that ended since the last look (finished, or re-queued by a handoff at the
/// deadline); a worker whose build ended is free from the build's end. Then remembers the builds
/// running now.
async fn count_ended_builds(
    s: &mut DrainState,
    ctx: &Ctx<'_>,
    here: &Here<'_>,
    now: f64,
    notes: &mut Vec<String>,
) {
    let ended: Vec<(i64, Option<i64>)> = s
        .running
        .iter()
        .filter(|(id, _)| !here.builds.contains_key(id))
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
    s.running = here.builds.clone();
}

/// Whether the deadline has passed with builds still running here.
fn deadline_passed(s: &DrainState, here: &Here<'_>, now: f64) -> bool {
    s.deadline_at.is_some_and(|t| now >= t) && !here.builds.is_empty()
}

/// Without `force_after_deadline` the drain stops acting at its deadline: what it changed stays
/// until a cancel.
fn stop_at_deadline(d: &mut Drain, agent: &str, running: usize, notes: &mut Vec<String>) {
    d.phase = DrainPhase::DeadlinePassed;
    let msg = format!(
        "the deadline passed with {running} build(s) running; the drain changed nothing more: \
         routing stays stopped and its paused workers stay paused (`bbctl drain cancel {agent}` \
         restores full service; `bbctl drain {agent} --deadline D` lets it go on)"
    );
    d.state.message = Some(msg.clone());
    notes.push(msg);
}

/// Once no build runs and no worker is attached here, and the handed-off workers have had their
/// time to show up elsewhere: unpauses what the drain still holds paused and goes on to stop
/// the master.
async fn stop_when_done(
    d: &mut Drain,
    ctx: &Ctx<'_>,
    here: &Here<'_>,
    now: f64,
    notes: &mut Vec<String>,
) -> Result<(), EnvError> {
    if !here.builds.is_empty() || !here.workers.is_empty() || handoff::arriving(&d.state, now) {
        return Ok(());
    }
    unpause_all(&mut d.state, ctx, notes).await?;
    d.phase = DrainPhase::Stopping;
    notes.push("no build runs and no worker is attached: stopping the master".into());
    Ok(())
}

/// The last step: the master is stopped (nothing runs on it any more) and the drain sums up.
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
    s.running_builds.clear();
    s.workers_attached = 0;
    let msg = format!(
        "drained in {:.1} s: {} build(s) finished, {} re-queued, {}; master stopped; the load \
         balancer keeps this master out of rotation",
        now - d.started_at,
        s.builds_finished,
        s.requeued.len(),
        handoff_summary(s),
    );
    s.message = Some(msg.clone());
    notes.push(msg);
    Ok(())
}

/// How many workers were handed off and the slowest one's latency, when any was seen arriving.
fn handoff_summary(s: &DrainState) -> String {
    let handed = s.workers.values().filter(|t| t.closed_at.is_some()).count();
    let latencies: Vec<f64> = s
        .workers
        .values()
        .filter_map(|t| Some(t.attached_elsewhere_at? - t.free_at?))
        .collect();
    match latencies.iter().copied().reduce(f64::max) {
        _ if handed == 0 => "no worker had to be handed off".to_owned(),
        Some(max) => format!(
            "{handed} worker(s) handed off (slowest {max:.1} s from free to attached elsewhere)"
        ),
        None => format!("{handed} worker(s) handed off (none seen attached elsewhere yet)"),
    }
}

/// Returns the master to full service: unpause what the drain paused, route again. A drain that
/// continued a cordon goes back to holding the cordon instead (`super::cordon`).
pub async fn cancel(
    d: &mut Drain,
    ctx: &Ctx<'_>,
    now: f64,
    notes: &mut Vec<String>,
) -> Result<(), EnvError> {
    if super::cordon::back_to_cordon(d, ctx.agent, notes) {
        return Ok(());
    }
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
    let what = if d.phase == DrainPhase::Cordoned {
        "uncordoned"
    } else {
        "drain cancelled"
    };
    d.phase = DrainPhase::Cancelled;
    d.finished_at = Some(now);
    s.message = Some(format!("{what}: the master is back in full service"));
    notes.push(format!("{what}: the master is back in full service"));
    Ok(())
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
