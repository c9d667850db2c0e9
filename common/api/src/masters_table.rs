//! Hygiene of Buildbot's `masters` table (buildbot#4015, #4277, #2888): rows of masters that no
//! longer run, and the one write bbctl makes to Buildbot's own tables — a dead master's
//! housekeeping, run by Buildbot's own code now instead of after its 10-minute expiry.
//!
//! - `GET /v1/buildbot-db/masters` → [`MastersTable`]
//! - `POST /v1/buildbot-db/masters/expire` ([`ExpireMasterRequest`]) → [`ExpireMasterResult`]
//! - `POST /v1/buildbot-db/masters/prune` ([`PruneMastersRequest`]) → [`PruneMastersResult`]

use serde::{Deserialize, Serialize};

/// What still points at a `masters` row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterRefs {
    /// Builds of this master not complete (`complete_at IS NULL`).
    pub incomplete_builds: i64,
    /// Rows of `buildrequest_claims` with this `masterid` on incomplete requests.
    pub claimed_requests: i64,
    /// Rows of `scheduler_masters`.
    pub schedulers: i64,
    /// Rows of `changesource_masters`.
    pub changesources: i64,
    /// Rows of `builder_masters`.
    pub builders: i64,
}

impl MasterRefs {
    /// Whether anything live still points at the row.
    pub fn any(&self) -> bool {
        self.incomplete_builds
            + self.claimed_requests
            + self.schedulers
            + self.changesources
            + self.builders
            > 0
    }
}

/// One row of Buildbot's `masters` table with what references it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MastersTableRow {
    pub id: i64,
    /// Buildbot's name for the master (`fqdn:basedir`).
    pub name: String,
    pub active: bool,
    /// Epoch seconds, as Buildbot stamped it.
    #[serde(default)]
    pub last_active: Option<i64>,
    pub refs: MasterRefs,
    /// Hidden by `bbctl masters prune` (kept in the fleet store, never in Buildbot's tables).
    #[serde(default)]
    pub hidden: bool,
}

/// `GET /v1/buildbot-db/masters`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MastersTable {
    /// The database's clock (`extract(epoch from now())`), to judge `last_active`.
    pub db_now: i64,
    /// Buildbot's expiry: a row active but silent longer than this is expired by the next
    /// housekeeping of another master (600 s in Buildbot 4.x).
    pub expire_after_secs: i64,
    pub masters: Vec<MastersTableRow>,
}

/// `POST /v1/buildbot-db/masters/expire`: run a dead master's housekeeping now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpireMasterRequest {
    /// The `masters` row's id.
    pub masterid: i64,
    /// The operator vouches that the master's host is gone, so sessions in the database that
    /// cannot be attributed to it do not stop the expiry. Audited.
    #[serde(default)]
    pub host_gone: bool,
}

/// What the housekeeping did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpireMasterResult {
    pub masterid: i64,
    pub name: String,
    /// Whether the row was active before.
    pub was_active: bool,
    /// Builds of the master marked finished with RETRY (their requests run again).
    pub builds_retried: Vec<i64>,
    /// Build requests whose claim was released, back in the queue.
    pub requests_returned: Vec<i64>,
    /// Schedulers and change sources released for another master to take.
    pub schedulers_released: i64,
    /// Why the master was judged gone, one line per proof.
    pub evidence: Vec<String>,
    /// Whether the live masters were told at once (through the message queue); without it they
    /// pick the requests up at their next trigger.
    pub notified: bool,
    /// The Buildbot version whose code ran the housekeeping.
    pub buildbot_version: String,
    /// The agent of that master, when the registry had it silent: its row is marked stopped, so
    /// bbctl stops counting it among the fleet's agents (it registers again if it comes back).
    #[serde(default)]
    pub agent_retired: Option<String>,
}

/// `POST /v1/buildbot-db/masters/prune`: hide `masters` rows nothing references.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneMastersRequest {
    /// Only say what would be hidden.
    #[serde(default)]
    pub dry_run: bool,
}

/// One row prune looked at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrunedMaster {
    pub id: i64,
    pub name: String,
    /// Why it was kept (`None` when hidden, or would be with `dry_run`).
    #[serde(default)]
    pub kept_because: Option<String>,
}

/// The answer of a prune.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PruneMastersResult {
    pub dry_run: bool,
    /// Hidden now (or would be, with `dry_run`).
    pub hidden: Vec<PrunedMaster>,
    /// Kept, each with its reason (live, active, referenced).
    pub kept: Vec<PrunedMaster>,
}
