//! The fleet lease: one holder at a time may change the fleet. It lives in the fleet store,
//! reached through the [`Coordinator`]. The holder is a *run token* unique to one run of bbctl
//! (`<operation>/<user@host>/<pid>-<4 hex>`); the operation is the upgrade id. Every take raises
//! the lease's epoch; this run remembers it and sets the context's fence, so every mutating call
//! of every agent client carries `X-Bbctl-Lease-Epoch: <fleet>:<epoch>` and an agent that has
//! seen a newer epoch refuses it (409 `stale_epoch`). Renewals and releases send the epoch too.
//! A renew answered `stale_epoch` means another run took the lease over (`resume --take-over`,
//! `abort`, or after it expired): this run stops at once — no rollback, no release — exit 5.
//! `bbctl drain` refuses while an upgrade holds the lease.

use bbctl_api::{ErrorCode, FenceToken, Lease, LeaseKind, LeaseRequest, StaleEpochDetails};

use super::coordinator::{Coordinator, store_unreachable};
use super::error::UpgradeError;
use crate::client::{AgentClient, ApiError};
use crate::ctx::Ctx;
use crate::report::upgrade::Journal;

/// Overrides the lease's TTL, seconds (1 … 86400; default [`DEFAULT_TTL_SECS`]). For tests that
/// outlast a TTL, and for operators who want a paused run to be taken over sooner.
pub const TTL_ENV: &str = "BBCTL_LEASE_TTL_SECS";

/// The lease lasts this long unless renewed; it is renewed every third of it.
pub const DEFAULT_TTL_SECS: f64 = 90.0;

/// The lease's TTL: [`TTL_ENV`] when set to a number in range, else [`DEFAULT_TTL_SECS`].
pub fn ttl_secs() -> f64 {
    std::env::var(TTL_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|t| (1.0..=86400.0).contains(t))
        .unwrap_or(DEFAULT_TTL_SECS)
}

/// The DB agent of a `migrate` upgrade (backup, restore, the DB head): the first non-standby
/// master of the inventory by name.
pub fn coordinator(ctx: &Ctx) -> Result<AgentClient, UpgradeError> {
    let mut targets: Vec<_> = ctx.targets().iter().filter(|t| !t.standby).collect();
    targets.sort_by(|a, b| a.name.cmp(&b.name));
    targets.first().map(|t| ctx.client(t)).ok_or_else(|| {
        UpgradeError::Usage("the inventory has no non-standby master to coordinate on".into())
    })
}

/// The holder token of this run of bbctl for `operation`: `<operation>/<user@host>/<pid>-<4 hex>`.
pub fn run_token(operation: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!(
        "{operation}/{}/{}-{:04x}",
        crate::operator::requested_by(),
        std::process::id(),
        h.finish() & 0xffff
    )
}

/// The lease's reason while the upgrade `j` runs (shown to anyone it refuses).
pub fn reason(j: &Journal) -> String {
    upgrade_reason(&j.reason, &j.id, &j.requested_by)
}

/// The lease's reason for the upgrade `id`, asked for by `by` for `reason`.
pub fn upgrade_reason(reason: &str, id: &str, by: &str) -> String {
    format!("{reason} (upgrade {id} by {by})")
}

/// What a run asks the lease for.
#[derive(Debug, Clone)]
pub struct Want {
    pub operation: String,
    pub reason: String,
    pub kind: LeaseKind,
    /// Take it even while another run holds it for the same operation (`resume --take-over`,
    /// `abort`).
    pub take_over: bool,
}

/// The lease as this run holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    pub fleet: String,
    pub operation: String,
    pub holder: String,
    pub epoch: i64,
    pub reason: String,
    pub kind: LeaseKind,
}

/// The answer to a take: held, or refused with the lease as the store has it.
pub enum Taken {
    Held(Held),
    Refused(Option<Lease>),
}

/// Takes the lease under a new run token; on success every later mutating call of `ctx`'s
/// clients carries its epoch.
pub async fn try_take(ctx: &Ctx, coord: &Coordinator, want: &Want) -> Result<Taken, ApiError> {
    let request = LeaseRequest {
        holder: run_token(&want.operation),
        operation: Some(want.operation.clone()),
        reason: want.reason.clone(),
        ttl_secs: ttl_secs(),
        kind: want.kind,
        epoch: None,
        take_over: want.take_over,
    };
    let answer = coord
        .call(|a| {
            let request = request.clone();
            async move { a.lease_put(&request).await }
        })
        .await;
    match answer {
        Ok(lease) => {
            ctx.fence().set(FenceToken {
                fleet: lease.fleet.clone(),
                epoch: lease.epoch,
            });
            Ok(Taken::Held(Held {
                fleet: lease.fleet,
                operation: lease.operation,
                holder: lease.holder,
                epoch: lease.epoch,
                reason: lease.reason,
                kind: lease.kind,
            }))
        }
        Err(err) if err.is(ErrorCode::Conflict) => Ok(Taken::Refused(err.details_as::<Lease>())),
        Err(err) => Err(err),
    }
}

/// [`try_take`], a refusal naming the holder.
pub async fn take(ctx: &Ctx, coord: &Coordinator, want: &Want) -> Result<Held, UpgradeError> {
    match try_take(ctx, coord, want).await? {
        Taken::Held(held) => Ok(held),
        Taken::Refused(lease) => Err(refusal(lease)),
    }
}

/// The refusal while another holder has the lease.
pub fn refusal(lease: Option<Lease>) -> UpgradeError {
    let message = match lease {
        Some(l) => format!(
            "refusing to upgrade: the fleet is held by {}, kind {}; it expires in {} unless \
             renewed",
            describe(&l),
            l.kind.as_str(),
            crate::time::human(l.remaining_secs().max(0.0))
        ),
        None => "refusing to upgrade: the fleet is held by ? (?), kind ?, until ?".to_string(),
    };
    UpgradeError::refused(message, vec![])
}

