//! What commands return: plain data, rendered by [`crate::output`].
//!
//! The row types are the JSON contract of `-o json` (documented field by field in
//! `docs/cli.md`); the integration tests deserialize the output into them. Add fields freely;
//! rename or remove none.

pub mod rebalance;
pub mod upgrade;

use bbctl_api::{
    BuildInfo, DrainStatus, Event, MasterInfo, OperationResult, RoutingState, ServiceKind,
    WorkerInfo,
};
use serde::{Deserialize, Serialize};

use crate::exit::Exit;

/// The state column of `masters list`: the agent's master state, or what the CLI concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowState {
    Running,
    Starting,
    Draining,
    /// Cordoned (`bbctl cordon`): running, out of rotation, its workers handed off as they go
    /// idle.
    Cordoned,
    Drained,
    Stopping,
    Stopped,
    Unhealthy,
    /// A standby slot of the inventory whose master is not running.
    Standby,
    /// The agent did not answer (connection refused, timeout).
    Unreachable,
    /// The agent answered with an error (e.g. it rejected the token); see `error`.
    Error,
    /// A row of Buildbot's `masters` table no agent claims, inactive: an old host or basedir
    /// (`masters_row` says what still references it).
    #[serde(rename = "stale-name")]
    StaleName,
    /// A row of Buildbot's `masters` table no agent claims, still active but silent for longer
    /// than Buildbot's expiry (`masters expire` runs its housekeeping now).
    Silent,
    /// A row of Buildbot's `masters` table hidden by `masters prune` (shown with `--all`).
    Hidden,
}

impl RowState {
    pub fn as_str(self) -> &'static str {
        match self {
            RowState::Running => "running",
            RowState::Starting => "starting",
            RowState::Draining => "draining",
            RowState::Cordoned => "cordoned",
            RowState::Drained => "drained",
            RowState::Stopping => "stopping",
            RowState::Stopped => "stopped",
            RowState::Unhealthy => "unhealthy",
            RowState::Standby => "standby",
            RowState::Unreachable => "unreachable",
            RowState::Error => "error",
            RowState::StaleName => "stale-name",
            RowState::Silent => "silent",
            RowState::Hidden => "hidden",
        }
    }
}

/// One master: a row of `masters list -o json`, the object of `masters show -o json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MasterRow {
    /// The inventory name (for `--agent`: the agent's own name, or its URL if unreachable).
    pub name: String,
    /// The agent's base URL.
    pub url: String,
    pub state: RowState,
    /// Marked `standby = true` in the inventory.
    pub standby: bool,
    /// Buildbot's `active` flag; null when unknown.
    pub active: Option<bool>,
    pub config_label: Option<String>,
    pub config_sha256: Option<String>,
    pub buildbot_version: Option<String>,
    /// The `buildbot` executable the master runs (or runs at its next start).
    #[serde(default)]
    pub buildbot_executable: Option<String>,
    /// Workers attached; null when the agent did not answer.
    pub workers: Option<usize>,
    /// Builds running; null when the agent did not answer.
    pub builds: Option<usize>,
    pub uptime_secs: Option<f64>,
    pub masterid: Option<i64>,
    pub pid: Option<u32>,
    pub buildbot_name: Option<String>,
    /// Whether the load balancer routes new workers here: `ready`, `maint`, `drain`,
    /// `unmanaged` (no load-balancer hook) or `unknown` (see `routing_reason`); null when the
    /// agent did not answer.
    #[serde(default)]
    pub routing: Option<RoutingState>,
    /// Why `routing` is `unknown`.
    #[serde(default)]
    pub routing_reason: Option<String>,
    /// Why the row has no data (`unreachable` / `error` rows).
    pub error: Option<String>,
    /// The agent's full answer (`GET /v1/master`), null when it did not answer.
    pub master: Option<MasterInfo>,
    /// Where bbctl learned of the master: `inventory`, `registry` (the fleet registry only),
    /// `both`, or `buildbot` (a row of Buildbot's `masters` table no agent claims).
    #[serde(default)]
    pub source: Option<RowSource>,
    /// The agent's row in the fleet registry, when the registry was read and has it.
    #[serde(default)]
    pub registry: Option<RegistryRow>,
    /// For `source: buildbot` rows: the `masters` row and what references it.
    #[serde(default)]
    pub masters_row: Option<bbctl_api::MastersTableRow>,
    /// For `source: buildbot` rows: seconds since `last_active` (database clock).
    #[serde(default)]
    pub last_active_age_secs: Option<i64>,
}

/// Where a row of `masters list` comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowSource {
    Inventory,
    Registry,
    Both,
    Buildbot,
}

impl RowSource {
    pub fn as_str(self) -> &'static str {
        match self {
            RowSource::Inventory => "inventory",
            RowSource::Registry => "registry",
            RowSource::Both => "both",
            RowSource::Buildbot => "buildbot",
        }
    }
}

