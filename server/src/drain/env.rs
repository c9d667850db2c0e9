//! Everything outside the agent that a drain reads or changes, behind the [`DrainEnv`] trait so
//! that the state machine (`super::engine`) is unit-tested with a fake while the end-to-end tests
//! use [`RealEnv`]: Buildbot's REST API (reads, and the worker `pause`/`unpause` JSON-RPC
//! control calls), the master's `twistd.log` (which connection each worker is attached by) and
//! the master process (its pid file; its start and stop through the agent's own lifecycle
//! service, `crate::master::lifecycle`).
//!
//! The load balancer is the other outside party; it has its own trait (`crate::lb`).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use bbctl_api::StopMode;
use futures_util::future::BoxFuture;

use crate::buildbot::{Build, BuildbotApi, Master, Worker, WorkerAction, WorkerRef};
use crate::lb::WorkerAttach;
use crate::lb::attach_log::{AttachLogFollower, AttachState};
use crate::master::lifecycle::Lifecycle;
use crate::master::operation::Requester;
use crate::master::{MasterRuntime, identity, logs, process};
use crate::topology::ThisMaster;

/// A failure of the environment: the drain retries the step on its next tick.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct EnvError(pub String);

/// One look at Buildbot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observation {
    pub masters: Vec<Master>,
    pub workers: Vec<Worker>,
    /// Running builds of every master.
    pub builds: Vec<Build>,
    /// Workers whose latest line in this master's log is `Worker.detached(NAME)`: the master saw
    /// the connection end, whatever its `connected_to` row still says (Buildbot keeps the row when
    /// the delete fails, e.g. while PostgreSQL restarts).
    pub logged_detached: BTreeSet<String>,
}

/// A worker's current attachment as this master logged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub attach: WorkerAttach,
    /// The attach handshake completed (closing earlier wedges Buildbot 4.3.0).
    pub settled: bool,
    /// The master logged `worker NAME cannot attach` for it, and nothing since.
    pub failed: bool,
}

pub trait DrainEnv: Send + Sync {
    /// This master's Buildbot id, if Buildbot knows it.
    fn masterid(&self) -> BoxFuture<'_, Result<i64, EnvError>>;
    fn observe(&self) -> BoxFuture<'_, Result<Observation, EnvError>>;
    /// Worker `pause` (`paused` = true) or `unpause` through the REST control API.
    fn set_paused<'a>(
        &'a self,
        workerid: i64,
        paused: bool,
        reason: &'a str,
    ) -> BoxFuture<'a, Result<(), EnvError>>;
    /// When build `buildid` completed (Buildbot's `complete_at`), if it has.
    fn build_complete_at(&self, buildid: i64) -> BoxFuture<'_, Option<f64>>;
    /// The build requests master `masterid` has claimed and not finished. Buildbot claims a
    /// request before it starts its build: a claimed request with no running build is a build
    /// being started, on a worker the REST API does not name yet.
    fn claimed_requests(&self, masterid: i64) -> BoxFuture<'_, Result<Vec<i64>, EnvError>>;
    /// The latest attachment of `worker` logged by this master.
    fn attachment(&self, worker: &str) -> Option<Attachment>;
    /// The workers whose latest attach this master logged as failed (`worker NAME cannot
    /// attach`), from its log alone.
    fn failed_attaches(&self) -> Vec<String>;
    fn master_running(&self) -> bool;
    /// The master died without a clean stop: `twistd.pid` is still there but names no live
    /// master (SIGKILL, OOM, a crash). A clean stop removes the pid file.
    fn master_crashed(&self) -> bool;
    /// Starts the master again from the same basedir (same Buildbot name) with the agent's own
    /// start logic; returns once it runs. Its start-up housekeeping marks the builds it had as
    /// RETRY and releases the build requests it had claimed.
    fn restart_master<'a>(&'a self, actor: Option<&'a str>) -> BoxFuture<'a, Result<(), EnvError>>;
    /// Stops the master (nothing runs on it any more: a clean shutdown exits at once).
    fn stop_master<'a>(&'a self, actor: Option<&'a str>) -> BoxFuture<'a, Result<(), EnvError>>;
}

/// The real environment of a running agent.
pub struct RealEnv {
    this: ThisMaster,
    rest: Arc<dyn BuildbotApi>,
    /// This master's identity in Buildbot, once found.
    runtime: Arc<MasterRuntime>,
    lifecycle: Lifecycle,
    /// Worker names from the last observation, so that a failed control call names the worker.
    worker_names: Mutex<HashMap<i64, String>>,
    log: Mutex<LogView>,
}

/// `twistd.log` followed from its start, plus the rotated `twistd.log.1` read once (a worker
/// that attached before the last rotation is only named there).
struct LogView {
    rotated: AttachState,
    current: AttachLogFollower,
}

impl RealEnv {
    pub fn new(
        this: ThisMaster,
        rest: Arc<dyn BuildbotApi>,
        runtime: Arc<MasterRuntime>,
        lifecycle: Lifecycle,
    ) -> Self {
        let mut rotated = AttachState::default();
        if let Ok(text) = std::fs::read_to_string(this.basedir.join("twistd.log.1")) {
            rotated.feed(&text);
        }
        let current = AttachLogFollower::new(logs::log_path(&this.basedir), 0);
        RealEnv {
            this,
            rest,
            runtime,
            lifecycle,
            worker_names: Mutex::default(),
            log: Mutex::new(LogView { rotated, current }),
        }
    }
}

