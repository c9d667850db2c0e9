//! The drain's API operations: start (idempotent), status, change (a new deadline or force),
//! cancel. Start, change and cancel each run to the end in a task of their own, so a client that hangs up mid-request (a `bbctl` killed
//! during the call) can leave neither a drain persisted but never driven nor a cancel half done.

use bbctl_api::{DrainChange, DrainPhase, DrainRequest, DrainStatus};

use super::change;
use super::cordon;
use super::ctx::Ctx;
use super::engine;
use super::env::{DrainEnv, RealEnv};
use super::model::{Drain, DrainState};
use super::{DrainError, Drains};
use crate::db::{drains, now};
use crate::master::process;

impl Drains {
    /// Starts a drain (`true`), or returns the one that already holds the master (`false`).
    /// `header_actor` is who asked, when the request does not say.
    pub async fn start(
        &self,
        req: DrainRequest,
        header_actor: Option<String>,
    ) -> Result<(bool, DrainStatus), DrainError> {
        let this = self.clone();
        tokio::spawn(async move { this.start_now(req, header_actor).await }).await?
    }

    /// The newest drain, if any ever ran here.
    pub async fn status(&self) -> Result<Option<DrainStatus>, DrainError> {
        let mut slot = self.inner.current.lock().await;
        self.load(&mut slot).await?;
        Ok(slot.as_ref().map(Drain::status))
    }

    /// Changes the deadline (from now) and/or `force_after_deadline` of the drain in progress.
    /// A drain whose deadline had passed goes on with the new one. `header_actor` is who asked,
    /// when the request does not say; the change is a step of the drain's history.
    pub async fn change(
        &self,
        req: DrainChange,
        header_actor: Option<String>,
    ) -> Result<DrainStatus, DrainError> {
        let this = self.clone();
        tokio::spawn(async move { this.change_now(req, header_actor).await }).await?
    }

    /// Returns the master to full service: unpauses what the drain paused, routes again.
    pub async fn cancel(&self) -> Result<DrainStatus, DrainError> {
        let this = self.clone();
        tokio::spawn(async move { this.cancel_now().await }).await?
    }

    async fn start_now(
        &self,
        req: DrainRequest,
        header_actor: Option<String>,
    ) -> Result<(bool, DrainStatus), DrainError> {
        let mut slot = self.inner.current.lock().await;
        self.load(&mut slot).await?;
        if let Some(d) = slot.as_mut()
            && d.phase.holds_master()
        {
            if d.phase != DrainPhase::Cordoned || req.cordon {
                return Ok((false, d.status()));
            }
            check_request(&req)?;
            let note = cordon::continue_as_drain(
                d,
                &req,
                req.requested_by.clone().or(header_actor),
                now(),
            );
            self.save(d, vec![note]).await?;
            let status = d.status();
            drop(slot);
            self.spawn_loop();
            return Ok((true, status));
        }
        self.check_can_start(slot.as_ref(), &req)?;
        let masterid = self
            .env()
            .masterid()
            .await
            .map_err(DrainError::MasterUnknown)?;
        let started_at = now();
        let state = DrainState {
            masterid,
            deadline_at: req.deadline_secs.map(|s| started_at + s),
            requested_by: req.requested_by.clone().or(header_actor),
            cordoned_at: req.cordon.then_some(started_at),
            ..DrainState::default()
        };
        let request_json = serde_json::to_string(&req)?;
        let state_json = serde_json::to_string(&state)?;
        let phase = if req.cordon {
            DrainPhase::Cordoned
        } else {
            DrainPhase::Draining
        };
        let phase_name = phase.as_str();
        let id = self
            .inner
            .db
            .run(move |c| drains::insert(c, phase_name, &request_json, &state_json, started_at))
            .await?;
        let d = Drain {
            id,
            phase,
            request: req,
            state,
            started_at,
            finished_at: None,
        };
        self.save(&d, vec![start_note(&d)]).await?;
        let status = d.status();
        *slot = Some(d);
        drop(slot);
        self.spawn_loop();
        Ok((true, status))
    }

