//! Topology: what this master is — its process, its row in Buildbot, its workers, builds and
//! claimed build requests — and the fleet as it sees it through the shared DB, read from the
//! master's pid file and Buildbot's REST API and converted into wire types.
//!
//! [`Topology`] is the service. It knows nothing of HTTP, and of the drain only what
//! [`DrainView`] tells it (the drain depends on topology, never the reverse). A REST failure does
//! not fail [`Topology::master_info`]: the process part is still true, and the failure is listed
//! in `problems`. The narrower reads (workers, builds, …) fail with [`TopologyError`], and so
//! does [`Topology::analysis`] (`analysis.rs`: the builds and log signals since a moment).

mod analysis;
pub mod cache;
pub mod convert;
mod info;
pub mod services;

use std::path::PathBuf;
use std::sync::Arc;

use bbctl_api::{
    BuildInfo, BuildRequestInfo, DrainPhase, DrainStatus, FleetView, MasterState, ProcessInfo,
    WorkerInfo,
};
use futures_util::future::BoxFuture;

pub use crate::buildbot::Snapshot;
use crate::buildbot::{BuildbotApi, Master, RestError, Worker};
use crate::lb::LbStatus;
use crate::master::{MasterRuntime, identity, process};
pub use info::Running;

/// Which master this agent owns and where it is (from `crate::config::AgentConfig`).
#[derive(Debug, Clone)]
pub struct ThisMaster {
    /// The agent's name as operators use it.
    pub agent: String,
    /// The master's basedir: its pid file, its log, the suffix of its Buildbot name.
    pub basedir: PathBuf,
    /// The master's REST base URL, ending with `/`.
    pub rest_url: String,
}

/// The drain's part of this master's picture; implemented by `crate::drain::Drains`.
pub trait DrainView: Send + Sync {
    /// The newest drain's last saved status (none before the first drain).
    fn status(&self) -> Option<DrainStatus>;
    /// What a drain this agent has no record of left among `workers`, one problem a line.
    fn leftovers<'a>(&'a self, workers: &'a [Worker]) -> BoxFuture<'a, Vec<String>>;
}

/// An uptime to the tenth of a second: `/proc` counts in clock ticks, and the float arithmetic
/// of ticks into seconds leaves noise (`12.300000000001`) that nobody should have to read.
fn tenths(secs: f64) -> f64 {
    (secs * 10.0).round() / 10.0
}

/// Why a read of this master's workers, builds, requests or of the fleet failed.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    /// Buildbot's REST API did not answer as expected.
    #[error(transparent)]
    Rest(#[from] RestError),
    #[error("this master is not (yet) known to Buildbot; start it first")]
    NotKnown,
    /// `GET /v1/master/analysis` with a `since` that is no moment to look from.
    #[error(
        "`since` must be Unix seconds, not negative and at most a day ahead of the agent's clock \
         (got {0})"
    )]
    BadSince(f64),
}

/// The topology service. Cheap to clone.
#[derive(Clone)]
pub struct Topology {
    inner: Arc<Inner>,
}

struct Inner {
    this: ThisMaster,
    rest: Arc<dyn BuildbotApi>,
    /// The snapshot the topology reads share (`cache.rs`).
    snapshots: cache::SnapshotCache,
    /// The master's identity cache, lifecycle phase and version caches.
    runtime: Arc<MasterRuntime>,
    drain: Arc<dyn DrainView>,
    /// Whether the load balancer routes workers here (asked with a short timeout).
    lb: LbStatus,
}

impl Topology {
    /// `seq` says the number of the agent's last event: a new one makes the next read take a new
    /// snapshot.
    pub fn new(
        this: ThisMaster,
        rest: Arc<dyn BuildbotApi>,
        runtime: Arc<MasterRuntime>,
        drain: Arc<dyn DrainView>,
        lb: LbStatus,
        seq: cache::EventSeq,
    ) -> Self {
        Topology {
            inner: Arc::new(Inner {
                this,
                snapshots: cache::SnapshotCache::new(rest.clone(), seq),
                rest,
                runtime,
                drain,
                lb,
            }),
        }
    }