impl RealEnv {
    /// The master's log, read up to its end.
    fn log_view(&self) -> std::sync::MutexGuard<'_, LogView> {
        let mut view = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = view.current.refresh() {
            tracing::warn!(error = %e, "cannot read twistd.log");
        }
        view
    }

    /// Which of `workers` this master's log last shows detaching.
    fn logged_detached(&self, workers: &[Worker]) -> BTreeSet<String> {
        let view = self.log_view();
        let current = view.current.state();
        workers
            .iter()
            .map(|w| w.name.as_str())
            .filter(|name| {
                current.detached_since_attach(name)
                    || (current.latest(name).is_none() && view.rotated.detached_since_attach(name))
            })
            .map(str::to_owned)
            .collect()
    }
}

impl DrainEnv for RealEnv {
    fn masterid(&self) -> BoxFuture<'_, Result<i64, EnvError>> {
        Box::pin(async {
            let masters = self
                .rest
                .masters()
                .await
                .map_err(|e| EnvError(e.to_string()))?;
            identity::find(&masters, &self.this.basedir, &self.runtime.identity)
                .map(|m| m.masterid)
                .ok_or_else(|| EnvError("this master is not listed in /api/v2/masters".into()))
        })
    }

    fn observe(&self) -> BoxFuture<'_, Result<Observation, EnvError>> {
        Box::pin(async {
            let rest = &self.rest;
            let (masters, workers, builds) =
                tokio::join!(rest.masters(), rest.workers(), rest.running_builds());
            let err = |e: crate::buildbot::RestError| EnvError(e.to_string());
            let workers = workers.map_err(err)?;
            *self.worker_names.lock().unwrap_or_else(|p| p.into_inner()) = workers
                .iter()
                .map(|w| (w.workerid, w.name.clone()))
                .collect();
            let logged_detached = self.logged_detached(&workers);
            Ok(Observation {
                masters: masters.map_err(err)?,
                workers,
                logged_detached,
                builds: builds
                    .map_err(err)?
                    .into_iter()
                    .filter(|b| !b.complete)
                    .collect(),
            })
        })
    }

    fn set_paused<'a>(
        &'a self,
        workerid: i64,
        paused: bool,
        reason: &'a str,
    ) -> BoxFuture<'a, Result<(), EnvError>> {
        let action = if paused {
            WorkerAction::Pause
        } else {
            WorkerAction::Unpause
        };
        Box::pin(async move {
            let name = self
                .worker_names
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&workerid)
                .cloned();
            let worker = WorkerRef {
                id: workerid,
                name: name.as_deref(),
            };
            // The error names the call, the status and the setting to fix
            // (`RestError::Refused`): it is what the drain records.
            self.rest
                .control_worker(worker, action, reason)
                .await
                .map_err(|e| EnvError(e.to_string()))
        })
    }

    fn build_complete_at(&self, buildid: i64) -> BoxFuture<'_, Option<f64>> {
        Box::pin(async move { self.rest.build_complete_at(buildid).await.ok().flatten() })
    }

    fn claimed_requests(&self, masterid: i64) -> BoxFuture<'_, Result<Vec<i64>, EnvError>> {
        Box::pin(async move {
            let claimed = self
                .rest
                .claimed_buildrequests(masterid)
                .await
                .map_err(|e| EnvError(e.to_string()))?;
            Ok(claimed.into_iter().map(|r| r.buildrequestid).collect())
        })
    }

    fn failed_attaches(&self) -> Vec<String> {
        let view = self.log_view();
        let current = view.current.state();
        let rotated = view
            .rotated
            .failed()
            .filter(|w| current.latest(w).is_none());
        current.failed().chain(rotated).map(str::to_owned).collect()
    }

    fn attachment(&self, worker: &str) -> Option<Attachment> {
        let view = self.log_view();
        let current = view.current.state();
        if let Some(a) = current.latest(worker) {
            return Some(Attachment {
                attach: a.clone(),
                settled: current.is_settled(worker),
                failed: current.attach_failed(worker),
            });
        }
        view.rotated.latest(worker).map(|a| Attachment {
            attach: a.clone(),
            settled: view.rotated.is_settled(worker),
            failed: view.rotated.attach_failed(worker),
        })
    }

    fn master_running(&self) -> bool {
        process::running_pid(&self.this.basedir).is_some()
    }

    fn master_crashed(&self) -> bool {
        let basedir = &self.this.basedir;
        process::read_pid(basedir).is_some() && process::running_pid(basedir).is_none()
    }

    fn restart_master<'a>(&'a self, actor: Option<&'a str>) -> BoxFuture<'a, Result<(), EnvError>> {
        Box::pin(async move {
            let who = Requester {
                actor: actor.map(str::to_owned),
                reason: Some(
                    "drain: the master process died; restarted to release its claims".into(),
                ),
            };
            self.lifecycle
                .start(who)
                .await
                .map(|_| ())
                .map_err(|e| EnvError(format!("restarting the master: {e}")))
        })
    }

    fn stop_master<'a>(&'a self, actor: Option<&'a str>) -> BoxFuture<'a, Result<(), EnvError>> {
        Box::pin(async move {
            let who = Requester {
                actor: actor.map(str::to_owned),
                reason: Some("drain: no build runs and no worker is attached".into()),
            };
            self.lifecycle
                .stop(StopMode::Graceful, who)
                .await
                .map(|_| ())
                .map_err(|e| EnvError(format!("stopping the master: {e}")))
        })
    }
}
