//! Wire types of the bbctl agent API.
//!
//! This crate is the contract between `bbctl-agent` (which serves these types) and `bbctl` (which
//! reads them). It holds requests, responses, the error envelope and the API version — and nothing
//! else: no business logic, no HTTP framework, no database. Every field is part of a public,
//! documented JSON contract (see `docs/api.md` and `server/openapi.yaml`); rename nothing
//! without bumping [`API_VERSION`].
//!
//! Conventions:
//! - Times are Unix epoch seconds, in one of two forms by where they come from: a time the agent
//!   stamps itself (events, drains and handoffs, operations, the lease, journals) is an `f64` with
//!   sub-second precision, because handoff latencies are measured from them; a time Buildbot
//!   stamped (`started_at` of a build, `submitted_at` of a request, `last_active` of a master) is
//!   passed through unchanged as Buildbot's whole-second `i64`. Clients may read every time as a
//!   float.
//! - Durations are seconds (`f64`), names are `snake_case`, enums are serialised as lower-case
//!   `snake_case` strings (one form everywhere: the CLI's tables print the same strings), and
//!   every request type rejects unknown fields.

use serde::{Deserialize, Serialize};

mod analysis;
mod buildbot_db;
mod config;
mod drain;
mod error;
mod events;
mod fleet;
mod masters_table;
mod moves;
mod routing;
mod topology;

pub use analysis::*;
pub use buildbot_db::*;
pub use config::*;
pub use drain::*;
pub use error::*;
pub use events::*;
pub use fleet::*;
pub use masters_table::*;
pub use moves::*;
pub use routing::*;
pub use topology::*;

/// The API version served under `/v1`. Bumped on any incompatible change of a wire type.
pub const API_VERSION: &str = "2";

/// The environment variable / vars-file convention: the agent writes the master's per-master
/// values to this file in the master's basedir before it runs `checkconfig` or starts the master,
/// so that one `master.cfg` serves every master of a symmetric fleet.
pub const VARS_FILE_NAME: &str = "bbctl-vars.json";

/// The environment variable that carries the absolute path of [`VARS_FILE_NAME`] to the master
/// process (and to `checkconfig`).
pub const VARS_FILE_ENV: &str = "BBCTL_VARS_FILE";

/// The optional request header that says who asks (`user@host`): the agent records it in its
/// operations and audit log, and a drain without `requested_by` takes it. `bbctl` sends it on
/// every call that changes something.
pub const REQUESTED_BY_HEADER: &str = "x-bbctl-requested-by";

/// `GET /v1/version`: who answers and which API it speaks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionInfo {
    /// The API version, [`API_VERSION`].
    pub api_version: String,
    /// The agent's own version (its crate version).
    pub agent_version: String,
    /// The agent's name as operators use it (`master-3`).
    pub agent_name: String,
}

/// `GET /healthz` and `GET /readyz`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// `ok`, or for readiness `ready` / `not_ready` / `draining`.
    pub status: String,
    /// Human-readable reasons behind a non-ready status (empty when ready).
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Where the agent's event stream comes from: `wamp`, or `polling` when no router is
    /// configured or it is unreachable.
    #[serde(default)]
    pub event_source: Option<String>,
}
