//! Moving one idle worker off this master (`POST /v1/workers/{name}/move`; issue 16): the step
//! `bbctl workers rebalance` repeats. It is the drain's handoff for one worker, with the master
//! staying in service:
//!
//! 1. refused while a drain (or cordon) holds the master, without a load-balancer hook, while
//!    the master is not running or not in rotation, for a worker not attached here;
//! 2. skipped, nothing changed, for a worker that runs a build here (or while a build is being
//!    started here: Buildbot has claimed a request and not named its worker yet), one paused by
//!    an operator, one whose attach handshake has not finished;
//! 3. the worker is paused (no new build starts on it) and looked at again — busy by then, it is
//!    unpaused and skipped;
//! 4. routing to this master stops at every load balancer, the worker's one session is closed,
//!    and the move waits (at most the request's timeout) for this master to see it leave and
//!    another active master to have it;
//! 5. whatever happened, its pause is undone and routing comes back.
//!
//! It runs under the drain lock, so never beside a drain tick. Recorded as a `move_worker`
//! operation: an agent that dies mid-move leaves it unfinished, and the next agent puts routing
//! back and unpauses the worker ([`Drains::recover_moves`]).

use std::time::Duration;

use bbctl_api::{MoveOutcome, MoveRequest, MoveResult};

use super::Drains;
use super::crash::attached_here;
use super::env::{DrainEnv, EnvError, Observation};
use crate::buildbot::Worker;
use crate::db::{DbError, now, operations};
use crate::lb::{LbError, LoadBalancerHook, Routing};
use crate::master::process;

/// How long a move waits for the worker on another master, unless the request says.
pub const MOVE_TIMEOUT_SECS: f64 = 30.0;
/// The longest timeout a request may ask for.
pub const MAX_MOVE_TIMEOUT_SECS: f64 = 600.0;
/// How often a move looks while it waits.
const POLL: Duration = Duration::from_millis(250);
/// The operation kind in the `operations` table.
pub const MOVE_KIND: &str = "move_worker";

/// The reason a move gives Buildbot when it pauses the worker: it names the agent, so that a
/// pause a move left behind (the agent died) is recognised and undone.
pub fn move_reason(agent: &str) -> String {
    format!("bbctl move of {agent}")
}

