//! The fencing rule behind `crate::fence` (design §2.3): a mutating call made under the fleet
//! lease presents `<fleet>:<epoch>`; the agent refuses an epoch older than the highest it knows —
//! the larger of its own `fence` row (state DB: survives restarts and store outages) and the
//! store's lease epoch (when the store answers) — and otherwise remembers the presented one.

use std::time::Duration;

use bbctl_api::{FenceToken, Lease, StaleEpochDetails};

use super::{FleetStore, StoreError};
use crate::db::{Db, DbError, fence};

/// How long a fenced call waits for the store's lease before judging on the agent's own row.
const STORE_WAIT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum FenceError {
    #[error(
        "malformed {} header: expected <fleet>:<epoch>",
        bbctl_api::LEASE_EPOCH_HEADER
    )]
    Malformed,
    #[error("lease epoch for fleet {presented}, this agent is in fleet {ours}")]
    OtherFleet { presented: String, ours: String },
    #[error(transparent)]
    Stale(StoreError),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Whether a presented epoch may act: `Ok(highest to remember)` or the refusal's details.
pub fn judge(
    fleet: &str,
    presented: i64,
    local: i64,
    store: Option<&Lease>,
) -> Result<i64, StaleEpochDetails> {
    let store_epoch = store.map_or(0, |l| l.epoch);
    let highest = local.max(store_epoch);
    if presented < highest {
        return Err(StaleEpochDetails {
            fleet: fleet.to_owned(),
            presented,
            current: highest,
            holder: store
                .filter(|l| l.epoch == highest)
                .map(|l| l.holder.clone()),
        });
    }
    Ok(presented)
}

/// The fence service: this agent's `fence` rows and the fleet store. Cheap to clone.
#[derive(Clone)]
pub struct Fence {
    db: Db,
    store: FleetStore,
}

impl Fence {
    pub fn new(db: Db, store: FleetStore) -> Fence {
        Fence { db, store }
    }

    /// Checks the header value of one mutating call; on success the agent's row holds at least
    /// the presented epoch.
    pub async fn check(&self, header: &str) -> Result<(), FenceError> {
        let token = FenceToken::parse(header).ok_or(FenceError::Malformed)?;
        let ours = self.store.fleet().to_owned();
        if token.fleet != ours {
            return Err(FenceError::OtherFleet {
                presented: token.fleet,
                ours,
            });
        }
        let store = tokio::time::timeout(STORE_WAIT, self.store.current_lease())
            .await
            .ok()
            .and_then(Result::ok)
            .flatten();
        let fleet = ours.clone();
        let presented = token.epoch;
        self.db
            .run(move |c| {
                let local = fence::get(c, &fleet)?;
                match judge(&fleet, presented, local, store.as_ref()) {
                    Ok(highest) => {
                        fence::raise(c, &fleet, highest)?;
                        Ok(Ok(()))
                    }
                    Err(details) => Ok(Err(details)),
                }
            })
            .await?
            .map_err(|d| FenceError::Stale(StoreError::StaleEpoch(Box::new(d))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bbctl_api::LeaseKind;

    fn lease(epoch: i64) -> Lease {
        Lease {
            fleet: "prod".into(),
            operation: "up-2".into(),
            holder: "up-2/bob@h/1-beef".into(),
            reason: "r".into(),
            kind: LeaseKind::Upgrade,
            epoch,
            acquired_at: 1.0,
            renewed_at: 1.0,
            expires_at: 2.0,
            db_now: 1.5,
        }
    }

    #[test]
    fn the_highest_of_the_row_and_the_store_decides() {
        // (presented, local row, store epoch) → accepted
        for (presented, local, store, ok) in [
            (1, 0, None, true),
            (5, 5, Some(5), true),
            (6, 5, Some(5), true),
            (4, 5, None, false),
            (4, 0, Some(5), false),
            (5, 7, Some(5), false),
            (7, 7, None, true),
        ] {
            let store = store.map(lease);
            let verdict = judge("prod", presented, local, store.as_ref());
            assert_eq!(verdict.is_ok(), ok, "{presented} {local} {store:?}");
        }
    }

    #[test]
    fn a_refusal_names_the_new_holder_when_the_store_told() {
        let d = judge("prod", 6, 0, Some(&lease(7))).unwrap_err();
        assert_eq!((d.presented, d.current), (6, 7));
        assert_eq!(d.holder.as_deref(), Some("up-2/bob@h/1-beef"));
        let d = judge("prod", 6, 8, Some(&lease(7))).unwrap_err();
        assert_eq!((d.current, d.holder), (8, None));
    }
}
