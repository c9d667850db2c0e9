//! The drain's per-worker steps (`super::engine`): hand each idle worker off by closing its one
//! session at the load balancer, follow it until this master has seen it leave (then unpause
//! it) and another master has seen it arrive, and — at a deadline with `force_after_deadline`
//! — hand busy workers off too, so that Buildbot re-queues their builds elsewhere.

use super::crash::attached_here;
use super::ctx::{Ctx, lb_err};
use super::env::{EnvError, Observation};
use super::here::Here;
use super::model::{DrainState, WorkerTrack};
use crate::buildbot::Worker;
use crate::lb::{CloseOutcome, LbError};

/// A close that found no session is tried again after this many seconds.
pub const CLOSE_RETRY_SECS: f64 = 5.0;
/// How long the master is kept up for handed-off workers to show up on another master (only to
/// report their latency; nothing waits on it otherwise).
pub const ELSEWHERE_WAIT_SECS: f64 = 10.0;
/// How long idle workers wait for a build being started on this master to get its worker.
pub const STARTING_WAIT_SECS: f64 = 15.0;

/// Why a worker's session is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CloseFor {
    /// It is idle: it leaves once its attach handshake has finished.
    Idle,
    /// The deadline passed while it runs a build: it leaves now.
    Deadline,
}

