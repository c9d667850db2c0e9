//! The `fleet_lease` and `upgrades` tables: fleet coordination documents kept on the coordinator
//! agent so that any operator machine sees (and can resume) an upgrade. The lease is one row
//! (id 1) taken and renewed inside a transaction; journals are replaced with an optimistic
//! version check.

use bbctl_api::{Lease, LeaseKind, UpgradeRecord};
use diesel::prelude::*;

use super::schema::{fleet_lease, upgrades};
use super::{Conn, DbError, now, with_conn};

/// The id of the only lease row.
const LEASE_ROW: i64 = 1;

/// Why a lease or journal write was refused.
#[derive(Debug)]
pub enum Refusal {
    /// Another holder has an unexpired lease.
    Held(Lease),
    /// The caller does not hold the lease it tried to release.
    NotHolder(Option<Lease>),
    /// The journal's stored version is not the expected one.
    VersionMismatch { stored: Option<i64> },
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = fleet_lease)]
struct LeaseRow {
    holder: String,
    reason: String,
    kind: String,
    acquired_at: f64,
    renewed_at: f64,
    expires_at: f64,
}

impl LeaseRow {
    fn into_wire(self) -> Result<Lease, DbError> {
        let kind: LeaseKind = serde_json::from_value(serde_json::Value::String(self.kind))
            .map_err(|e| DbError::Malformed(format!("lease kind: {e}")))?;
        Ok(Lease {
            holder: self.holder,
            reason: self.reason,
            kind,
            acquired_at: self.acquired_at,
            renewed_at: self.renewed_at,
            expires_at: self.expires_at,
        })
    }
}

fn load_lease(conn: &mut Conn) -> Result<Option<Lease>, DbError> {
    let row: Option<LeaseRow> = with_conn!(conn, |c| fleet_lease::table
        .find(LEASE_ROW)
        .select(LeaseRow::as_select())
        .first(c)
        .optional())?;
    row.map(LeaseRow::into_wire).transpose()
}

/// The lease, if one is held and unexpired.
pub fn lease(conn: &mut Conn) -> Result<Option<Lease>, DbError> {
    Ok(load_lease(conn)?.filter(|l| l.expires_at > now()))
}

/// Acquires the lease for `holder` (or renews it when `holder` has it). Refused with the current
/// lease when another holder's lease has not expired.
pub fn acquire(
    conn: &mut Conn,
    holder: &str,
    reason: &str,
    kind: LeaseKind,
    ttl_secs: f64,
) -> Result<Result<Lease, Refusal>, DbError> {
    let (holder, reason) = (holder.to_owned(), reason.to_owned());
    let tx = |conn: &mut Conn| -> Result<Result<Lease, Refusal>, DbError> {
        let at = now();
        let current = load_lease(conn)?;
        let acquired_at = match &current {
            Some(l) if l.holder == holder => l.acquired_at,
            Some(l) if l.expires_at > at => return Ok(Err(Refusal::Held(l.clone()))),
            _ => at,
        };
        let values = (
            fleet_lease::id.eq(LEASE_ROW),
            fleet_lease::holder.eq(&holder),
            fleet_lease::reason.eq(&reason),
            fleet_lease::kind.eq(kind.as_str()),
            fleet_lease::acquired_at.eq(acquired_at),
            fleet_lease::renewed_at.eq(at),
            fleet_lease::expires_at.eq(at + ttl_secs),
        );
        with_conn!(conn, |c| {
            diesel::delete(fleet_lease::table).execute(c)?;
            diesel::insert_into(fleet_lease::table)
                .values(values)
                .execute(c)
        })?;
        Ok(Ok(load_lease(conn)?.expect("just written")))
    };
    in_transaction(conn, tx)
}