/// An agent's row in the fleet registry, judged by the store's clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryRow {
    /// The URL it advertises.
    pub url: String,
    /// Seconds since its last heartbeat.
    pub heartbeat_age_secs: f64,
    /// The heartbeat is late (older than the registry's `silent_after_secs`).
    pub silent: bool,
    /// It shut down cleanly: listed from the inventory only.
    pub stopped: bool,
}

/// A row of `workers list -o json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerRow {
    pub name: String,
    pub workerid: i64,
    /// The master it is attached to: inventory name if known, else Buildbot's master name, else
    /// `masterid:N`; null when not attached.
    pub master: Option<String>,
    pub masterid: Option<i64>,
    /// `idle` or `busy`.
    pub state: String,
    pub paused: bool,
    pub pause_reason: Option<String>,
    /// Build ids it runs now.
    pub builds: Vec<i64>,
    pub worker: WorkerInfo,
}

/// A row of `builds list -o json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildRow {
    pub buildid: i64,
    pub builder: Option<String>,
    pub number: Option<i64>,
    pub worker: Option<String>,
    /// Like [`WorkerRow::master`].
    pub master: Option<String>,
    pub masterid: Option<i64>,
    pub started_at: Option<i64>,
    /// Seconds since it started, when known.
    pub age_secs: Option<i64>,
    pub state_string: Option<String>,
    pub build: BuildInfo,
}

/// A row of `schedulers list -o json`: a scheduler or change source and its owner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchedulerRow {
    /// `scheduler` or `change_source`.
    pub kind: ServiceKind,
    pub name: String,
    /// The owning master like [`WorkerRow::master`]; null while no active master owns it.
    pub owner: Option<String>,
    pub masterid: Option<i64>,
    /// The owner's Buildbot name (`host:basedir`).
    pub buildbot_name: Option<String>,
}

/// A drain of one master: `drain`, `drain status`, `drain cancel` (the agent's `DrainStatus`
/// fields, flattened, plus `master`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrainRow {
    pub master: String,
    #[serde(flatten)]
    pub status: DrainStatus,
}

/// The result of `start` / `stop` (the agent's `OperationResult` fields, flattened, plus
/// `master`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationRow {
    pub master: String,
    #[serde(flatten)]
    pub result: OperationResult,
}

/// `routing status` / `routing resume -o json`: one master's routing at the load balancer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingRow {
    /// The inventory name.
    pub master: String,
    /// The load-balancer hook: `none`, `haproxy` or `relay`.
    pub hook: String,
    /// The state now: `ready`, `maint`, `drain`, `unmanaged` or `unknown`.
    pub routing: RoutingState,
    /// `routing resume` only: the state before the call.
    #[serde(default)]
    pub before: Option<RoutingState>,
    /// Why `routing` is `unknown`.
    #[serde(default)]
    pub reason: Option<String>,
}

/// The data a command produced.
#[derive(Debug)]
pub enum Report {
    Masters(Vec<MasterRow>),
    Master(Box<MasterRow>),
    Workers(Vec<WorkerRow>),
    Builds(Vec<BuildRow>),
    Schedulers(Vec<SchedulerRow>),
    /// `drain NAME…` (an array in JSON).
    Drains(Vec<DrainRow>),
    /// `drain status` / `drain cancel` (an object in JSON).
    Drain(Box<DrainRow>),
    Operation(Box<OperationRow>),
    /// `routing status` / `routing resume`.
    Routing(Box<RoutingRow>),
    Events(Vec<Event>),
    /// `upgrade status`: one upgrade's journal (the journal document in JSON).
    Upgrade(Box<upgrade::Journal>),
    /// `upgrade history`: every upgrade's journal, newest first.
    Upgrades(Vec<upgrade::Journal>),
    /// `masters expire`: what the housekeeping did.
    MastersExpire(Box<bbctl_api::ExpireMasterResult>),
    /// `masters prune`: the rows hidden (or that would be) and those kept.
    MastersPrune(Box<bbctl_api::PruneMastersResult>),
    /// `workers rebalance`: the plan, the moves, the balance before and after.
    Rebalance(Box<rebalance::RebalanceReport>),
    /// Raw text for stdout whatever the format (completion scripts, the man page).
    Text(String),
    /// Everything was already written while the command ran (`events --follow`).
    Streamed,
}

/// A command's result: its data, its exit code, and warnings for stderr.
#[derive(Debug)]
pub struct Outcome {
    pub report: Report,
    pub exit: Exit,
    pub warnings: Vec<String>,
}

impl Outcome {
    pub fn ok(report: Report) -> Self {
        Outcome {
            report,
            exit: Exit::Ok,
            warnings: Vec::new(),
        }
    }
}