/// Hands off every worker attached here that runs no build here; a busy one is not free yet.
///
/// A worker is handed off only once it was idle on an earlier tick too and no build is being
/// started on this master: Buildbot picks a worker and claims the request before the build has a
/// row naming that worker, and closing the worker's connection in between leaves the build
/// wedged in its start (Buildbot 4.3.0: `AttributeError: 'NoneType' object has no attribute
/// 'workername'` in `Build.startBuild`, the build never finishes, a parent triggering it waits
/// for ever). The drain's pause stops new picks; these two checks cover the picks made before it.
pub(super) async fn hand_off_idle(
    s: &mut DrainState,
    ctx: &Ctx<'_>,
    here: &Here<'_>,
    now: f64,
    notes: &mut Vec<String>,
) -> Result<(), EnvError> {
    let mut due = Vec::new();
    for w in &here.workers {
        let track = s
            .workers
            .entry(w.name.clone())
            .or_insert_with(|| WorkerTrack {
                workerid: w.workerid,
                ..WorkerTrack::default()
            });
        if let Some(buildid) = here.build_of(w) {
            track.last_build = Some(buildid);
            if track.closed_at.is_none() {
                track.free_at = None;
            }
            continue;
        }
        match track.free_at {
            None => {
                track.free_at = Some(now);
                if track.closed_at.is_none() {
                    continue;
                }
            }
            Some(free) if free >= now && track.closed_at.is_none() => continue,
            Some(_) => {}
        }
        due.push(*w);
    }
    if due.is_empty() || starting_here(s, ctx, here, now, notes).await? {
        return Ok(());
    }
    // A close that fails (a load balancer that does not answer) does not hold up the others:
    // workers behind the load balancers that answer still leave; the first error is returned
    // once every worker was tried, so that the drain reports the failing step.
    let mut first_error = None;
    for w in due {
        let track = s.workers.get_mut(&w.name).expect("tracked above");
        if let Err(e) = close_session(w, track, ctx, now, CloseFor::Idle, notes).await {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Whether a build is being started on this master (a request it claimed has no build yet), so
/// that idle workers wait. After [`STARTING_WAIT_SECS`] of the same wait the drain goes on: a
/// start that takes that long is stuck in Buildbot, and no worker is ever freed by waiting.
async fn starting_here(
    s: &mut DrainState,
    ctx: &Ctx<'_>,
    here: &Here<'_>,
    now: f64,
    notes: &mut Vec<String>,
) -> Result<bool, EnvError> {
    let claimed = ctx.env.claimed_requests(s.masterid).await?;
    let starting: Vec<i64> = claimed
        .into_iter()
        .filter(|r| !here.requests.contains(r))
        .collect();
    if starting.is_empty() {
        s.starting_since = None;
        s.starting_noted = false;
        s.starting_overdue = false;
        return Ok(false);
    }
    let since = *s.starting_since.get_or_insert(now);
    // A build that just ended leaves its request claimed for a moment too: say nothing about
    // a wait shorter than a second.
    if now - since >= 1.0 && !s.starting_noted {
        s.starting_noted = true;
        notes.push(format!(
            "a build is being started here (build request {} claimed, no build yet): idle \
             workers are handed off once it has its worker",
            join(&starting)
        ));
    }
    if now - since < STARTING_WAIT_SECS {
        return Ok(true);
    }
    if !s.starting_overdue {
        s.starting_overdue = true;
        notes.push(format!(
            "build request {} is still claimed with no build after {STARTING_WAIT_SECS} s: \
             handing idle workers off anyway",
            join(&starting)
        ));
    }
    Ok(false)
}

fn join(ids: &[i64]) -> String {
    ids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Workers that left this master: each counts as handed off, is unpaused once this master has
/// seen it go (pause is global in Buildbot), and is reported when another master has it.
pub(super) async fn follow_departed(
    s: &mut DrainState,
    ctx: &Ctx<'_>,
    obs: &Observation,
    now: f64,
    notes: &mut Vec<String>,
) -> Result<(), EnvError> {
    let (mid, restarted) = (s.masterid, s.restarted_at.is_some());
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
        if attached_here(w, mid, restarted, obs.logged_detached.contains(name)) {
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
        note_arrival(name, track, w, obs, mid, now, notes);
    }
    Ok(())
}

/// Records, once, the master a departed worker `w` attached to and how long after it was free.
fn note_arrival(
    name: &str,
    track: &mut WorkerTrack,
    w: &Worker,
    obs: &Observation,
    mid: i64,
    now: f64,
    notes: &mut Vec<String>,
) {
    if track.attached_elsewhere_at.is_some() {
        return;
    }
    let Some(other) = w.connected_to.iter().find(|m| m.masterid != mid) else {
        return;
    };
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

/// At the deadline with `force_after_deadline`: closes the session of every worker still running
/// a build here. Buildbot ends that build RETRY and re-queues it on another master.
pub(super) async fn requeue_busy(
    s: &mut DrainState,
    ctx: &Ctx<'_>,
    here: &Here<'_>,
    now: f64,
    notes: &mut Vec<String>,
) -> Result<(), EnvError> {
    let mut first_error = None;
    for w in &here.workers {
        let Some(buildid) = here.build_of(w) else {
            continue;
        };
        if s.requeued.contains(&buildid) {
            continue;
        }
        let track = s.workers.entry(w.name.clone()).or_default();
        let closed = match close_session(w, track, ctx, now, CloseFor::Deadline, notes).await {
            Ok(closed) => closed,
            Err(e) => {
                first_error.get_or_insert(e);
                false
            }
        };
        if closed {
            track.forced = true;
            track.free_at = Some(now);
            s.requeued.insert(buildid);
            notes.push(format!(
                "deadline passed: build {buildid} on worker {} ends as RETRY and is re-queued \
                 on another master",
                w.name
            ));
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Whether a worker handed off lately may still show up on another master (the drain waits
/// [`ELSEWHERE_WAIT_SECS`] for that, to report it).
pub(super) fn arriving(s: &DrainState, now: f64) -> bool {
    s.workers.values().any(|t| {
        t.attached_elsewhere_at.is_none()
            && t.closed_at.is_some_and(|c| now - c < ELSEWHERE_WAIT_SECS)
    })
}

/// Closes `w`'s session unless its attach handshake is unfinished (an idle worker only) or a
/// close of the same session was just tried. Returns whether a close was attempted.
async fn close_session(
    w: &Worker,
    track: &mut WorkerTrack,
    ctx: &Ctx<'_>,
    now: f64,
    why: CloseFor,
    notes: &mut Vec<String>,
) -> Result<bool, EnvError> {
    let Some(att) = ctx.env.attachment(&w.name) else {
        return Ok(false);
    };
    if !att.settled && why == CloseFor::Idle {
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
        Err(e) => {
            // Not handed off: `closed_at` stays unset. The same session is tried again after
            // CLOSE_RETRY_SECS, not on every tick (a load balancer that does not answer costs
            // a connect timeout each time).
            track.closed_port = Some(att.attach.peer_port);
            track.close_tried_at = Some(now);
            return Err(lb_err(e));
        }
    }
    track.closed_at.get_or_insert(now);
    track.closed_port = Some(att.attach.peer_port);
    track.close_tried_at = Some(now);
    Ok(true)
}
