//! The `drains` table: one row per drain of this master. `request` is the `DrainRequest` as
//! JSON, `state` the drain's whole persisted progress (`crate::drain::model::DrainState`) as
//! JSON, so that a restarted agent resumes exactly where the previous one stopped.

use diesel::prelude::*;

use super::schema::drains;
use super::{Conn, DbError, now, with_conn};

/// One drain as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = drains)]
pub struct DrainRow {
    pub id: i64,
    pub phase: String,
    pub request: String,
    pub state: String,
    pub started_at: f64,
    pub updated_at: f64,
    pub finished_at: Option<f64>,
}

/// Inserts a new drain; returns its id.
pub fn insert(
    conn: &mut Conn,
    phase: &str,
    request: &str,
    state: &str,
    started_at: f64,
) -> Result<i64, DbError> {
    let values = (
        drains::phase.eq(phase),
        drains::request.eq(request),
        drains::state.eq(state),
        drains::started_at.eq(started_at),
        drains::updated_at.eq(started_at),
    );
    let id = with_conn!(conn, |c| diesel::insert_into(drains::table)
        .values(values)
        .returning(drains::id)
        .get_result::<i64>(c))?;
    Ok(id)
}

/// The newest drain, if any.
pub fn latest(conn: &mut Conn) -> Result<Option<DrainRow>, DbError> {
    let row = with_conn!(conn, |c| drains::table
        .order(drains::id.desc())
        .select(DrainRow::as_select())
        .first(c)
        .optional())?;
    Ok(row)
}

/// Saves the phase and state of drain `id`.
pub fn update(
    conn: &mut Conn,
    id: i64,
    phase: &str,
    state: &str,
    finished_at: Option<f64>,
) -> Result<(), DbError> {
    let changes = (
        drains::phase.eq(phase),
        drains::state.eq(state),
        drains::updated_at.eq(now()),
        drains::finished_at.eq(finished_at),
    );
    with_conn!(conn, |c| diesel::update(drains::table.find(id))
        .set(changes)
        .execute(c))?;
    Ok(())
}
