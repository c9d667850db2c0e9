//! The `buildbot_db_ops` table: each backup, upgrade and restore of Buildbot's database, one row
//! per (upgrade id, kind), holding the operation as the API answers it.

use bbctl_api::{BuildbotDbOp, DbOpKind, DbOpState};
use diesel::prelude::*;

use super::schema::buildbot_db_ops as t;
use super::{Conn, DbError, now, with_conn};

#[derive(Queryable, Selectable)]
#[diesel(table_name = t)]
struct Row {
    op: String,
    pid: Option<i64>,
}

/// A recorded operation and the process id of its tool, if one was recorded.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub op: BuildbotDbOp,
    pub pid: Option<u32>,
}

fn decode(row: Row) -> Result<Recorded, DbError> {
    let op = serde_json::from_str(&row.op).map_err(|e| DbError::Malformed(e.to_string()))?;
    Ok(Recorded {
        op,
        pid: row.pid.and_then(|p| u32::try_from(p).ok()),
    })
}

/// Writes `op` as the row of its (upgrade id, kind), replacing a previous attempt.
pub fn put(conn: &mut Conn, op: &BuildbotDbOp, pid: Option<u32>) -> Result<(), DbError> {
    let doc = serde_json::to_string(op).map_err(|e| DbError::Malformed(e.to_string()))?;
    let (id, kind, state) = (op.upgrade_id.as_str(), op.kind.as_str(), op.state.as_str());
    let pid = pid.map(i64::from);
    let at = now();
    let key = t::upgrade_id.eq(id).and(t::kind.eq(kind));
    with_conn!(conn, |c| c.transaction(|c| {
        let n = diesel::update(t::table.filter(key))
            .set((
                t::state.eq(state),
                t::op.eq(&doc),
                t::pid.eq(pid),
                t::started_at.eq(op.started_at),
                t::updated_at.eq(at),
            ))
            .execute(c)?;
        if n == 0 {
            diesel::insert_into(t::table)
                .values((
                    t::upgrade_id.eq(id),
                    t::kind.eq(kind),
                    t::state.eq(state),
                    t::op.eq(&doc),
                    t::pid.eq(pid),
                    t::started_at.eq(op.started_at),
                    t::updated_at.eq(at),
                ))
                .execute(c)?;
        }
        diesel::QueryResult::Ok(())
    }))?;
    Ok(())
}

pub fn get(conn: &mut Conn, upgrade_id: &str, kind: DbOpKind) -> Result<Option<Recorded>, DbError> {
    let key = t::upgrade_id.eq(upgrade_id).and(t::kind.eq(kind.as_str()));
    let row: Option<Row> = with_conn!(conn, |c| t::table
        .filter(key)
        .select(Row::as_select())
        .first(c)
        .optional())?;
    row.map(decode).transpose()
}

/// The operations of one upgrade, oldest first.
pub fn of_upgrade(conn: &mut Conn, upgrade_id: &str) -> Result<Vec<BuildbotDbOp>, DbError> {
    let rows: Vec<Row> = with_conn!(conn, |c| t::table
        .filter(t::upgrade_id.eq(upgrade_id))
        .order((t::started_at.asc(), t::id.asc()))
        .select(Row::as_select())
        .load(c))?;
    rows.into_iter().map(|r| decode(r).map(|d| d.op)).collect()
}

/// Operations a previous agent process left running.
pub fn running(conn: &mut Conn) -> Result<Vec<Recorded>, DbError> {
    let rows: Vec<Row> = with_conn!(conn, |c| t::table
        .filter(t::state.eq(DbOpState::Running.as_str()))
        .order(t::id.asc())
        .select(Row::as_select())
        .load(c))?;
    rows.into_iter().map(decode).collect()
}
