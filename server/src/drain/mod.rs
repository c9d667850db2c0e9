//! The server-side drain of this master (issue 4; docs/drain.md): started, watched and cancelled
//! through `/v1/drain`, carried out by a background task that survives the client and, through
//! the `drains` table, the agent itself.
//!
//! [`Drains`] is the service: it holds exactly what a drain acts on (the state DB, the event
//! hub, Buildbot's REST API, the master's lifecycle service and identity, the load-balancer
//! hook) and answers with its own errors ([`DrainError`], [`RoutingError`]); it knows nothing of
//! HTTP. What `GET /v1/master` shows of it goes through `crate::topology::DrainView`.
//!
//! Code map: `model` (what is persisted), `engine` (the state machine, one tick at a time) with
//! `ctx` (the parties it acts on), `here` (what one look shows on this master), `handoff` (its
//! per-worker steps), `pauses` (the workers it pauses and unpauses) and `crash` (a master that
//! dies under it), `env` (Buildbot, twistd.log and the master process behind a trait), `store`
//! (persistence, events, audit), `operations` (start, status, change, cancel) with `change` (a
//! new deadline or force for the drain in progress), `runner` (the
//! task, and its resumption after a restart), `stall` (a step that keeps failing), `routing`
//! (putting a master back in rotation), `leftovers` (what a forgotten drain left behind),
//! `cordon` (a drain that holds instead of stopping the master, and a drain continuing it),
//! `moves` (one idle worker moved off this master, for `bbctl workers rebalance`).

pub mod attach_repair;
mod change;
mod cordon;
pub mod crash;
mod ctx;
pub mod engine;
#[cfg(test)]
mod engine_fakes;
pub mod env;
mod error;
mod handoff;
mod here;
pub mod leftovers;
pub mod model;
pub mod moves;
mod operations;
mod pauses;
mod routing;
mod runner;
pub mod stall;
mod store;

use std::sync::{Arc, Mutex, OnceLock};

use bbctl_api::DrainStatus;
use futures_util::future::BoxFuture;
use tokio::task::JoinHandle;

use crate::buildbot::{BuildbotApi, Worker};
use crate::db::Db;
use crate::events::EventHub;
use crate::lb::{LoadBalancerHook, NoopHook};
use crate::master::MasterRuntime;
use crate::master::lifecycle::Lifecycle;
use crate::topology::{DrainView, ThisMaster};
pub use env::EnvError;
pub use error::{DrainError, RoutingError};
use model::Drain;
pub use routing::{Decision, DrainClaim, decide};
pub use runner::TICK;

/// The drain service. Cheap to clone: the background task holds a clone.
#[derive(Clone)]
pub struct Drains {
    inner: Arc<Inner>,
}

struct Inner {
    /// The agent's name (the pause reason names it), the master's basedir and REST URL.
    this: ThisMaster,
    db: Db,
    hub: EventHub,
    rest: Arc<dyn BuildbotApi>,
    /// This master's identity in Buildbot.
    runtime: Arc<MasterRuntime>,
    /// Stops the drained master, and restarts one that died under the drain.
    lifecycle: Lifecycle,
    /// The load-balancer hook, set once at startup (`crate::startup::build_state`); a relay
    /// binds its port when it is built, so it is made after the service.
    lb: OnceLock<Arc<dyn LoadBalancerHook>>,
    /// The current drain; held for a whole tick or API operation, so they never interleave.
    current: tokio::sync::Mutex<Option<Drain>>,
    /// The status last saved, for readiness, metrics and `GET /v1/master` without waiting.
    snapshot: Mutex<Option<DrainStatus>>,
    task: Mutex<Option<JoinHandle<()>>>,
    /// A previous agent left a worker move unfinished (`moves::recover_moves`).
    interrupted_move: std::sync::atomic::AtomicBool,
}

impl Drains {
    pub fn new(
        this: ThisMaster,
        db: Db,
        hub: EventHub,
        rest: Arc<dyn BuildbotApi>,
        runtime: Arc<MasterRuntime>,
        lifecycle: Lifecycle,
    ) -> Self {
        Drains {
            inner: Arc::new(Inner {
                this,
                db,
                hub,
                rest,
                runtime,
                lifecycle,
                lb: OnceLock::new(),
                current: tokio::sync::Mutex::new(None),
                snapshot: Mutex::new(None),
                task: Mutex::new(None),
                interrupted_move: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// Records that a previous agent left a worker move unfinished (read at startup).
    pub fn set_interrupted_move(&self, yes: bool) {
        self.inner
            .interrupted_move
            .store(yes, std::sync::atomic::Ordering::Relaxed);
    }

    /// Sets the load-balancer hook (once; later calls are ignored). Until then the hook is
    /// [`NoopHook`] (kind `none`).
    pub fn set_lb(&self, hook: Arc<dyn LoadBalancerHook>) {
        let _ = self.inner.lb.set(hook);
    }

    pub fn lb(&self) -> Arc<dyn LoadBalancerHook> {
        self.inner
            .lb
            .get()
            .cloned()
            .unwrap_or_else(|| Arc::new(NoopHook))
    }

    /// The last saved status (none before the first drain).
    pub fn snapshot(&self) -> Option<DrainStatus> {
        lock(&self.inner.snapshot).clone()
    }

    /// Whether a drain holds this master out of service (readiness answers `draining`).
    pub fn holds_master(&self) -> bool {
        self.snapshot().is_some_and(|s| s.phase.holds_master())
    }

    fn set_snapshot(&self, status: DrainStatus) {
        *lock(&self.inner.snapshot) = Some(status);
    }

    fn set_task(&self, task: Option<JoinHandle<()>>) {
        let old = std::mem::replace(&mut *lock(&self.inner.task), task);
        if let Some(old) = old {
            old.abort();
        }
    }
}

impl DrainView for Drains {
    fn status(&self) -> Option<DrainStatus> {
        self.snapshot()
    }

    /// What a drain this agent has no record of left in Buildbot and at the load balancer (see
    /// the `leftovers` module); the routing state is asked only when it matters.
    fn leftovers<'a>(&'a self, workers: &'a [Worker]) -> BoxFuture<'a, Vec<String>> {
        Box::pin(async move {
            let drain = self.snapshot();
            let routing = if leftovers::needs_routing(drain.as_ref()) {
                self.lb().routing_state().await.ok()
            } else {
                None
            };
            leftovers::problems(&self.inner.this.agent, drain.as_ref(), workers, routing)
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