/// Why a move was refused (nothing changed) or failed.
#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    #[error("timeout_secs must be a number from 1 to {MAX_MOVE_TIMEOUT_SECS}")]
    BadTimeout,
    #[error(
        "a drain or cordon holds this master: it hands its workers off itself (`bbctl drain \
         status`)"
    )]
    DrainHoldsMaster,
    #[error(
        "no load-balancer hook is configured ([load_balancer] kind = \"haproxy\" or \"relay\"): \
         the worker would reconnect straight back"
    )]
    NoHook,
    #[error("the master is not running")]
    MasterNotRunning,
    #[error(
        "this master is not in the load balancer's rotation ({0}): its workers are not moved \
         (`bbctl routing status`)"
    )]
    NotInRotation(&'static str),
    #[error("Buildbot knows no worker `{0}`")]
    UnknownWorker(String),
    #[error("worker `{0}` is not attached to this master")]
    NotHere(String),
    #[error("{0}")]
    Env(#[from] EnvError),
    #[error("load balancer: {0}")]
    Lb(#[from] LbError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("move task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The timeout a request asks for, checked.
fn timeout_of(req: &MoveRequest) -> Result<f64, MoveError> {
    match req.timeout_secs {
        None => Ok(MOVE_TIMEOUT_SECS),
        Some(t) if t.is_finite() && (1.0..=MAX_MOVE_TIMEOUT_SECS).contains(&t) => Ok(t),
        Some(_) => Err(MoveError::BadTimeout),
    }
}

/// Why `w` is not moved now, if it is not: a build runs on it here, a build is being started
/// here (`starting`), an operator paused it.
pub fn skip(obs: &Observation, w: &Worker, mid: i64, starting: bool) -> Option<MoveOutcome> {
    let busy = obs
        .builds
        .iter()
        .any(|b| b.masterid == Some(mid) && b.workerid == Some(w.workerid));
    if busy || starting {
        return Some(MoveOutcome::Busy);
    }
    w.paused.then_some(MoveOutcome::Paused)
}

/// The other active master `name` is attached to, once this master `mid` no longer has it.
pub fn landed(obs: &Observation, name: &str, mid: i64) -> Option<String> {
    let w = obs.workers.iter().find(|w| w.name == name)?;
    if attached_here(w, mid, false, obs.logged_detached.contains(name)) {
        return None;
    }
    w.connected_to
        .iter()
        .filter(|m| m.masterid != mid)
        .find_map(|m| {
            obs.masters
                .iter()
                .find(|x| x.masterid == m.masterid && x.active)
        })
        .map(|m| m.name.clone())
}

/// Whether a build is being started on master `mid`: a request it claimed has no running build.
async fn starting(env: &dyn DrainEnv, obs: &Observation, mid: i64) -> Result<bool, EnvError> {
    let claimed = env.claimed_requests(mid).await?;
    Ok(claimed.iter().any(|r| {
        !obs.builds
            .iter()
            .any(|b| b.masterid == Some(mid) && b.buildrequestid == Some(*r))
    }))
}

/// A move that was skipped: nothing changed.
fn skipped(name: &str, from: &str, outcome: MoveOutcome) -> MoveResult {
    let why = match outcome {
        MoveOutcome::Busy => {
            "it runs a build here (or one is being started here); a busy worker \
                              is never interrupted"
        }
        MoveOutcome::Paused => "it is paused (by an operator) and does no work",
        _ => "its attach handshake has not finished yet",
    };
    MoveResult {
        worker: name.to_owned(),
        outcome,
        from_master: from.to_owned(),
        to_master: None,
        closed_at: None,
        attached_elsewhere_at: None,
        seconds: 0.0,
        message: format!("worker {name} not moved: {why}"),
    }
}

/// Moves `name` off this master: the steps of the module doc against `env` and `lb`. `agent`
/// names the pause. Checks of the master's state (drain, hook, process, rotation) are the
/// caller's.
pub async fn move_one(
    env: &dyn DrainEnv,
    lb: &dyn LoadBalancerHook,
    agent: &str,
    name: &str,
    timeout: f64,
) -> Result<MoveResult, MoveError> {
    let mid = env.masterid().await?;
    let obs = env.observe().await?;
    let from = obs
        .masters
        .iter()
        .find(|m| m.masterid == mid)
        .map_or_else(|| format!("master {mid}"), |m| m.name.clone());
    let w = obs
        .workers
        .iter()
        .find(|w| w.name == name)
        .ok_or_else(|| MoveError::UnknownWorker(name.to_owned()))?;
    if !attached_here(w, mid, false, obs.logged_detached.contains(name)) {
        return Err(MoveError::NotHere(name.to_owned()));
    }
    if let Some(outcome) = skip(&obs, w, mid, starting(env, &obs, mid).await?) {
        return Ok(skipped(name, &from, outcome));
    }
    let Some(att) = env.attachment(name).filter(|a| a.settled) else {
        return Ok(skipped(name, &from, MoveOutcome::Attaching));
    };
    let workerid = w.workerid;
    let reason = move_reason(agent);
    env.set_paused(workerid, true, &reason).await?;
    // A build may have started on it between the look and the pause.
    let busy = async {
        let obs = env.observe().await?;
        let w = obs.workers.iter().find(|w| w.name == name);
        let starting = starting(env, &obs, mid).await?;
        Ok::<_, EnvError>(w.is_none_or(|w| skip(&obs, w, mid, starting) == Some(MoveOutcome::Busy)))
    }
    .await;
    if !matches!(busy, Ok(false)) {
        env.set_paused(workerid, false, &reason).await?;
        busy?;
        return Ok(skipped(name, &from, MoveOutcome::Busy));
    }
    let t0 = now();
    let moved = hand_over(env, lb, &att.attach, name, mid, timeout).await;
    // Whatever happened: the pause is undone and routing comes back; the first error wins.
    let unpaused = env.set_paused(workerid, false, &reason).await;
    let routed = lb.resume_routing().await;
    let (closed_at, landed) = moved?;
    unpaused?;
    routed?;
    let seconds = now() - t0;
    Ok(match landed {
        Some((to, at)) => MoveResult {
            worker: name.to_owned(),
            outcome: MoveOutcome::Moved,
            message: format!(
                "worker {name} moved from {from} to {to} in {seconds:.1} s (its connection \
                 closed, it reconnected through the load balancer)"
            ),
            from_master: from,
            to_master: Some(to),
            closed_at: Some(closed_at),
            attached_elsewhere_at: Some(at),
            seconds,
        },
        None => MoveResult {
            worker: name.to_owned(),
            outcome: MoveOutcome::NotSeenElsewhere,
            message: format!(
                "worker {name}'s connection was closed but it was not seen on another active \
                 master within {timeout:.0} s; routing is back and its pause undone (it \
                 reconnects wherever the load balancer sends it)"
            ),
            from_master: from,
            to_master: None,
            closed_at: Some(closed_at),
            attached_elsewhere_at: None,
            seconds,
        },
    })
}

/// Stops routing here, closes the worker's session and waits for it on another master. Returns
/// when the session was closed and where (and when) it landed, if it did in time.
async fn hand_over(
    env: &dyn DrainEnv,
    lb: &dyn LoadBalancerHook,
    attach: &crate::lb::WorkerAttach,
    name: &str,
    mid: i64,
    timeout: f64,
) -> Result<(f64, Option<(String, f64)>), MoveError> {
    lb.stop_routing().await?;
    lb.close_worker_session(attach).await?;
    let closed_at = now();
    while now() - closed_at < timeout {
        tokio::time::sleep(POLL).await;
        let obs = env.observe().await?;
        if let Some(to) = landed(&obs, name, mid) {
            return Ok((closed_at, Some((to, now()))));
        }
    }
    Ok((closed_at, None))
}

impl Drains {
    /// `POST /v1/workers/{name}/move`: moves one idle worker off this master (module doc).
    pub async fn move_worker(
        &self,
        name: String,
        req: MoveRequest,
        header_actor: Option<String>,
    ) -> Result<MoveResult, MoveError> {
        let this = self.clone();
        tokio::spawn(async move { this.move_now(name, req, header_actor).await }).await?
    }

    async fn move_now(
        &self,
        name: String,
        req: MoveRequest,
        header_actor: Option<String>,
    ) -> Result<MoveResult, MoveError> {
        let timeout = timeout_of(&req)?;
        let mut slot = self.inner.current.lock().await;
        self.load(&mut slot).await.map_err(|e| {
            MoveError::Env(EnvError(format!(
                "cannot read this master's last drain: {e}"
            )))
        })?;
        if slot.as_ref().is_some_and(|d| d.phase.holds_master()) {
            return Err(MoveError::DrainHoldsMaster);
        }
        let lb = self.lb();
        if lb.kind() == "none" {
            return Err(MoveError::NoHook);
        }
        if process::running_pid(&self.inner.this.basedir).is_none() {
            return Err(MoveError::MasterNotRunning);
        }
        match lb.routing_state().await? {
            Routing::Ready => {}
            other => {
                return Err(MoveError::NotInRotation(
                    bbctl_api::RoutingState::from(other).as_str(),
                ));
            }
        }
        let actor = req.requested_by.clone().or(header_actor);
        let detail = format!("worker {name}");
        let op = self
            .inner
            .db
            .run({
                let (actor, detail) = (actor.clone(), detail.clone());
                move |c| operations::begin(c, MOVE_KIND, actor.as_deref(), Some(detail.as_str()))
            })
            .await?;
        let env = self.env();
        let result = move_one(&env, lb.as_ref(), &self.inner.this.agent, &name, timeout).await;
        let (ok, message) = match &result {
            Ok(r) => (
                r.outcome == MoveOutcome::Moved || r.outcome.skipped(),
                r.message.clone(),
            ),
            Err(e) => (false, format!("worker {name} not moved: {e}")),
        };
        self.inner
            .db
            .run({
                let message = message.clone();
                move |c| operations::finish(c, op, ok, &message, &[]).map(|_| ())
            })
            .await?;
        tracing::info!(worker = %name, "{message}");
        self.inner.hub.publish_agent(
            "agent.worker_move",
            message,
            serde_json::json!({"worker": name, "result": result.as_ref().ok()}),
        );
        drop(slot);
        result
    }

    /// At agent startup: undoes what a move a previous agent left unfinished did — routing
    /// back (unless a drain holds the master, or the master does not run), and every worker
    /// paused with this agent's move reason unpaused. Routing is touched only when such a move
    /// was recorded; the pauses are looked for anyway. Retries while Buildbot does not answer
    /// (the master may still be starting), for at most five minutes.
    pub async fn recover_moves(self) {
        let interrupted = self
            .inner
            .interrupted_move
            .load(std::sync::atomic::Ordering::Relaxed);
        let reason = move_reason(&self.inner.this.agent);
        for _ in 0..300 {
            match self.recover_once(interrupted, &reason).await {
                Ok(()) => return,
                Err(e) => tracing::debug!(error = %e, "undoing an interrupted move; retrying"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        tracing::warn!("could not undo an interrupted worker move; see `bbctl masters show`");
    }

    async fn recover_once(&self, interrupted: bool, reason: &str) -> Result<(), MoveError> {
        if process::running_pid(&self.inner.this.basedir).is_none() {
            // No master here: nothing to route to, and no REST API to unpause through.
            return Ok(());
        }
        let mut slot = self.inner.current.lock().await;
        let _ = self.load(&mut slot).await;
        let held = slot.as_ref().is_some_and(|d| d.phase.holds_master());
        if interrupted && !held {
            let lb = self.lb();
            if lb.kind() != "none" && lb.routing_state().await? != Routing::Ready {
                lb.resume_routing().await?;
                tracing::warn!("routing back: a worker move a previous agent left unfinished");
            }
        }
        let env = self.env();
        let obs = env.observe().await?;
        for w in obs
            .workers
            .iter()
            .filter(|w| w.paused && w.pause_reason.as_deref() == Some(reason))
        {
            env.set_paused(w.workerid, false, reason).await?;
            tracing::warn!(worker = %w.name, "unpaused: a worker move a previous agent left unfinished");
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "moves_tests.rs"]
mod tests;
