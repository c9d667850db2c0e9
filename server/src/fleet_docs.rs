//! The fleet lease and the upgrade journals that `bbctl upgrade` keeps on its coordinator
//! agent (docs/upgrade.md): who may change the fleet now, and the journal any operator machine
//! resumes an upgrade from. This service validates what the API hands it and tells a refusal
//! (another holder, a stale journal version) apart from a failure; the rows themselves are
//! `crate::db::fleet_docs`.

use bbctl_api::{Lease, LeaseRequest, PutUpgradeRequest, UpgradeRecord};

use crate::db::fleet_docs::{self, Refusal};
use crate::db::{Db, DbError, audit};

/// The longest lease one request may take.
const MAX_TTL_SECS: f64 = 86_400.0;
/// How many journals [`FleetDocs::upgrades`] lists.
const LIST_LIMIT: i64 = 100;

#[derive(Debug, thiserror::Error)]
pub enum FleetDocsError {
    #[error("an id is 1-100 characters of [A-Za-z0-9._-]")]
    BadId,
    #[error("ttl_secs must be between 1 and 86400")]
    BadTtl,
    /// Another holder has an unexpired lease.
    #[error("the fleet is held by {} ({}) until {:.0}", .0.holder, .0.reason, .0.expires_at)]
    Held(Box<Lease>),
    /// The caller tried to release a lease it does not hold.
    #[error("the lease is held by another holder")]
    NotHolder(Option<Box<Lease>>),
    /// The journal's stored version is not the one the caller expected.
    #[error("journal version mismatch: stored version is {}", version_text(*.stored))]
    VersionMismatch { stored: Option<i64> },
    #[error("the fleet lease is free")]
    LeaseFree,
    #[error("no upgrade {0}")]
    NoUpgrade(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

fn version_text(v: Option<i64>) -> String {
    v.map_or("none".into(), |v| v.to_string())
}

impl From<Refusal> for FleetDocsError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Held(lease) => FleetDocsError::Held(Box::new(lease)),
            Refusal::NotHolder(lease) => FleetDocsError::NotHolder(lease.map(Box::new)),
            Refusal::VersionMismatch { stored } => FleetDocsError::VersionMismatch { stored },
        }
    }
}

/// An id of a holder or a journal: 1-100 characters of `[A-Za-z0-9._-]`.
fn check_id(id: &str) -> Result<(), FleetDocsError> {
    let ok = !id.is_empty()
        && id.len() <= 100
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(FleetDocsError::BadId)
    }
}

/// The lease and journals in the agent's state DB. Cheap to clone.
#[derive(Clone)]
pub struct FleetDocs {
    db: Db,
}

impl FleetDocs {
    pub fn new(db: Db) -> Self {
        FleetDocs { db }
    }

    /// Takes the lease for `req.holder`, or renews it when that holder has it; a first
    /// acquisition is audited with `actor`.
    pub async fn acquire(
        &self,
        req: LeaseRequest,
        actor: Option<String>,
    ) -> Result<Lease, FleetDocsError> {
        check_id(&req.holder)?;
        if !(req.ttl_secs.is_finite() && req.ttl_secs >= 1.0 && req.ttl_secs <= MAX_TTL_SECS) {
            return Err(FleetDocsError::BadTtl);
        }
        let answer = self
            .db
            .run(move |c| {
                let answer =
                    fleet_docs::acquire(c, &req.holder, &req.reason, req.kind, req.ttl_secs)?;
                if let Ok(lease) = &answer
                    && lease.renewed_at == lease.acquired_at
                {
                    let detail = format!("{} ({})", lease.holder, lease.reason);
                    audit::append(c, actor.as_deref(), "lease.acquire", &detail)?;
                }
                Ok(answer)
            })
            .await?;
        Ok(answer?)
    }

    /// The lease, while one is held and unexpired.
    pub async fn lease(&self) -> Result<Lease, FleetDocsError> {
        self.db
            .run(fleet_docs::lease)
            .await?
            .ok_or(FleetDocsError::LeaseFree)
    }

    /// Releases `holder`'s lease (releasing a free or expired one is fine), audited with
    /// `actor`.
    pub async fn release(&self, holder: &str, actor: Option<String>) -> Result<(), FleetDocsError> {
        let holder = holder.to_owned();
        let answer = self
            .db
            .run(move |c| {
                let answer = fleet_docs::release(c, &holder)?;
                if answer.is_ok() {
                    audit::append(c, actor.as_deref(), "lease.release", &holder)?;
                }
                Ok(answer)
            })
            .await?;
        Ok(answer?)
    }

    /// The newest journals, newest first.
    pub async fn upgrades(&self) -> Result<Vec<UpgradeRecord>, FleetDocsError> {
        Ok(self
            .db
            .run(|c| fleet_docs::list_upgrades(c, LIST_LIMIT))
            .await?)
    }

    pub async fn upgrade(&self, id: &str) -> Result<UpgradeRecord, FleetDocsError> {
        let wanted = id.to_owned();
        self.db
            .run(move |c| fleet_docs::get_upgrade(c, &wanted))
            .await?
            .ok_or_else(|| FleetDocsError::NoUpgrade(id.to_owned()))
    }

    /// Creates or replaces journal `id` (optimistic: `req.expected_version` must be the stored
    /// version); returns it with its new version.
    pub async fn put_upgrade(
        &self,
        id: String,
        req: PutUpgradeRequest,
    ) -> Result<UpgradeRecord, FleetDocsError> {
        check_id(&id)?;
        let answer = self
            .db
            .run(move |c| fleet_docs::put_upgrade(c, &id, req.expected_version, &req.doc))
            .await?;
        Ok(answer?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_short_and_plain() {
        for ok in ["up-1764000000-4242", "a", "A.b_c-9"] {
            assert!(check_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "a/b", &"x".repeat(101)] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refusals_say_what_the_api_answers() {
        let stale = FleetDocsError::from(Refusal::VersionMismatch { stored: None });
        assert_eq!(
            stale.to_string(),
            "journal version mismatch: stored version is none"
        );
        let stale = FleetDocsError::VersionMismatch { stored: Some(3) };
        assert_eq!(
            stale.to_string(),
            "journal version mismatch: stored version is 3"
        );
    }
}
