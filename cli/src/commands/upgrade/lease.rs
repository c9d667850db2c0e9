//! The fleet lease: one holder at a time may change the fleet. It lives on the coordinator agent
//! (the first non-standby master of the inventory by name, which also keeps the journals). An
//! upgrade takes it before its pre-flight, keeps it renewed while it runs, takes it again after a
//! pause (a pause can outlast its TTL), and releases it when it ends; `bbctl drain` refuses while
//! an upgrade holds it. A refusal names the holder (`409` with the current [`Lease`] in
//! `details`).

use bbctl_api::{ErrorCode, Lease, LeaseKind, LeaseRequest};

use super::error::UpgradeError;
use crate::client::{AgentClient, ApiError};
use crate::ctx::Ctx;
use crate::report::upgrade::Journal;

/// The lease lasts this long unless renewed; it is renewed every third of it.
const TTL_SECS: f64 = 90.0;

/// The coordinator: the first non-standby master of the inventory by name.
pub fn coordinator(ctx: &Ctx) -> Result<AgentClient, UpgradeError> {
    let mut targets: Vec<_> = ctx.targets().iter().filter(|t| !t.standby).collect();
    targets.sort_by(|a, b| a.name.cmp(&b.name));
    targets.first().map(|t| ctx.client(t)).ok_or_else(|| {
        UpgradeError::Usage("the inventory has no non-standby master to coordinate on".into())
    })
}

/// The lease's reason while the upgrade `j` runs (shown to anyone it refuses).
pub fn reason(j: &Journal) -> String {
    upgrade_reason(&j.reason, &j.id, &j.requested_by)
}

/// The lease's reason for the upgrade `id`, asked for by `by` for `reason`.
pub fn upgrade_reason(reason: &str, id: &str, by: &str) -> String {
    format!("{reason} (upgrade {id} by {by})")
}

/// Takes (or renews) the fleet lease for `holder`; refused with the current holder's reason.
pub async fn take(
    coordinator: &AgentClient,
    holder: &str,
    reason: &str,
) -> Result<(), UpgradeError> {
    let request = LeaseRequest {
        holder: holder.to_string(),
        reason: reason.to_string(),
        ttl_secs: TTL_SECS,
        kind: LeaseKind::Upgrade,
    };
    match coordinator.lease_put(&request).await {
        Ok(_) => Ok(()),
        Err(err) if err.is(ErrorCode::Conflict) => {
            Err(held(err.details_as::<Lease>(), crate::time::now_secs()))
        }
        Err(err) => Err(err.into()),
    }
}

/// The refusal while another holder has the lease.
fn held(lease: Option<Lease>, now: f64) -> UpgradeError {
    let message = match lease {
        Some(l) => {
            format!(
                "refusing to upgrade: the fleet is held by {}, kind {}; it expires in {} unless \
                 renewed",
                describe(&l, now),
                l.kind.as_str(),
                crate::time::human((l.expires_at - now).max(0.0))
            )
        }
        None => "refusing to upgrade: the fleet is held by ? (?), kind ?, until ?".to_string(),
    };
    UpgradeError::refused(message, vec![])
}

/// Releases the lease `holder` has (best effort: an unreleased lease expires on its own).
pub async fn release(coordinator: &AgentClient, holder: &str) {
    let _ = coordinator.lease_delete(holder).await;
}

/// Renews the lease in the background while alive; dropping it stops the renewals.
pub struct Renewal(tokio::task::JoinHandle<()>);

impl Renewal {
    pub fn start(coordinator: AgentClient, holder: String, reason: String) -> Renewal {
        Renewal(tokio::spawn(async move {
            let period = std::time::Duration::from_secs_f64(TTL_SECS / 3.0);
            loop {
                tokio::time::sleep(period).await;
                if let Err(err) = take(&coordinator, &holder, &reason).await {
                    eprintln!("warning: could not renew the fleet lease: {err}");
                }
            }
        }))
    }
}

impl Drop for Renewal {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The lease in words for whoever it refuses: who holds it, why, since when.
pub fn describe(lease: &Lease, now: f64) -> String {
    format!(
        "{} ({}), taken {} ago",
        lease.holder,
        lease.reason,
        crate::time::human(now - lease.acquired_at)
    )
}

/// The warning when the lease could not be read from the coordinator: what actually happened
/// (a refused token, an unreachable agent, its error), and that the caller goes on without it.
pub fn unchecked(err: &ApiError) -> String {
    format!(
        "warning: cannot tell whether an upgrade holds the fleet (the lease is kept by agent \
         {}): {err}; going on without that check",
        err.agent()
    )
}

/// The lease an upgrade holds now, if any (`bbctl drain` refuses then): `None` when the lease is
/// free, held for something else, or the inventory has no coordinator.
pub async fn held_by_upgrade(ctx: &Ctx) -> Result<Option<Lease>, ApiError> {
    let Ok(coordinator) = coordinator(ctx) else {
        return Ok(None);
    };
    match coordinator.lease_get().await {
        Ok(lease) => Ok(Some(lease).filter(|l| l.kind == LeaseKind::Upgrade)),
        Err(err) if err.is(ErrorCode::NotFound) => Ok(None),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 12: "cannot check the fleet lease (is an upgrade running?)" was printed whatever
    /// went wrong; the warning says what did.
    #[test]
    fn an_unchecked_lease_says_what_happened() {
        let refused = ApiError::from_answer(
            "m1",
            401,
            br#"{"error":{"code":"unauthorized","message":"missing or wrong bearer token"}}"#,
        );
        assert!(
            unchecked(&refused).starts_with(
                "warning: cannot tell whether an upgrade holds the fleet (the lease is kept by \
                 agent m1): token refused by agent m1: missing or wrong bearer token;"
            ),
            "{}",
            unchecked(&refused)
        );
        let down = ApiError::Unreachable {
            agent: "m1".into(),
            detail: "connection refused".into(),
        };
        assert_eq!(
            unchecked(&down),
            "warning: cannot tell whether an upgrade holds the fleet (the lease is kept by agent \
             m1): m1: unreachable (connection refused); going on without that check"
        );
        assert!(!unchecked(&down).contains("is an upgrade running?"));
    }

    #[test]
    fn a_held_lease_says_since_when() {
        let lease = Lease {
            holder: "up-1".into(),
            reason: "upgrade to v2 by a@h".into(),
            kind: LeaseKind::Upgrade,
            acquired_at: 1000.0,
            renewed_at: 1300.0,
            expires_at: 1390.0,
        };
        assert_eq!(
            describe(&lease, 1312.0),
            "up-1 (upgrade to v2 by a@h), taken 5m12s ago"
        );
    }

    #[test]
    fn a_refusal_names_the_holder_from_the_conflicts_details() {
        let body = serde_json::json!({"error": {"code": "conflict",
            "message": "the fleet is held by up-1 (upgrade to v2 by a@h) until 1700000090",
            "details": {"holder": "up-1", "reason": "upgrade to v2 by a@h", "kind": "upgrade",
                "acquired_at": 1.7e9, "renewed_at": 1.7e9, "expires_at": 1700000090.0}}});
        let err = ApiError::from_answer("m1", 409, body.to_string().as_bytes());
        let refusal = held(err.details_as::<Lease>(), 1.7e9 + 30.0);
        assert_eq!(refusal.exit(), crate::exit::Exit::Refused);
        assert_eq!(
            refusal.to_string(),
            "refusing to upgrade: the fleet is held by up-1 (upgrade to v2 by a@h), taken 30s ago, \
             kind upgrade; it expires in 1m00s unless renewed"
        );
    }
}
