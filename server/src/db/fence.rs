//! The `fence` table: the highest fleet-lease epoch this agent has seen per fleet
//! (`crate::fence`). It only grows.

use diesel::prelude::*;

use super::schema::fence;
use super::{Conn, DbError, now, with_conn};

/// The highest epoch seen for `fleet` (0: none).
pub fn get(conn: &mut Conn, fleet: &str) -> Result<i64, DbError> {
    let epoch: Option<i64> = with_conn!(conn, |c| fence::table
        .find(fleet)
        .select(fence::epoch)
        .first(c)
        .optional())?;
    Ok(epoch.unwrap_or(0))
}

/// Raises the stored epoch of `fleet` to `epoch` (never lowers it); returns the stored value.
pub fn raise(conn: &mut Conn, fleet: &str, epoch: i64) -> Result<i64, DbError> {
    let current = get(conn, fleet)?;
    if epoch <= current {
        return Ok(current);
    }
    let values = (
        fence::fleet.eq(fleet),
        fence::epoch.eq(epoch),
        fence::seen_at.eq(now()),
    );
    with_conn!(conn, |c| diesel::insert_into(fence::table)
        .values(values)
        .on_conflict(fence::fleet)
        .do_update()
        .set((fence::epoch.eq(epoch), fence::seen_at.eq(now())))
        .execute(c))?;
    Ok(epoch)
}
