//! The background task that drives a drain tick by tick until it ends — woken by the event
//! stream and a timer — and its resumption when a restarted agent finds a drain (or a cancel)
//! that a previous agent left unfinished.

use std::time::Duration;

use bbctl_api::DrainPhase;

use super::Drains;
use super::ctx::Ctx;
use super::engine;
use super::stall;
use crate::db::now;

/// How often the drain looks at Buildbot.
pub const TICK: Duration = Duration::from_millis(250);
/// How often a cordon that holds no worker looks (it may last days; a worker's arrival, a
/// Buildbot event, wakes it at once).
pub const CORDON_IDLE_TICK: Duration = Duration::from_secs(2);

impl Drains {
    /// At agent startup: resumes a drain a previous agent left running (or finishes its cancel).
    pub async fn resume(self) {
        let mut slot = self.inner.current.lock().await;
        if let Err(e) = self.load(&mut slot).await {
            tracing::error!(error = %e, "cannot load the last drain");
            return;
        }
        let Some(d) = slot.as_mut() else { return };
        if d.state.cancel_requested && d.phase.is_cancellable() {
            tracing::warn!(
                drain = d.id,
                "finishing the cancel a previous agent started"
            );
            if let Err(e) = self.run_cancel(d).await {
                tracing::error!(error = %e, "cannot finish the cancel");
            }
            return;
        }
        if d.phase.is_running() {
            tracing::warn!(drain = d.id, phase = ?d.phase, "resuming the drain a previous agent left running");
            let note = "the agent restarted; the drain resumes from its saved state".to_owned();
            if let Err(e) = self.save(d, vec![note]).await {
                tracing::error!(error = %e, "cannot save the drain");
            }
            drop(slot);
            self.spawn_loop();
        }
    }

    pub(super) fn spawn_loop(&self) {
        let task = tokio::spawn(self.clone().run_loop());
        self.set_task(Some(task));
    }

    async fn run_loop(self) {
        let env = self.env();
        let lb = self.lb();
        // Buildbot events (WAMP, or the polling source) wake the loop before the next tick is
        // due: a build's end or a worker's arrival is acted on at once.
        let mut events = self.inner.hub.subscribe();
        loop {
            let pause = {
                let mut slot = self.inner.current.lock().await;
                let Some(d) = slot.as_mut() else { return };
                if !d.phase.is_running() {
                    return;
                }
                let ctx = Ctx {
                    env: &env,
                    lb: lb.as_ref(),
                    agent: &self.inner.this.agent,
                };
                let before = d.clone();
                let mut notes = Vec::new();
                let at = now();
                let result = engine::tick(d, &ctx, at, &mut notes).await;
                let note = match &result {
                    Err(e) => stall::failed(&mut d.state, e, at),
                    Ok(()) => stall::succeeded(&mut d.state, at),
                };
                if let Some(note) = note {
                    if let Err(e) = &result {
                        tracing::warn!(drain = d.id, error = %e, "drain step failed; retrying");
                    }
                    notes.push(note);
                }
                if (*d != before || !notes.is_empty())
                    && let Err(e) = self.save(d, notes).await
                {
                    tracing::error!(error = %e, "cannot save the drain");
                }
                if !d.phase.is_running() {
                    return;
                }
                if d.phase == DrainPhase::Cordoned && d.state.cordon_clear {
                    CORDON_IDLE_TICK
                } else {
                    TICK
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = relevant_event(&mut events) => {}
            }
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
