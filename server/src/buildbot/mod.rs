//! Buildbot's REST API (`/api/v2`), behind the [`BuildbotApi`] trait so that tests can substitute
//! a fake while the acceptance tests talk to a real master.
//!
//! The types here mirror Buildbot's JSON (only the fields the agent uses); conversion to the wire
//! types of `bbctl-api` happens in `crate::topology`.

pub mod rest;
mod snapshot;

use futures_util::future::BoxFuture;
use serde::Deserialize;

pub use rest::RestClient;
pub use snapshot::Snapshot;

#[derive(Debug, Clone, thiserror::Error)]
pub enum RestError {
    #[error("Buildbot REST API {url}: {message}")]
    Transport { url: String, message: String },
    #[error("Buildbot REST API {url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("Buildbot REST API {url}: unexpected answer: {message}")]
    Decode { url: String, message: String },
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Master {
    pub masterid: i64,
    pub name: String,
    pub active: bool,
    #[serde(default)]
    pub last_active: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MasterRef {
    pub masterid: i64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Worker {
    pub workerid: i64,
    pub name: String,
    #[serde(default)]
    pub paused: bool,
    #[serde(default)]
    pub pause_reason: Option<String>,
    #[serde(default)]
    pub connected_to: Vec<MasterRef>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Build {
    pub buildid: i64,
    pub builderid: i64,
    #[serde(default)]
    pub number: Option<i64>,
    #[serde(default)]
    pub workerid: Option<i64>,
    #[serde(default)]
    pub masterid: Option<i64>,
    #[serde(default)]
    pub buildrequestid: Option<i64>,
    #[serde(default)]
    pub started_at: Option<i64>,
    #[serde(default)]
    pub complete: bool,
    #[serde(default)]
    pub state_string: Option<String>,
    #[serde(default)]
    pub results: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Builder {
    pub builderid: i64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BuildRequest {
    pub buildrequestid: i64,
    pub builderid: i64,
    #[serde(default)]
    pub claimed: bool,
    #[serde(default)]
    pub claimed_by_masterid: Option<i64>,
    #[serde(default)]
    pub submitted_at: Option<i64>,
    #[serde(default)]
    pub complete: bool,
}

/// A scheduler or change source row (`/schedulers`, `/changesources`): `master` is the active
/// master that owns it, absent (`null`) while none does.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ClusteredService {
    pub name: String,
    #[serde(default)]
    pub master: Option<OwnerRef>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OwnerRef {
    pub masterid: i64,
    #[serde(default)]
    pub name: Option<String>,
}

pub type RestResult<T> = Result<T, RestError>;

/// The part of Buildbot's REST API the agent reads.
pub trait BuildbotApi: Send + Sync + 'static {
    /// `/masters`: every master row of the shared DB.
    fn masters(&self) -> BoxFuture<'_, RestResult<Vec<Master>>>;
    /// `/workers`.
    fn workers(&self) -> BoxFuture<'_, RestResult<Vec<Worker>>>;
    /// `/builds?complete=false`: running builds of every master.
    fn running_builds(&self) -> BoxFuture<'_, RestResult<Vec<Build>>>;
    /// `/builders`: for builder names.
    fn builders(&self) -> BoxFuture<'_, RestResult<Vec<Builder>>>;
    /// `/buildrequests?complete=false`: pending and claimed requests.
    fn incomplete_buildrequests(&self) -> BoxFuture<'_, RestResult<Vec<BuildRequest>>>;
    /// `/schedulers`: every scheduler and the master that owns it.
    fn schedulers(&self) -> BoxFuture<'_, RestResult<Vec<ClusteredService>>>;
    /// `/changesources`: every change source and the master that owns it.
    fn changesources(&self) -> BoxFuture<'_, RestResult<Vec<ClusteredService>>>;
}
