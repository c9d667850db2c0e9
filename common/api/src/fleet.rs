//! Fleet-wide coordination kept in the fleet store (the fleet's PostgreSQL, `[fleet] db_url`, or
//! an agent's own SQLite file on a single host): the fleet lease (who may change the fleet now: an
//! upgrade or a drain) with its fencing epoch, append-only upgrade journals (the resumable record
//! of a `bbctl upgrade`) and the agent registry. Every agent of the fleet reaches the same store,
//! so any of them answers. The agent attaches no meaning to a journal's content.

use serde::{Deserialize, Serialize};

/// What a lease holder is doing to the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaseKind {
    Upgrade,
    Drain,
}

impl LeaseKind {
    /// The kind's wire name (`upgrade`): the one string form, in JSON and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            LeaseKind::Upgrade => "upgrade",
            LeaseKind::Drain => "drain",
        }
    }
}

/// The request header every mutating call made under the fleet lease carries:
/// `<fleet>:<epoch>` ([`FenceToken`]). An agent refuses (409 `stale_epoch`) an epoch lower than the
/// highest it has seen for that fleet, so a coordinator that lost the lease cannot act.
pub const LEASE_EPOCH_HEADER: &str = "x-bbctl-lease-epoch";

/// The value of [`LEASE_EPOCH_HEADER`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FenceToken {
    pub fleet: String,
    pub epoch: i64,
}

impl FenceToken {
    /// Parses `<fleet>:<epoch>` (the fleet name may itself hold `:`; the epoch is after the last).
    pub fn parse(value: &str) -> Option<FenceToken> {
        let (fleet, epoch) = value.rsplit_once(':')?;
        let epoch = epoch.parse::<i64>().ok().filter(|e| *e >= 1)?;
        (!fleet.is_empty()).then(|| FenceToken {
            fleet: fleet.to_owned(),
            epoch,
        })
    }
}

impl std::fmt::Display for FenceToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.fleet, self.epoch)
    }
}

/// `details` of a 409 `stale_epoch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaleEpochDetails {
    pub fleet: String,
    /// The epoch the caller presented.
    pub presented: i64,
    /// The highest epoch the agent knows for the fleet.
    pub current: i64,
    /// The lease's current holder, when the store could be read.
    #[serde(default)]
    pub holder: Option<String>,
}

/// `PUT /v1/lease`: take the fleet lease (no `epoch`), or renew it (`epoch` = the one held).
///
/// Take: succeeds when the lease is free or expired (by the store's clock), or — with
/// `take_over` — when it is held for the same `operation` (a `resume`/`abort` of the same upgrade
/// from another machine). Every take raises the epoch by one. Refused with 409 `conflict` (the
/// current [`Lease`] in `details`) otherwise.
///
/// Renew: succeeds while `holder` and `epoch` still match the stored lease, even after it expired
/// (nobody took it meanwhile); otherwise 409 `stale_epoch`: the caller was fenced off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseRequest {
    /// The holder: a token unique to one run of bbctl (`up-…/alice@host/4242-9f3a`).
    pub holder: String,
    /// What the lease is for (an upgrade id). Defaults to `holder`.
    #[serde(default)]
    pub operation: Option<String>,
    /// Why, shown to anyone refused (`upgrade to v2 by alice@host`).
    pub reason: String,
    /// Seconds the lease lasts unless renewed (1 … 86400).
    pub ttl_secs: f64,
    pub kind: LeaseKind,
    /// Renew the lease held under this epoch instead of taking it.
    #[serde(default)]
    pub epoch: Option<i64>,
    /// Take a live lease held for the same `operation`.
    #[serde(default)]
    pub take_over: bool,
}

/// The fleet lease (`PUT`/`GET /v1/lease`; the `details` of a 409 when another holder has it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lease {
    /// The fleet's name (`[fleet] name`; `default` without one).
    pub fleet: String,
    /// What it is for (an upgrade id).
    pub operation: String,
    pub holder: String,
    pub reason: String,
    pub kind: LeaseKind,
    /// Grows by one on every take (never on a renew); never goes down, not even on release.
    pub epoch: i64,
    /// When this holder took it (store clock).
    pub acquired_at: f64,
    /// When it was last taken or renewed (store clock).
    pub renewed_at: f64,
    /// When it expires (store clock); released leases have `expires_at <= db_now`.
    pub expires_at: f64,
    /// The store's clock when this answer was read: compare `expires_at` with it, never with a
    /// local clock.
    pub db_now: f64,
}

