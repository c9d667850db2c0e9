//! The fleet lease with its fencing epoch (design §2.2): one row per fleet, never deleted; every
//! take raises the epoch by one; renew and release name the epoch they hold. Each is one
//! statement, the database's clock deciding expiry.

use bbctl_api::{Lease, LeaseKind, LeaseRequest, StaleEpochDetails};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Double, Nullable, Text};

use super::conn::{StoreConn, on_conn, sql};
use super::{FleetStore, StoreError, check_token};

/// The longest lease one request may take.
const MAX_TTL_SECS: f64 = 86_400.0;

const COLUMNS: &str = "fleet, operation, holder, reason, kind, epoch, acquired_at, renewed_at, \
                       expires_at, {now} AS db_now";

#[derive(QueryableByName)]
struct LeaseRow {
    #[diesel(sql_type = Text)]
    fleet: String,
    #[diesel(sql_type = Text)]
    operation: String,
    #[diesel(sql_type = Text)]
    holder: String,
    #[diesel(sql_type = Text)]
    reason: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = BigInt)]
    epoch: i64,
    #[diesel(sql_type = Double)]
    acquired_at: f64,
    #[diesel(sql_type = Double)]
    renewed_at: f64,
    #[diesel(sql_type = Double)]
    expires_at: f64,
    #[diesel(sql_type = Double)]
    db_now: f64,
}

impl LeaseRow {
    fn into_wire(self) -> Result<Lease, StoreError> {
        let kind: LeaseKind = serde_json::from_value(serde_json::Value::String(self.kind))
            .map_err(|e| StoreError::Malformed(format!("lease kind: {e}")))?;
        Ok(Lease {
            fleet: self.fleet,
            operation: self.operation,
            holder: self.holder,
            reason: self.reason,
            kind,
            epoch: self.epoch,
            acquired_at: self.acquired_at,
            renewed_at: self.renewed_at,
            expires_at: self.expires_at,
            db_now: self.db_now,
        })
    }
}

/// The fleet's lease row (live or not), read with the store's clock.
pub(super) fn read(c: &mut StoreConn, fleet: &str) -> Result<Option<Lease>, StoreError> {
    let q = sql(c, &format!("SELECT {COLUMNS} FROM lease WHERE fleet = $1"));
    let row: Option<LeaseRow> = on_conn!(c, |c| diesel::sql_query(q)
        .bind::<Text, _>(fleet)
        .get_result(c)
        .optional())?;
    row.map(LeaseRow::into_wire).transpose()
}

fn take(c: &mut StoreConn, fleet: &str, req: &LeaseRequest) -> Result<Option<Lease>, StoreError> {
    let q = sql(
        c,
        &format!(
            "INSERT INTO lease AS l (fleet, operation, holder, reason, kind, epoch, acquired_at, \
               renewed_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, 1, {{now}}, {{now}}, {{now}} + $6) \
             ON CONFLICT (fleet) DO UPDATE SET operation = excluded.operation, \
               holder = excluded.holder, reason = excluded.reason, kind = excluded.kind, \
               epoch = l.epoch + 1, acquired_at = excluded.acquired_at, \
               renewed_at = excluded.renewed_at, expires_at = excluded.expires_at \
             WHERE l.expires_at <= {{now}} OR (l.operation = excluded.operation AND $7) \
             RETURNING {COLUMNS}"
        ),
    );
    let operation = req.operation.as_deref().unwrap_or(&req.holder);
    let row: Option<LeaseRow> = on_conn!(c, |c| diesel::sql_query(q)
        .bind::<Text, _>(fleet)
        .bind::<Text, _>(operation)
        .bind::<Text, _>(&req.holder)
        .bind::<Text, _>(&req.reason)
        .bind::<Text, _>(req.kind.as_str())
        .bind::<Double, _>(req.ttl_secs)
        .bind::<Bool, _>(req.take_over)
        .get_result(c)
        .optional())?;
    row.map(LeaseRow::into_wire).transpose()
}

fn renew(
    c: &mut StoreConn,
    fleet: &str,
    holder: &str,
    epoch: i64,
    ttl: f64,
) -> Result<Option<Lease>, StoreError> {
    let q = sql(
        c,
        &format!(
            "UPDATE lease SET renewed_at = {{now}}, expires_at = {{now}} + $4 \
             WHERE fleet = $1 AND holder = $2 AND epoch = $3 RETURNING {COLUMNS}"
        ),
    );
    let row: Option<LeaseRow> = on_conn!(c, |c| diesel::sql_query(q)
        .bind::<Text, _>(fleet)
        .bind::<Text, _>(holder)
        .bind::<BigInt, _>(epoch)
        .bind::<Double, _>(ttl)
        .get_result(c)
        .optional())?;
    row.map(LeaseRow::into_wire).transpose()
}

