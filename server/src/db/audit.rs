//! The `audit_log` table: who changed what, one line each, append-only.

use bbctl_api::AuditEntry;
use diesel::prelude::*;

use super::schema::audit_log;
use super::{Conn, DbError, now, with_conn};

#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_log)]
struct Row {
    id: i64,
    at: f64,
    actor: Option<String>,
    action: String,
    detail: String,
}

pub fn append(
    conn: &mut Conn,
    actor: Option<&str>,
    action: &str,
    detail: &str,
) -> Result<(), DbError> {
    let values = (
        audit_log::at.eq(now()),
        audit_log::actor.eq(actor),
        audit_log::action.eq(action),
        audit_log::detail.eq(detail),
    );
    with_conn!(conn, |c| diesel::insert_into(audit_log::table)
        .values(values)
        .execute(c))?;
    Ok(())
}

/// Newest first.
pub fn list(conn: &mut Conn, limit: i64) -> Result<Vec<AuditEntry>, DbError> {
    let rows: Vec<Row> = with_conn!(conn, |c| audit_log::table
        .order(audit_log::id.desc())
        .limit(limit)
        .select(Row::as_select())
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(|r| AuditEntry {
            id: r.id,
            at: r.at,
            actor: r.actor,
            action: r.action,
            detail: r.detail,
        })
        .collect())
}