    async fn change_now(
        &self,
        req: DrainChange,
        header_actor: Option<String>,
    ) -> Result<DrainStatus, DrainError> {
        if req.deadline_secs.is_none() && req.force_after_deadline.is_none() {
            return Err(DrainError::BadChange(
                "nothing to change: give deadline_secs and/or force_after_deadline",
            ));
        }
        if let Some(secs) = req.deadline_secs
            && !(secs.is_finite() && secs >= 0.0)
        {
            return Err(DrainError::BadDeadline);
        }
        let mut slot = self.inner.current.lock().await;
        self.load(&mut slot).await?;
        let Some(d) = slot.as_mut() else {
            return Err(DrainError::NoDrain);
        };
        let at = now();
        let actor = req.requested_by.clone().or(header_actor);
        let applied = change::apply(d, &req, actor.as_deref(), at)?;
        self.save_by(d, vec![applied.note], actor).await?;
        let status = d.status();
        drop(slot);
        if applied.resumed {
            self.spawn_loop();
        }
        Ok(status)
    }

    /// Refuses a drain that could not run: a failed one still holds the master, a bad
    /// deadline, no hook to hand workers off with, no master.
    fn check_can_start(&self, last: Option<&Drain>, req: &DrainRequest) -> Result<(), DrainError> {
        if let Some(d) = last
            && d.phase == DrainPhase::Failed
            && (d.state.routing_stopped || !d.state.paused_by_drain.is_empty())
        {
            return Err(DrainError::FailedHoldsMaster {
                id: d.id,
                agent: self.inner.this.agent.clone(),
            });
        }
        check_request(req)?;
        if self.lb().kind() == "none" {
            return Err(DrainError::NoHook);
        }
        if process::running_pid(&self.inner.this.basedir).is_none() {
            return Err(DrainError::MasterNotRunning);
        }
        Ok(())
    }

    async fn cancel_now(&self) -> Result<DrainStatus, DrainError> {
        let mut slot = self.inner.current.lock().await;
        self.load(&mut slot).await?;
        let Some(d) = slot.as_mut() else {
            return Err(DrainError::NoDrain);
        };
        if !d.phase.is_cancellable() {
            return Err(DrainError::NotCancellable {
                phase: d.phase.as_str(),
                detail: if d.phase == DrainPhase::Stopping {
                    " (the master is being stopped)"
                } else {
                    ""
                },
            });
        }
        self.set_task(None);
        self.run_cancel(d).await?;
        let status = d.status();
        // A drain that continued a cordon went back to it: the cordon goes on.
        let holds = d.phase.is_running();
        drop(slot);
        if holds {
            self.spawn_loop();
        }
        Ok(status)
    }

    /// Undoes what `d` changed and saves what was undone, even when a step failed.
    pub(super) async fn run_cancel(&self, d: &mut Drain) -> Result<(), DrainError> {
        let env = self.env();
        let lb = self.lb();
        let ctx = Ctx {
            env: &env,
            lb: lb.as_ref(),
            agent: &self.inner.this.agent,
        };
        let mut notes = Vec::new();
        let result = engine::cancel(d, &ctx, now(), &mut notes).await;
        self.save(d, notes).await?;
        result.map_err(DrainError::CancelIncomplete)
    }

    /// The real environment a drain acts on.
    pub(super) fn env(&self) -> RealEnv {
        RealEnv::new(
            self.inner.this.clone(),
            self.inner.rest.clone(),
            self.inner.runtime.clone(),
            self.inner.lifecycle.clone(),
        )
    }
}

/// Refuses a request that could not run: a bad deadline, a cordon with a deadline.
fn check_request(req: &DrainRequest) -> Result<(), DrainError> {
    if let Some(secs) = req.deadline_secs
        && !(secs.is_finite() && secs >= 0.0)
    {
        return Err(DrainError::BadDeadline);
    }
    if req.cordon && (req.deadline_secs.is_some() || req.force_after_deadline) {
        return Err(DrainError::CordonDeadline);
    }
    Ok(())
}

/// The first step of a drain, as its history tells it.
fn start_note(d: &Drain) -> String {
    let what = if d.request.cordon { "cordon" } else { "drain" };
    let mut note = format!("{what} started (masterid {}", d.state.masterid);
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
    note
}