impl Lease {
    /// Seconds left before it expires (≤ 0: free), by the store's clock.
    pub fn remaining_secs(&self) -> f64 {
        self.expires_at - self.db_now
    }
}

/// `DELETE /v1/lease?holder=ID&epoch=N`: only the holder releases; the epoch stays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseRelease {
    pub holder: String,
    #[serde(default)]
    pub epoch: Option<i64>,
}

/// `PUT /v1/upgrades/{id}`: append the journal's next state. `expected_version` absent or 0
/// creates the journal; otherwise it must be the stored version (the entry gets version + 1), or
/// 409 `conflict`. The append is checked against the lease in the same statement: `holder` and
/// `epoch` must be the lease's current ones, or 409 `stale_epoch` and nothing is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutUpgradeRequest {
    #[serde(default)]
    pub expected_version: Option<i64>,
    /// The lease holder writing (its run token).
    pub holder: String,
    /// The lease epoch it holds.
    pub epoch: i64,
    /// The journal, opaque to the agent (see docs/upgrade.md for what `bbctl` stores).
    pub doc: serde_json::Value,
}

/// A stored upgrade journal (`GET /v1/upgrades/{id}`, `GET /v1/upgrades`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpgradeRecord {
    pub id: String,
    /// 1 on creation, +1 on every append (the latest entry's sequence number).
    pub version: i64,
    pub created_at: f64,
    pub updated_at: f64,
    /// Who wrote the latest entry, under which epoch.
    #[serde(default)]
    pub holder: String,
    #[serde(default)]
    pub epoch: i64,
    pub doc: serde_json::Value,
}

/// One append to a journal (`GET /v1/upgrades/{id}/entries`, oldest first; without the docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpgradeEntry {
    pub seq: i64,
    pub epoch: i64,
    pub holder: String,
    pub at: f64,
}

/// Where the agent keeps the fleet's control state (`GET /v1/fleet/store`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FleetStoreBackend {
    /// The fleet's PostgreSQL (`[fleet] db_url`): every agent reaches the same store.
    Postgres,
    /// A SQLite file of this agent: a single-host fleet, this agent is the coordinator.
    Sqlite,
}

/// `GET /v1/fleet/store`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetStoreInfo {
    /// The fleet's name (`[fleet] name`; `default` without one).
    pub fleet: String,
    pub backend: FleetStoreBackend,
    /// What identifies the store: `host:port/dbname` for PostgreSQL (no user, no password),
    /// `sqlite:<agent name>` for SQLite. Agents of one fleet must agree on it.
    pub store_key: String,
    /// Whether the store answered just now.
    pub reachable: bool,
    /// The store's clock (`None` when unreachable).
    #[serde(default)]
    pub db_now: Option<f64>,
    /// Why it is unreachable (one line, password-free).
    #[serde(default)]
    pub error: Option<String>,
    /// Seconds between the agent's registry heartbeats.
    pub heartbeat_secs: f64,
}

/// One agent as the registry knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisteredAgent {
    /// The agent's name (`[agent] name`), as in the inventory.
    pub name: String,
    /// The URL it advertises (`[fleet] advertise_url`).
    pub url: String,
    pub standby: bool,
    pub agent_version: String,
    pub api_version: String,
    /// Its master's name as Buildbot knows it (`host:basedir`), once known.
    #[serde(default)]
    pub buildbot_name: Option<String>,
    /// The host it runs on.
    pub host: String,
    pub started_at: f64,
    pub heartbeat_at: f64,
    /// Set by a clean shutdown.
    #[serde(default)]
    pub stopped_at: Option<f64>,
}

/// `GET /v1/fleet/agents`: the registry, read with the store's clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetAgents {
    pub fleet: String,
    pub db_now: f64,
    /// An agent whose `heartbeat_at` is older than `db_now - silent_after_secs` is silent.
    pub silent_after_secs: f64,
    pub agents: Vec<RegisteredAgent>,
}

#[cfg(test)]
mod tests {
    use super::LeaseKind;

    #[test]
    fn the_kinds_name_is_its_wire_name() {
        for kind in [LeaseKind::Upgrade, LeaseKind::Drain] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }
}
