//! The server-side drain of this master (issue 4; docs/drain.md): started, watched and cancelled
//! through `/v1/drain`, carried out by a background task that survives the client and, through
//! the `drains` table, the agent itself.
//!
//! Code map: `model` (what is persisted), `engine` (the state machine, one tick at a time),
//! `env` (Buildbot, twistd.log and the master process behind a trait), `pauses` (the workers it
//! pauses and unpauses), this module (the task, persistence, events, audit, and the API
//! operations).

pub mod crash;
pub mod engine;
pub mod env;
pub mod model;
mod pauses;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bbctl_api::{DrainPhase, DrainRequest, DrainStatus};
use tokio::task::JoinHandle;

use crate::db::{audit, drains, now};
use crate::error::{AppError, AppResult};
use crate::lb::{LoadBalancerHook, NoopHook};
use crate::master::process;
use crate::state::AppState;
use engine::Ctx;
use env::{DrainEnv, RealEnv};
use model::{Drain, DrainState};

/// How often the drain looks at Buildbot.
pub const TICK: Duration = Duration::from_millis(250);

/// The drain's in-memory side, part of [`AppState`].
#[derive(Default)]
pub struct DrainRuntime {
    /// The load-balancer hook, set once at startup (`crate::startup::build_state`).
    lb: OnceLock<Arc<dyn LoadBalancerHook>>,
    /// The current drain; held for a whole tick or API operation, so they never interleave.
    current: tokio::sync::Mutex<Option<Drain>>,
    /// The status last saved, for readiness, metrics and `GET /v1/master` without waiting.
    snapshot: Mutex<Option<DrainStatus>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl DrainRuntime {
    pub fn set_lb(&self, hook: Arc<dyn LoadBalancerHook>) {
        let _ = self.lb.set(hook);
    }

    pub fn lb(&self) -> Arc<dyn LoadBalancerHook> {
        self.lb.get().cloned().unwrap_or_else(|| Arc::new(NoopHook))
    }

    /// The last saved status (none before the first drain).
    pub fn snapshot(&self) -> Option<DrainStatus> {
        self.snapshot
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether a drain holds this master out of service (readiness answers `draining`).
    pub fn holds_master(&self) -> bool {
        self.snapshot()
            .is_some_and(|s| model::holds_master(s.phase))
    }

    fn set_snapshot(&self, status: DrainStatus) {
        *self.snapshot.lock().unwrap_or_else(|p| p.into_inner()) = Some(status);
    }

    fn set_task(&self, task: Option<JoinHandle<()>>) {
        let old = std::mem::replace(
            &mut *self.task.lock().unwrap_or_else(|p| p.into_inner()),
            task,
        );
        if let Some(old) = old {
            old.abort();
        }
    }
}

fn decode(row: drains::DrainRow) -> Result<Drain, AppError> {
    let bad =
        |what: &str, e: String| AppError::internal(format!("drain {}: bad {what}: {e}", row.id));
    Ok(Drain {
        id: row.id,
        phase: model::parse_phase(&row.phase).ok_or_else(|| bad("phase", row.phase.clone()))?,
        request: serde_json::from_str(&row.request).map_err(|e| bad("request", e.to_string()))?,
        state: serde_json::from_str(&row.state).map_err(|e| bad("state", e.to_string()))?,
        started_at: row.started_at,
        finished_at: row.finished_at,
    })
}

/// Loads the newest drain into `slot` if it is not there yet.
async fn load(state: &AppState, slot: &mut Option<Drain>) -> AppResult<()> {
    if slot.is_none()
        && let Some(row) = state.db().run(drains::latest).await?
    {
        let d = decode(row)?;
        state.drain().set_snapshot(d.status());
        *slot = Some(d);
    }
    Ok(())
}

/// Saves `d`, then announces and audits each step in `notes`.
async fn save(state: &AppState, d: &Drain, notes: Vec<String>) -> AppResult<()> {
    let (id, phase, finished) = (d.id, model::phase_name(d.phase), d.finished_at);
    let json = serde_json::to_string(&d.state).map_err(AppError::internal)?;
    let actor = d.state.requested_by.clone();
    let audit_notes = notes.clone();
    let phase_for_audit = phase.clone();
    state
        .db()
        .run(move |c| {
            drains::update(c, id, &phase, &json, finished)?;
            for n in &audit_notes {
                audit::append(
                    c,
                    actor.as_deref(),
                    "drain",
                    &format!("drain {id} ({phase_for_audit}): {n}"),
                )?;
            }
            Ok(())
        })
        .await?;
    let status = d.status();
    state.drain().set_snapshot(status.clone());
    for n in notes {
        tracing::info!(drain = d.id, phase = ?d.phase, "{n}");
        state.hub().publish_agent(
            "agent.drain",
            n.clone(),
            serde_json::json!({"id": d.id, "phase": d.phase, "step": n, "status": status}),
        );
    }
    Ok(())
}

/// `POST /v1/drain`: starts a drain, or returns the one that already holds the master (`false`).
/// The work runs in a task of its own, so a client that hangs up mid-request (a `bbctl` killed during the call)
/// cannot leave a drain persisted but never driven.
pub async fn start(
    state: &AppState,
    req: DrainRequest,
    header_actor: Option<String>,
) -> AppResult<(bool, DrainStatus)> {
    let state = state.clone();
    tokio::spawn(async move { start_now(&state, req, header_actor).await })
        .await
        .map_err(AppError::internal)?
}

async fn start_now(
    state: &AppState,
    req: DrainRequest,
    header_actor: Option<String>,
) -> AppResult<(bool, DrainStatus)> {
    let mut slot = state.drain().current.lock().await;
    load(state, &mut slot).await?;
    if let Some(d) = slot.as_ref()
        && model::holds_master(d.phase)
    {
        return Ok((false, d.status()));
    }
    if let Some(d) = slot.as_ref()
        && d.phase == DrainPhase::Failed
        && (d.state.routing_stopped || !d.state.paused_by_drain.is_empty())
    {
        return Err(AppError::conflict(format!(
            "drain {} failed and still holds workers paused or routing stopped: cancel it \
             first (DELETE /v1/drain)",
            d.id
        )));
    }
    if let Some(secs) = req.deadline_secs
        && !(secs.is_finite() && secs >= 0.0)
    {
        return Err(AppError::bad_request(
            "deadline_secs must be a non-negative number",
        ));
    }
    let lb = state.drain().lb();
    if lb.kind() == "none" {
        return Err(AppError::conflict(
            "no load-balancer hook is configured ([load_balancer] kind = \"haproxy\" or \
             \"relay\"): a drain could not hand workers off",
        ));
    }
    if process::running_pid(&state.config().master.basedir).is_none() {
        return Err(AppError::conflict("the master is not running"));
    }
    let env = RealEnv::new(state.clone());
    let masterid = env.masterid().await.map_err(|e| AppError::conflict(e.0))?;
    let started_at = now();
    let drain_state = DrainState {
        masterid,
        deadline_at: req.deadline_secs.map(|s| started_at + s),
        requested_by: req.requested_by.clone().or(header_actor),
        ..DrainState::default()
    };
    let request_json = serde_json::to_string(&req).map_err(AppError::internal)?;
    let state_json = serde_json::to_string(&drain_state).map_err(AppError::internal)?;
    let phase = model::phase_name(DrainPhase::Draining);
    let id = state
        .db()
        .run(move |c| drains::insert(c, &phase, &request_json, &state_json, started_at))
        .await?;
    let d = Drain {
        id,
        phase: DrainPhase::Draining,
        request: req,
        state: drain_state,
        started_at,
        finished_at: None,
    };
    let mut note = format!("drain started (masterid {masterid}");
    if let Some(r) = &d.request.reason {
        note.push_str(&format!(", reason: {r}"));
    }
    if let Some(t) = d.request.deadline_secs {
        note.push_str(&format!(
            ", deadline in {t} s, {}",
            if d.request.force_after_deadline {
                "then running builds are re-queued"
            } else {
                "then the drain stops"
            }
        ));
    }
    note.push(')');
    save(state, &d, vec![note]).await?;
    let status = d.status();
    *slot = Some(d);
    drop(slot);
    spawn_loop(state);
    Ok((true, status))
}

/// `GET /v1/drain`: the newest drain.
pub async fn status(state: &AppState) -> AppResult<Option<DrainStatus>> {
    let mut slot = state.drain().current.lock().await;
    load(state, &mut slot).await?;
    Ok(slot.as_ref().map(Drain::status))
}

/// `DELETE /v1/drain`: returns the master to full service. Like [`start`], it runs to the end in a task of its own even if
/// the client hangs up, so a cancel is never half done.
pub async fn cancel(state: &AppState) -> AppResult<DrainStatus> {
    let state = state.clone();
    tokio::spawn(async move { cancel_now(&state).await })
        .await
        .map_err(AppError::internal)?
}

async fn cancel_now(state: &AppState) -> AppResult<DrainStatus> {
    let mut slot = state.drain().current.lock().await;
    load(state, &mut slot).await?;
    let Some(d) = slot.as_mut() else {
        return Err(AppError::not_found("no drain"));
    };
    if !model::cancellable(d.phase) {
        return Err(AppError::conflict(format!(
            "the drain is {}: nothing to cancel{}",
            model::phase_name(d.phase),
            if d.phase == DrainPhase::Stopping {
                " (the master is being stopped)"
            } else {
                ""
            }
        )));
    }
    state.drain().set_task(None);
    run_cancel(state, d).await?;
    Ok(d.status())
}

async fn run_cancel(state: &AppState, d: &mut Drain) -> AppResult<()> {
    let env = RealEnv::new(state.clone());
    let lb = state.drain().lb();
    let ctx = Ctx {
        env: &env,
        lb: lb.as_ref(),
        agent: &state.config().name,
    };
    let mut notes = Vec::new();
    let result = engine::cancel(d, &ctx, now(), &mut notes).await;
    save(state, d, notes).await?;
    result.map_err(|e| AppError::upstream(format!("cancel incomplete, call it again: {e}")))
}

/// At agent startup: resumes a drain a previous agent left running (or finishes its cancel).
pub async fn resume(state: AppState) {
    let mut slot = state.drain().current.lock().await;
    if let Err(e) = load(&state, &mut slot).await {
        tracing::error!(error = %e, "cannot load the last drain");
        return;
    }
    let Some(d) = slot.as_mut() else { return };
    if d.state.cancel_requested && model::cancellable(d.phase) {
        tracing::warn!(
            drain = d.id,
            "finishing the cancel a previous agent started"
        );
        if let Err(e) = run_cancel(&state, d).await {
            tracing::error!(error = %e, "cannot finish the cancel");
        }
        return;
    }
    if model::is_running(d.phase) {
        tracing::warn!(drain = d.id, phase = ?d.phase, "resuming the drain a previous agent left running");
        let note = "the agent restarted; the drain resumes from its saved state".to_owned();
        if let Err(e) = save(&state, d, vec![note]).await {
            tracing::error!(error = %e, "cannot save the drain");
        }
        drop(slot);
        spawn_loop(&state);
    }
}

fn spawn_loop(state: &AppState) {
    let task = tokio::spawn(run_loop(state.clone()));
    state.drain().set_task(Some(task));
}

async fn run_loop(state: AppState) {
    let env = RealEnv::new(state.clone());
    let lb = state.drain().lb();
    let mut last_error: Option<String> = None;
    // Buildbot events (WAMP, or the polling source) wake the loop before the next tick is due:
    // a build's end or a worker's arrival is acted on at once.
    let mut events = state.hub().subscribe();
    loop {
        {
            let mut slot = state.drain().current.lock().await;
            let Some(d) = slot.as_mut() else { return };
            if !model::is_running(d.phase) {
                return;
            }
            let ctx = Ctx {
                env: &env,
                lb: lb.as_ref(),
                agent: &state.config().name,
            };
            let before = d.clone();
            let mut notes = Vec::new();
            let result = engine::tick(d, &ctx, now(), &mut notes).await;
            if let Err(e) = &result
                && last_error.as_deref() != Some(e.0.as_str())
            {
                tracing::warn!(drain = d.id, error = %e, "drain step failed; retrying");
                notes.push(format!("step failed, retrying: {e}"));
                last_error = Some(e.0.clone());
            } else if result.is_ok() {
                last_error = None;
            }
            if (*d != before || !notes.is_empty())
                && let Err(e) = save(&state, d, notes).await
            {
                tracing::error!(error = %e, "cannot save the drain");
            }
            if !model::is_running(d.phase) {
                return;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = relevant_event(&mut events) => {}
        }
    }
}

/// Resolves at the next Buildbot event about a build or a worker (or when events were missed).
async fn relevant_event(rx: &mut tokio::sync::broadcast::Receiver<bbctl_api::Event>) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match rx.recv().await {
            Ok(e)
                if e.kind.starts_with("buildbot.builds.")
                    || e.kind.starts_with("buildbot.workers.") =>
            {
                return;
            }
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => return,
            Err(RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}

/// The `[load_balancer]` settings as the `crate::lb` layer validates them.
pub fn lb_config(
    c: &crate::config::LoadBalancerConfig,
) -> Result<crate::lb::LbConfig, crate::lb::LbError> {
    use crate::config::LoadBalancerKind;
    let kind = match c.kind {
        LoadBalancerKind::None => "none",
        LoadBalancerKind::Haproxy => "haproxy",
        LoadBalancerKind::Relay => "relay",
    };
    crate::lb::LbConfig::try_from(crate::lb::LbSettings {
        kind: Some(kind.into()),
        runtime_socket: c.runtime_socket.clone(),
        backend: c.backend.clone(),
        server: c.server.clone(),
        listen: c.listen.clone(),
        target: c.target.clone(),
    })
}