/// Releases the lease if `holder` holds it (expired or not). Releasing a lease nobody holds is
/// fine; another holder's is refused.
pub fn release(conn: &mut Conn, holder: &str) -> Result<Result<(), Refusal>, DbError> {
    let holder = holder.to_owned();
    in_transaction(conn, move |conn| match load_lease(conn)? {
        None => Ok(Ok(())),
        Some(l) if l.holder == holder => {
            with_conn!(conn, |c| diesel::delete(fleet_lease::table).execute(c))?;
            Ok(Ok(()))
        }
        Some(l) if l.expires_at <= now() => Ok(Ok(())),
        Some(l) => Ok(Err(Refusal::NotHolder(Some(l)))),
    })
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = upgrades)]
struct UpgradeRow {
    id: String,
    version: i64,
    doc: String,
    created_at: f64,
    updated_at: f64,
}

impl UpgradeRow {
    fn into_wire(self) -> Result<UpgradeRecord, DbError> {
        Ok(UpgradeRecord {
            doc: serde_json::from_str(&self.doc)
                .map_err(|e| DbError::Malformed(format!("upgrade {}: {e}", self.id)))?,
            id: self.id,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

pub fn get_upgrade(conn: &mut Conn, id: &str) -> Result<Option<UpgradeRecord>, DbError> {
    let row: Option<UpgradeRow> = with_conn!(conn, |c| upgrades::table
        .find(id)
        .select(UpgradeRow::as_select())
        .first(c)
        .optional())?;
    row.map(UpgradeRow::into_wire).transpose()
}

/// Newest first (by creation).
pub fn list_upgrades(conn: &mut Conn, limit: i64) -> Result<Vec<UpgradeRecord>, DbError> {
    let rows: Vec<UpgradeRow> = with_conn!(conn, |c| upgrades::table
        .order((upgrades::created_at.desc(), upgrades::id.desc()))
        .limit(limit)
        .select(UpgradeRow::as_select())
        .load(c))?;
    rows.into_iter().map(UpgradeRow::into_wire).collect()
}

/// Creates (`expected` None or 0, and no such journal) or replaces (`expected` = stored version)
/// a journal; returns it with its new version.
pub fn put_upgrade(
    conn: &mut Conn,
    id: &str,
    expected: Option<i64>,
    doc: &serde_json::Value,
) -> Result<Result<UpgradeRecord, Refusal>, DbError> {
    let (id, text) = (id.to_owned(), doc.to_string());
    in_transaction(conn, move |conn| {
        let at = now();
        let stored = get_upgrade(conn, &id)?.map(|r| r.version);
        match (stored, expected.unwrap_or(0)) {
            (None, 0) => {
                let values = (
                    upgrades::id.eq(&id),
                    upgrades::version.eq(1i64),
                    upgrades::doc.eq(&text),
                    upgrades::created_at.eq(at),
                    upgrades::updated_at.eq(at),
                );
                with_conn!(conn, |c| diesel::insert_into(upgrades::table)
                    .values(values)
                    .execute(c))?;
            }
            (Some(v), e) if v == e => {
                let changes = (
                    upgrades::version.eq(v + 1),
                    upgrades::doc.eq(&text),
                    upgrades::updated_at.eq(at),
                );
                with_conn!(conn, |c| diesel::update(upgrades::table.find(&id))
                    .set(changes)
                    .execute(c))?;
            }
            (stored, _) => return Ok(Err(Refusal::VersionMismatch { stored })),
        }
        Ok(Ok(get_upgrade(conn, &id)?.expect("just written")))
    })
}

/// Runs `f` in a transaction on either backend.
fn in_transaction<T>(
    conn: &mut Conn,
    f: impl FnOnce(&mut Conn) -> Result<T, DbError>,
) -> Result<T, DbError> {
    let begin = match conn {
        Conn::Sqlite(_) => "BEGIN IMMEDIATE",
        Conn::Postgres(_) => "BEGIN ISOLATION LEVEL SERIALIZABLE",
    };
    with_conn!(conn, |c| diesel::sql_query(begin).execute(c))?;
    match f(conn) {
        Ok(v) => {
            with_conn!(conn, |c| diesel::sql_query("COMMIT").execute(c))?;
            Ok(v)
        }
        Err(e) => {
            let _ = with_conn!(conn, |c| diesel::sql_query("ROLLBACK").execute(c));
            Err(e)
        }
    }
}
