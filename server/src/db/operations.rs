//! The `operations` table: every lifecycle operation asked of the agent, its requester, reason
//! and outcome.

use bbctl_api::OperationResult;
use diesel::prelude::*;

use super::schema::operations;
use super::{Conn, DbError, now, with_conn};

#[derive(Queryable, Selectable)]
#[diesel(table_name = operations)]
struct Row {
    id: i64,
    kind: String,
    started_at: f64,
    finished_at: Option<f64>,
    outcome: Option<String>,
    message: String,
    log_lines: String,
}

impl Row {
    fn into_wire(self) -> OperationResult {
        OperationResult {
            id: self.id,
            kind: self.kind,
            ok: self.outcome.as_deref() == Some("ok"),
            message: self.message,
            log_lines: serde_json::from_str(&self.log_lines).unwrap_or_default(),
            started_at: self.started_at,
            finished_at: self.finished_at,
            routing: None,
        }
    }
}

/// Records the start of an operation; returns its id.
pub fn begin(
    conn: &mut Conn,
    kind: &str,
    requested_by: Option<&str>,
    reason: Option<&str>,
) -> Result<i64, DbError> {
    let values = (
        operations::kind.eq(kind),
        operations::requested_by.eq(requested_by),
        operations::reason.eq(reason),
        operations::started_at.eq(now()),
    );
    let id = with_conn!(conn, |c| diesel::insert_into(operations::table)
        .values(values)
        .returning(operations::id)
        .get_result::<i64>(c))?;
    Ok(id)
}

/// Records the outcome of operation `id` and returns it as the wire type.
pub fn finish(
    conn: &mut Conn,
    id: i64,
    ok: bool,
    message: &str,
    log_lines: &[String],
) -> Result<OperationResult, DbError> {
    let lines = serde_json::to_string(log_lines).map_err(|e| DbError::Malformed(e.to_string()))?;
    let changes = (
        operations::finished_at.eq(Some(now())),
        operations::outcome.eq(Some(if ok { "ok" } else { "failed" })),
        operations::message.eq(message),
        operations::log_lines.eq(lines),
    );
    with_conn!(conn, |c| diesel::update(operations::table.find(id))
        .set(changes)
        .execute(c))?;
    get(conn, id)
}

pub fn get(conn: &mut Conn, id: i64) -> Result<OperationResult, DbError> {
    let row: Row = with_conn!(conn, |c| operations::table
        .find(id)
        .select(Row::as_select())
        .first(c))?;
    Ok(row.into_wire())
}

/// Newest first.
pub fn list(conn: &mut Conn, limit: i64) -> Result<Vec<OperationResult>, DbError> {
    let rows: Vec<Row> = with_conn!(conn, |c| operations::table
        .order(operations::id.desc())
        .limit(limit)
        .select(Row::as_select())
        .load(c))?;
    Ok(rows.into_iter().map(Row::into_wire).collect())
}

/// How many operations of `kind` a previous agent process left unfinished (read before
/// [`fail_interrupted`] marks them failed).
pub fn unfinished(conn: &mut Conn, kind: &str) -> Result<i64, DbError> {
    let n = with_conn!(conn, |c| operations::table
        .filter(operations::finished_at.is_null())
        .filter(operations::kind.eq(kind))
        .count()
        .get_result::<i64>(c))?;
    Ok(n)
}

/// Marks operations left unfinished by a previous agent process (it died mid-operation) as
/// failed, so that history tells the truth after a restart. Returns how many.
pub fn fail_interrupted(conn: &mut Conn) -> Result<usize, DbError> {
    let changes = (
        operations::finished_at.eq(Some(now())),
        operations::outcome.eq(Some("failed")),
        operations::message.eq("interrupted: the agent stopped before the operation finished"),
    );
    let n = with_conn!(conn, |c| diesel::update(
        operations::table.filter(operations::finished_at.is_null())
    )
    .set(changes)
    .execute(c))?;
    Ok(n)
}
