//! Buildbot's REST API (`/api/v2`), behind the [`BuildbotApi`] trait so that tests can substitute
//! a fake while the acceptance tests talk to a real master.
//!
//! The types here mirror Buildbot's JSON (only the fields the agent uses); conversion to the wire
//! types of `bbctl-api` happens in `crate::topology`. The agent reads, and writes only worker
//! `pause`/`unpause` ([`BuildbotApi::control_worker`]); both go through the session of
//! `[master.rest_auth]` (`auth`, `session`).

pub mod auth;
pub mod rest;
mod session;
mod snapshot;

use futures_util::future::BoxFuture;
use reqwest::StatusCode;
use serde::Deserialize;

pub use auth::{LoginProblem, Refusal, RestAuth};
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
    /// The master refused the call (401/403): `what` the call needs the user to be allowed
    /// ("control workers"), what Buildbot said, and why as far as the agent can tell — which
    /// names the setting to fix.
    #[error(
        "Buildbot refused to {call}: {status}{} — {}",
        buildbot_said(.buildbot),
        .why.explain(.what)
    )]
    Refused {
        call: String,
        status: StatusCode,
        buildbot: Option<String>,
        what: &'static str,
        why: Refusal,
    },
    /// A control call the master answered with another error (an unknown worker, a crash).
    #[error("Buildbot could not {call}: {status}{}", buildbot_said(.buildbot))]
    Failed {
        call: String,
        status: StatusCode,
        buildbot: Option<String>,
    },
}

fn buildbot_said(message: &Option<String>) -> String {
    message
        .as_deref()
        .map(|m| format!(" (Buildbot: \"{m}\")"))
        .unwrap_or_default()
}

/// A worker to control: its id, and its name for messages when known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerRef<'a> {
    pub id: i64,
    pub name: Option<&'a str>,
}

/// The worker control calls the agent makes (Buildbot's JSON-RPC methods on `/workers/<id>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerAction {
    Pause,
    Unpause,
}

impl WorkerAction {
    pub fn method(self) -> &'static str {
        match self {
            WorkerAction::Pause => "pause",
            WorkerAction::Unpause => "unpause",
        }
    }
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
    /// When it completed: Buildbot's whole seconds, read as a float like
    /// [`BuildbotApi::build_complete_at`] does.
    #[serde(default)]
    pub complete_at: Option<f64>,
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

/// The part of Buildbot's REST API the agent reads, and the one write it makes.
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
    /// `/buildrequests?complete=false&claimed_by_masterid=<id>`: the requests master `masterid`
    /// has claimed and not finished.
    fn claimed_buildrequests(&self, masterid: i64) -> BoxFuture<'_, RestResult<Vec<BuildRequest>>> {
        Box::pin(async move {
            let all = self.incomplete_buildrequests().await?;
            Ok(all
                .into_iter()
                .filter(|r| r.claimed_by_masterid == Some(masterid))
                .collect())
        })
    }
    /// `/schedulers`: every scheduler and the master that owns it.
    fn schedulers(&self) -> BoxFuture<'_, RestResult<Vec<ClusteredService>>>;
    /// `/changesources`: every change source and the master that owns it.
    fn changesources(&self) -> BoxFuture<'_, RestResult<Vec<ClusteredService>>>;
    /// `/builds?masterid=<id>&started_at__ge=<since_secs>`: every build master `masterid`
    /// started at or after `since_secs` (Unix seconds), complete or not, in no given order.
    fn builds_started_since(
        &self,
        masterid: i64,
        since_secs: i64,
    ) -> BoxFuture<'_, RestResult<Vec<Build>>>;
    /// `/builds/<id>`: when the build completed (Buildbot's `complete_at`), if it has.
    fn build_complete_at(&self, buildid: i64) -> BoxFuture<'_, RestResult<Option<f64>>>;
    /// `POST /workers/<id>` JSON-RPC `pause` / `unpause` with `reason`: the agent's only write,
    /// which the master's authz may refuse ([`RestError::Refused`]).
    fn control_worker<'a>(
        &'a self,
        worker: WorkerRef<'a>,
        action: WorkerAction,
        reason: &'a str,
    ) -> BoxFuture<'a, RestResult<()>>;
    /// Why the `[master.rest_auth]` credentials do not log in to the master's www, if they do
    /// not (none configured: `None`).
    fn login_problem(&self) -> BoxFuture<'_, Option<LoginProblem>> {
        Box::pin(async { None })
    }
}

#[cfg(test)]
mod auth_tests;
#[cfg(test)]
mod rest_tests;
#[cfg(test)]
mod since_tests;