/// Renews the lease this run holds (its epoch must still be the lease's).
pub async fn renew(coord: &Coordinator, held: &Held) -> Result<(), ApiError> {
    let request = LeaseRequest {
        holder: held.holder.clone(),
        operation: Some(held.operation.clone()),
        reason: held.reason.clone(),
        ttl_secs: ttl_secs(),
        kind: held.kind,
        epoch: Some(held.epoch),
        take_over: false,
    };
    coord
        .call(|a| {
            let request = request.clone();
            async move { a.lease_put(&request).await }
        })
        .await
        .map(|_| ())
}

/// [`renew`] after a pause: fenced off is the run's end ([`UpgradeError::Fenced`]).
pub async fn renew_or_stop(coord: &Coordinator, held: &Held) -> Result<(), UpgradeError> {
    renew(coord, held)
        .await
        .map_err(|err| fenced(held, &err).unwrap_or(UpgradeError::Agent(err)))
}

/// Releases the lease this run holds (best effort: an unreleased lease expires on its own).
pub async fn release(ctx: &Ctx, coord: &Coordinator, held: &Held) {
    let _ = coord
        .call(|a| async move { a.lease_delete(&held.holder, Some(held.epoch)).await })
        .await;
    ctx.fence().clear();
}

/// The run's end when `err` says another run took the lease over (409 `stale_epoch`, from a
/// renewal, a journal append or any fenced call).
pub fn fenced(held: &Held, err: &ApiError) -> Option<UpgradeError> {
    if !err.is(ErrorCode::StaleEpoch) {
        return None;
    }
    let details = err.details_as::<StaleEpochDetails>();
    let holder = details
        .as_ref()
        .and_then(|d| d.holder.clone())
        .unwrap_or_else(|| "another run".into());
    let current = details.map_or("a newer epoch".into(), |d| format!("epoch {}", d.current));
    Some(UpgradeError::Fenced(format!(
        "stopped: the fleet lease was taken over by {holder} ({current}; this run held epoch {}); \
         nothing more was done, nothing was rolled back or released — follow it with \
         `bbctl upgrade status {}`",
        held.epoch, held.operation
    )))
}

/// Renews the lease in the background while alive; dropping it stops the renewals. When a
/// renewal is answered `stale_epoch` it stops and [`Renewal::fenced`] resolves.
pub struct Renewal {
    task: tokio::task::JoinHandle<()>,
    fenced: tokio::sync::watch::Receiver<Option<String>>,
}

impl Renewal {
    pub fn start(coord: Coordinator, held: Held) -> Renewal {
        Renewal::every(
            std::time::Duration::from_secs_f64(ttl_secs() / 3.0),
            coord,
            held,
        )
    }

    fn every(period: std::time::Duration, coord: Coordinator, held: Held) -> Renewal {
        let (tx, rx) = tokio::sync::watch::channel(None);
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                match renew(&coord, &held).await {
                    Ok(()) => {}
                    Err(err) => match fenced(&held, &err) {
                        Some(stop) => {
                            let _ = tx.send(Some(stop.to_string()));
                            return;
                        }
                        None if store_unreachable(&err) => {
                            eprintln!("warning: could not renew the fleet lease: {err}; retrying")
                        }
                        None => eprintln!("warning: could not renew the fleet lease: {err}"),
                    },
                }
            }
        });
        Renewal { task, fenced: rx }
    }

    /// Resolves once a renewal was answered `stale_epoch`, with the run's end.
    pub async fn fenced(&mut self) -> UpgradeError {
        match self.fenced.wait_for(|v| v.is_some()).await {
            Ok(v) => UpgradeError::Fenced(v.clone().unwrap_or_default()),
            // The task ended otherwise (never, while the renewal lives): wait forever.
            Err(_) => std::future::pending().await,
        }
    }
}

impl Drop for Renewal {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The lease in words for whoever it refuses: who holds it, why, since when (store clock).
pub fn describe(lease: &Lease) -> String {
    format!(
        "{} ({}), taken {} ago",
        lease.holder,
        lease.reason,
        crate::time::human(lease.db_now - lease.acquired_at)
    )
}

/// The warning when the lease could not be read: what actually happened (a refused token, an
/// unreachable agent, its error), and that the caller goes on without it.
pub fn unchecked(err: &ApiError) -> String {
    format!(
        "warning: cannot tell whether an upgrade holds the fleet (the lease is kept by agent \
         {}): {err}; going on without that check",
        err.agent()
    )
}

/// The live lease an upgrade holds now, if any (`bbctl drain` refuses then): `None` when the
/// lease is free, expired, held for something else, or the inventory has no coordinator. `Err`
/// is the warning to print when it could not be told.
pub async fn held_by_upgrade(ctx: &Ctx) -> Result<Option<Lease>, String> {
    let coord = match Coordinator::locate(ctx).await {
        Ok(c) => c,
        Err(UpgradeError::Usage(m)) if m.contains("no non-standby") => return Ok(None),
        Err(err) => {
            return Err(format!(
                "warning: cannot tell whether an upgrade holds the fleet: {err}; going on \
                 without that check"
            ));
        }
    };
    match coord.call(|a| async move { a.lease_get().await }).await {
        Ok(lease) => {
            Ok(Some(lease).filter(|l| l.kind == LeaseKind::Upgrade && l.remaining_secs() > 0.0))
        }
        Err(err) if err.is(ErrorCode::NotFound) => Ok(None),
        Err(err) => Err(unchecked(&err)),
    }
}

#[cfg(test)]
#[path = "lease_tests.rs"]
pub(crate) mod tests;
