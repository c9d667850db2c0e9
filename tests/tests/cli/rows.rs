//! Typed rows of `bbctl -o json`, written from the documented contract (docs/cli.md, "JSON
//! output") rather than imported from the CLI, so that a change of the contract fails here.

use bbctl_api::{BuildInfo, DrainStatus, MasterInfo, WorkerInfo};
use serde::Deserialize;

/// `masters list -o json` rows / `masters show -o json` (docs/cli.md: MasterRow).
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // Decoded to check the documented types; not every test reads every field.
pub(crate) struct MasterRow {
    pub(crate) name: String,
    pub(crate) url: String,
    pub(crate) state: RowState,
    pub(crate) standby: bool,
    pub(crate) active: Option<bool>,
    pub(crate) config_label: Option<String>,
    config_sha256: Option<String>,
    pub(crate) buildbot_version: Option<String>,
    pub(crate) buildbot_executable: Option<String>,
    pub(crate) workers: Option<usize>,
    pub(crate) builds: Option<usize>,
    pub(crate) uptime_secs: Option<f64>,
    pub(crate) masterid: Option<i64>,
    pub(crate) pid: Option<u32>,
    pub(crate) buildbot_name: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) master: Option<MasterInfo>,
    /// `inventory`, `registry`, `both` or `buildbot`.
    pub(crate) source: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RowState {
    Running,
    Starting,
    Draining,
    Cordoned,
    Drained,
    Stopping,
    Stopped,
    Unhealthy,
    Standby,
    Unreachable,
    Error,
    #[serde(rename = "stale-name")]
    StaleName,
    Silent,
    Hidden,
}

/// `schedulers list -o json` rows (docs/cli.md: SchedulerRow).
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
pub(crate) struct SchedulerRow {
    /// `scheduler` or `change_source`.
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) owner: Option<String>,
    pub(crate) masterid: Option<i64>,
    pub(crate) buildbot_name: Option<String>,
}

/// `workers list -o json` rows (docs/cli.md: WorkerRow).
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
pub(crate) struct WorkerRow {
    pub(crate) name: String,
    pub(crate) workerid: i64,
    pub(crate) master: Option<String>,
    pub(crate) masterid: Option<i64>,
    pub(crate) state: String,
    pub(crate) paused: bool,
    pub(crate) pause_reason: Option<String>,
    pub(crate) builds: Vec<i64>,
    pub(crate) worker: WorkerInfo,
}

/// `builds list -o json` rows (docs/cli.md: BuildRow).
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
pub(crate) struct BuildRow {
    pub(crate) buildid: i64,
    pub(crate) builder: Option<String>,
    pub(crate) number: Option<i64>,
    pub(crate) worker: Option<String>,
    pub(crate) master: Option<String>,
    pub(crate) masterid: Option<i64>,
    pub(crate) started_at: Option<i64>,
    pub(crate) age_secs: Option<i64>,
    pub(crate) state_string: Option<String>,
    pub(crate) build: BuildInfo,
}

/// `drain status -o json` (docs/cli.md: DrainRow, the agent's `DrainStatus` flattened).
#[derive(Debug, Deserialize)]
pub(crate) struct DrainRow {
    pub(crate) master: String,
    #[serde(flatten)]
    pub(crate) status: DrainStatus,
}
