//! Fleet-wide coordination documents kept on one coordinator agent: the fleet lease (who may
//! change the fleet now: an upgrade or a drain) and upgrade journals (the resumable record of a
//! `bbctl upgrade`). The agent stores them; it attaches no meaning to a journal's content.

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

/// `PUT /v1/lease`: acquire the fleet lease, or renew it when `holder` already holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseRequest {
    /// The holder's id (an upgrade id such as `up-1764000000-4242`).
    pub holder: String,
    /// Why, shown to anyone refused (`upgrade to v2 by alice@host`).
    pub reason: String,
    /// Seconds the lease lasts unless renewed (1 … 86400).
    pub ttl_secs: f64,
    pub kind: LeaseKind,
}

/// The fleet lease (`PUT`/`GET /v1/lease`; the `details` of a 409 when another holder has it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lease {
    pub holder: String,
    pub reason: String,
    pub kind: LeaseKind,
    /// When this holder first acquired it.
    pub acquired_at: f64,
    /// When it was last acquired or renewed.
    pub renewed_at: f64,
    pub expires_at: f64,
}

/// `DELETE /v1/lease?holder=ID`: only the holder releases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseRelease {
    pub holder: String,
}

/// `PUT /v1/upgrades/{id}`: create (`expected_version` absent or 0) or replace an upgrade
/// journal. A replace whose `expected_version` is not the stored version is refused (409).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutUpgradeRequest {
    #[serde(default)]
    pub expected_version: Option<i64>,
    /// The journal, opaque to the agent (see docs/upgrade.md for what `bbctl` stores).
    pub doc: serde_json::Value,
}

/// A stored upgrade journal (`GET /v1/upgrades/{id}`, `GET /v1/upgrades`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpgradeRecord {
    pub id: String,
    /// 1 on creation, +1 on every replace.
    pub version: i64,
    pub created_at: f64,
    pub updated_at: f64,
    pub doc: serde_json::Value,
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