#[derive(QueryableByName)]
struct Epoch {
    #[diesel(sql_type = BigInt)]
    epoch: i64,
}

fn release(
    c: &mut StoreConn,
    fleet: &str,
    holder: &str,
    epoch: Option<i64>,
) -> Result<Option<i64>, StoreError> {
    let q = sql(
        c,
        "UPDATE lease SET expires_at = {now} WHERE fleet = $1 AND holder = $2 \
         AND ($3 IS NULL OR epoch = $3) AND expires_at > {now} RETURNING epoch",
    );
    let row: Option<Epoch> = on_conn!(c, |c| diesel::sql_query(q)
        .bind::<Text, _>(fleet)
        .bind::<Text, _>(holder)
        .bind::<Nullable<BigInt>, _>(epoch)
        .get_result(c)
        .optional())?;
    Ok(row.map(|r| r.epoch))
}

/// The refusal of a renew (or an append) whose holder/epoch is not the lease's.
pub(super) fn stale(fleet: &str, presented: i64, current: Option<&Lease>) -> StoreError {
    StoreError::StaleEpoch(Box::new(StaleEpochDetails {
        fleet: fleet.to_owned(),
        presented,
        current: current.map_or(0, |l| l.epoch),
        holder: current.map(|l| l.holder.clone()),
    }))
}

impl FleetStore {
    /// `PUT /v1/lease`: take (no `epoch`) or renew (`epoch` = the one held).
    /// A take is audited with `actor`.
    pub async fn put_lease(
        &self,
        req: LeaseRequest,
        actor: Option<String>,
    ) -> Result<Lease, StoreError> {
        check_token("holder", &req.holder)?;
        if let Some(op) = &req.operation {
            check_token("operation", op)?;
        }
        if !(req.ttl_secs.is_finite() && (1.0..=MAX_TTL_SECS).contains(&req.ttl_secs)) {
            return Err(StoreError::BadRequest(
                "ttl_secs must be between 1 and 86400".into(),
            ));
        }
        let fleet = self.fleet().to_owned();
        let taking = req.epoch.is_none();
        let lease = self
            .run(move |c| match req.epoch {
                None => match take(c, &fleet, &req)? {
                    Some(lease) => Ok(lease),
                    None => match read(c, &fleet)? {
                        Some(current) => Err(StoreError::Held(Box::new(current))),
                        // Deleted between the two statements (by hand): say so as held-by-nobody.
                        None => Err(StoreError::NoLease(fleet)),
                    },
                },
                Some(epoch) => match renew(c, &fleet, &req.holder, epoch, req.ttl_secs)? {
                    Some(lease) => Ok(lease),
                    None => Err(stale(&fleet, epoch, read(c, &fleet)?.as_ref())),
                },
            })
            .await?;
        if taking {
            let detail = format!(
                "{} epoch {} for {} ({})",
                lease.holder, lease.epoch, lease.operation, lease.reason
            );
            self.audit(actor, "lease.acquire", detail).await;
        }
        Ok(lease)
    }

    /// `GET /v1/lease`: the lease row, live or not (404 when never taken).
    pub async fn lease(&self) -> Result<Lease, StoreError> {
        let fleet = self.fleet().to_owned();
        self.run(move |c| read(c, &fleet)?.ok_or(StoreError::NoLease(fleet)))
            .await
    }

    /// `DELETE /v1/lease`: ends `holder`'s live lease now; the row and its epoch stay.
    /// Releasing a lease that is free or expired is fine; another holder's live one is refused.
    pub async fn release_lease(
        &self,
        holder: String,
        epoch: Option<i64>,
        actor: Option<String>,
    ) -> Result<(), StoreError> {
        let fleet = self.fleet().to_owned();
        let who = holder.clone();
        let released = self
            .run(move |c| {
                if let Some(epoch) = release(c, &fleet, &holder, epoch)? {
                    return Ok(Some(epoch));
                }
                match read(c, &fleet)? {
                    Some(l) if l.expires_at > l.db_now && l.holder != holder => {
                        Err(StoreError::NotHolder(Box::new(l)))
                    }
                    Some(l) if l.expires_at > l.db_now && Some(l.epoch) != epoch => {
                        Err(stale(&fleet, epoch.unwrap_or(0), Some(&l)))
                    }
                    _ => Ok(None),
                }
            })
            .await?;
        if let Some(epoch) = released {
            let detail = format!("{who} epoch {epoch}");
            self.audit(actor, "lease.release", detail).await;
        }
        Ok(())
    }

    /// The lease as the fence sees it (no error when never taken).
    pub async fn current_lease(&self) -> Result<Option<Lease>, StoreError> {
        let fleet = self.fleet().to_owned();
        self.run(move |c| read(c, &fleet)).await
    }
}