    /// The process part, from `twistd.pid` and `/proc`.
    pub fn process(&self) -> ProcessInfo {
        match process::running_pid(&self.inner.this.basedir) {
            Some(pid) => ProcessInfo {
                running: true,
                pid: Some(pid),
                uptime_secs: process::uptime_secs(pid).map(tenths),
            },
            None => ProcessInfo {
                running: false,
                pid: None,
                uptime_secs: None,
            },
        }
    }

    /// The master's state as the agent sees it: a lifecycle operation under way, else what a
    /// drain did to it, else the process and its Buildbot row (`row`).
    pub fn master_state(&self, running: bool, row: Option<&Master>) -> MasterState {
        if let Some(phase) = self.inner.runtime.phase() {
            return phase;
        }
        if let Some(d) = self.inner.drain.status() {
            if d.phase == DrainPhase::Cordoned && running {
                return MasterState::Cordoned;
            }
            if d.phase.holds_master() && running {
                return MasterState::Draining;
            }
            if d.phase == DrainPhase::Drained && !running {
                return MasterState::Drained;
            }
        }
        match (running, row) {
            (false, _) => MasterState::Stopped,
            (true, Some(m)) if m.active => MasterState::Running,
            (true, _) => MasterState::Unhealthy,
        }
    }

    /// This master's row in `masters`, if Buildbot lists it.
    fn find<'a>(&self, masters: &'a [Master]) -> Option<&'a Master> {
        identity::find(
            masters,
            &self.inner.this.basedir,
            &self.inner.runtime.identity,
        )
    }

    /// The shared snapshot (`cache.rs`) and its age.
    pub async fn snapshot(&self) -> Result<(Arc<Snapshot>, std::time::Duration), RestError> {
        let shared = self.inner.snapshots.get().await;
        Ok((shared.snap?, shared.age))
    }

    /// One snapshot and this master's id in it.
    async fn snapshot_with_id(&self) -> Result<(Arc<Snapshot>, i64), TopologyError> {
        let (snap, _) = self.snapshot().await?;
        let id = self
            .find(&snap.masters)
            .map(|m| m.masterid)
            .ok_or(TopologyError::NotKnown)?;
        Ok((snap, id))
    }

    /// Workers attached to this master.
    pub async fn workers(&self) -> Result<Vec<WorkerInfo>, TopologyError> {
        let (snap, id) = self.snapshot_with_id().await?;
        Ok(convert::workers_of(&snap, id))
    }

    /// Builds running on this master.
    pub async fn builds(&self) -> Result<Vec<BuildInfo>, TopologyError> {
        let (snap, id) = self.snapshot_with_id().await?;
        Ok(convert::builds_of(&snap, id))
    }

    /// Incomplete build requests this master claimed.
    pub async fn buildrequests(&self) -> Result<Vec<BuildRequestInfo>, TopologyError> {
        let (snap, id) = self.snapshot_with_id().await?;
        Ok(convert::requests_of(&snap, id))
    }

    /// Every master, worker, running build, claimed request and clustered service of the fleet.
    pub async fn fleet(&self) -> Result<FleetView, TopologyError> {
        let rest = self.inner.rest.as_ref();
        let (snap, _) = self.snapshot().await?;
        Ok(FleetView {
            masters: snap.masters.iter().map(convert::master).collect(),
            workers: snap
                .workers
                .iter()
                .map(|w| convert::worker(w, &snap))
                .collect(),
            builds: snap
                .builds
                .iter()
                .map(|b| convert::build(b, &snap))
                .collect(),
            unclaimed_requests: snap.requests.iter().filter(|r| !r.claimed).count() as i64,
            claimed_requests: snap
                .requests
                .iter()
                .filter(|r| r.claimed)
                .map(convert::request)
                .collect(),
            services: services::fetch(rest).await?,
        })
    }
}
