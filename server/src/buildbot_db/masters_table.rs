//! `GET /v1/buildbot-db/masters`: Buildbot's `masters` table with what still points at each
//! row (incomplete builds, claims, scheduler/changesource/builder masters), read-only, as
//! Buildbot's DB user. Which rows are hidden comes from the fleet store (the caller passes it).

use std::collections::HashSet;

use bbctl_api::{DbSession, MasterRefs, MastersTable, MastersTableRow};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};

use super::guard::EXPIRY_SECS;
use super::pg::{q, sessions, with_db};
use super::url::DbTarget;
use super::{BuildbotDb, BuildbotDbError};

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Bool)]
    active: bool,
    #[diesel(sql_type = Nullable<BigInt>)]
    last_active: Option<i64>,
    #[diesel(sql_type = BigInt)]
    incomplete_builds: i64,
    #[diesel(sql_type = BigInt)]
    claimed_requests: i64,
    #[diesel(sql_type = BigInt)]
    schedulers: i64,
    #[diesel(sql_type = BigInt)]
    changesources: i64,
    #[diesel(sql_type = BigInt)]
    builders: i64,
}

#[derive(QueryableByName)]
struct Now {
    #[diesel(sql_type = BigInt)]
    v: i64,
}

const ROWS: &str = "SELECT m.id::bigint AS id, m.name::text AS name, (m.active <> 0) AS active, \
    m.last_active::bigint AS last_active, \
    (SELECT count(*) FROM builds b WHERE b.masterid = m.id AND b.complete_at IS NULL)::bigint \
      AS incomplete_builds, \
    (SELECT count(*) FROM buildrequest_claims c JOIN buildrequests r ON r.id = c.brid \
      WHERE c.masterid = m.id AND r.complete = 0)::bigint AS claimed_requests, \
    (SELECT count(*) FROM scheduler_masters s WHERE s.masterid = m.id)::bigint AS schedulers, \
    (SELECT count(*) FROM changesource_masters s WHERE s.masterid = m.id)::bigint \
      AS changesources, \
    (SELECT count(*) FROM builder_masters s WHERE s.masterid = m.id)::bigint AS builders \
    FROM masters m ORDER BY m.id";

fn read(conn: &mut PgConnection) -> Result<(i64, Vec<MastersTableRow>), String> {
    let now: Vec<Now> = diesel::sql_query("SELECT extract(epoch from now())::bigint AS v")
        .load(conn)
        .map_err(q)?;
    let db_now = now.first().map(|n| n.v).unwrap_or_default();
    let rows: Vec<Row> = diesel::sql_query(ROWS)
        .load(conn)
        .map_err(|e| format!("cannot read Buildbot's masters table: {}", q(e)))?;
    let rows = rows
        .into_iter()
        .map(|r| MastersTableRow {
            id: r.id,
            name: r.name,
            active: r.active,
            last_active: r.last_active,
            refs: MasterRefs {
                incomplete_builds: r.incomplete_builds,
                claimed_requests: r.claimed_requests,
                schedulers: r.schedulers,
                changesources: r.changesources,
                builders: r.builders,
            },
            hidden: false,
        })
        .collect();
    Ok((db_now, rows))
}

/// The table and the client sessions of the database, in one connection.
pub(super) async fn read_with_sessions(
    target: &DbTarget,
) -> Result<(MastersTable, Vec<DbSession>), String> {
    with_db(target, |c| {
        let (db_now, masters) = read(c)?;
        let sessions = sessions(c)?;
        Ok((
            MastersTable {
                db_now,
                expire_after_secs: EXPIRY_SECS,
                masters,
            },
            sessions,
        ))
    })
    .await
}

impl BuildbotDb {
    /// `GET /v1/buildbot-db/masters`; `hidden` are the ids `bbctl masters prune` hid.
    pub async fn masters_table(
        &self,
        hidden: &HashSet<i64>,
    ) -> Result<MastersTable, BuildbotDbError> {
        let target = self.target()?;
        let (mut table, _) = read_with_sessions(&target)
            .await
            .map_err(BuildbotDbError::Unreachable)?;
        for row in &mut table.masters {
            row.hidden = hidden.contains(&row.id);
        }
        Ok(table)
    }
}
