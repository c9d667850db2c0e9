//! Topology: this master, its workers, builds and build requests, and the fleet as it sees it.

use serde::{Deserialize, Serialize};

/// The agent's view of its master's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MasterState {
    /// No master process runs (never started here, or stopped).
    Stopped,
    /// The agent is starting the master and waits for it to become healthy.
    Starting,
    /// The process runs and the master is active in Buildbot.
    Running,
    /// A drain is in progress.
    Draining,
    /// Cordoned (`bbctl cordon`): the master runs, takes no new worker connection, and hands
    /// its workers off as they go idle.
    Cordoned,
    /// A drain completed and the master process was stopped.
    Drained,
    /// The agent is stopping the master.
    Stopping,
    /// The process runs but the master is unhealthy (not active, lost the MQ, …).
    Unhealthy,
}

/// The master process as the agent sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessInfo {
    pub running: bool,
    pub pid: Option<u32>,
    /// Seconds since the process started, when running.
    pub uptime_secs: Option<f64>,
}

/// The active configuration of a master.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveConfig {
    /// sha256 (hex) over the configuration's files, see `ConfigVersion::sha256`.
    pub sha256: String,
    /// The operator's label, or `unmanaged` for a config the agent did not stage.
    pub label: String,
}

/// `GET /v1/master`: everything about this agent's master.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MasterInfo {
    /// The agent's name as operators use it (`master-3`).
    pub agent_name: String,
    pub state: MasterState,
    /// The Buildbot master name (`hostname:basedir`), once known from the REST API.
    pub buildbot_name: Option<String>,
    /// The Buildbot master id, once known. It never changes for a basedir, so it stays known
    /// while the master's REST API is down (`active` and `last_active` do not).
    pub masterid: Option<i64>,
    /// The `active` flag in `/api/v2/masters`.
    pub active: Option<bool>,
    /// `last_active` (epoch seconds) from `/api/v2/masters`.
    pub last_active: Option<i64>,
    pub basedir: String,
    pub rest_url: String,
    pub process: ProcessInfo,
    /// The Buildbot version the master runs (from `buildbot --version` of `buildbot_executable`).
    pub buildbot_version: Option<String>,
    /// The `buildbot` executable the master runs (or runs at its next start): the one of the
    /// last activated configuration version, else the agent's `master.buildbot`.
    #[serde(default)]
    pub buildbot_executable: Option<String>,
    /// The DB schema head (alembic revision, e.g. `067`) of that Buildbot install, when the venv's
    /// python sits next to the executable; `None` when unknown.
    #[serde(default)]
    pub buildbot_db_head: Option<String>,
    pub config: Option<ActiveConfig>,
    /// Workers attached to this master.
    pub workers: Vec<WorkerInfo>,
    /// Builds running on this master.
    pub builds: Vec<BuildInfo>,
    /// Incomplete build requests claimed by this master.
    pub claimed_requests: Vec<BuildRequestInfo>,
    /// The drain in progress or last finished, if any.
    pub drain: Option<crate::DrainStatus>,
    /// Whether the load balancer routes new worker connections here: `ready`, `maint`, `drain`,
    /// `unmanaged` (no load-balancer hook) or `unknown` (see `routing_reason`). Null from an
    /// agent that predates it.
    #[serde(default)]
    pub routing: Option<crate::RoutingState>,
    /// Why `routing` is `unknown`.
    #[serde(default)]
    pub routing_reason: Option<String>,
    /// Problems the agent sees (unreachable REST API, MQ lost, …), one line each.
    #[serde(default)]
    pub problems: Vec<String>,
    /// How old, in seconds, the Buildbot snapshot behind `active`, `workers`, `builds` and
    /// `claimed_requests` is: the agent shares one among concurrent readers for at most a
    /// second, and takes a new one after any event. Null when Buildbot's REST API did not
    /// answer (or from an agent that predates it).
    #[serde(default)]
    pub snapshot_age_secs: Option<f64>,
}

/// A worker as seen from the shared DB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerInfo {
    pub workerid: i64,
    pub name: String,
    /// The master ids it is connected to (normally zero or one; stale rows are possible after a
    /// crash).
    pub connected_to: Vec<i64>,
    pub paused: bool,
    pub pause_reason: Option<String>,
    /// Builds this worker is running now.
    pub builds: Vec<i64>,
}

impl WorkerInfo {
    /// Whether the worker runs no build right now.
    pub fn idle(&self) -> bool {
        self.builds.is_empty()
    }
}

/// A running (or finished) build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildInfo {
    pub buildid: i64,
    pub builderid: i64,
    pub builder_name: Option<String>,
    pub number: Option<i64>,
    pub workerid: Option<i64>,
    pub worker_name: Option<String>,
    pub masterid: Option<i64>,
    pub started_at: Option<i64>,
    pub complete: bool,
    pub state_string: Option<String>,
    /// Buildbot results code (0 success … 5 retry, 6 cancelled) once complete.
    pub results: Option<i64>,
}

/// An incomplete build request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildRequestInfo {
    pub buildrequestid: i64,
    pub builderid: i64,
    pub claimed: bool,
    pub claimed_by_masterid: Option<i64>,
    pub submitted_at: Option<i64>,
}

/// A master row of the shared DB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetMaster {
    pub masterid: i64,
    pub name: String,
    pub active: bool,
    pub last_active: Option<i64>,
}

/// `GET /v1/fleet`: the fleet as this master sees it through the shared DB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetView {
    pub masters: Vec<FleetMaster>,
    pub workers: Vec<WorkerInfo>,
    pub builds: Vec<BuildInfo>,
    pub unclaimed_requests: i64,
    /// Incomplete build requests claimed by a master (any master of the fleet).
    pub claimed_requests: Vec<BuildRequestInfo>,
    /// Buildbot's clustered services (schedulers and change sources) and who owns each.
    pub services: Vec<ClusteredService>,
}

/// Which kind of clustered service a [`ClusteredService`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKind {
    Scheduler,
    ChangeSource,
}

/// A scheduler or change source: Buildbot runs each on exactly one active master, claimed at
/// that master's start and on its 5-minute activity poll.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusteredService {
    pub kind: ServiceKind,
    pub name: String,
    /// The owning master's id; `None` while no active master owns it.
    pub masterid: Option<i64>,
    /// The owning master's Buildbot name.
    pub master_name: Option<String>,
}
