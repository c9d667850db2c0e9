//! Queries on Buildbot's PostgreSQL database, as its own user, through a short-lived diesel
//! `PgConnection` in `spawn_blocking` (application_name `bbctl-agent`, so the guard counts it
//! as bbctl's own).

use std::time::Duration;

use bbctl_api::{BuildbotMasterRow, DbSession};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};

use super::url::DbTarget;

/// What one look at the database shows.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub server_version: Option<String>,
    /// `server_version_num / 10000` (PostgreSQL ≥ 10).
    pub server_major: Option<u32>,
    pub head: Option<String>,
    pub size_bytes: Option<u64>,
    pub masters: Vec<BuildbotMasterRow>,
    pub sessions: Vec<DbSession>,
    /// Ids of the requests waiting unclaimed ([`unclaimed_requests`]); `None`: not readable.
    pub unclaimed_requests: Option<Vec<i64>>,
    /// Why the masters table or the sessions could not be read: the guard cannot judge.
    pub guard_problem: Option<String>,
}

#[derive(QueryableByName)]
struct One {
    #[diesel(sql_type = Nullable<Text>)]
    v: Option<String>,
}

#[derive(QueryableByName)]
struct Size {
    #[diesel(sql_type = BigInt)]
    v: i64,
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

#[derive(QueryableByName)]
struct MasterRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Bool)]
    active: bool,
    #[diesel(sql_type = Nullable<BigInt>)]
    last_active: Option<i64>,
}

#[derive(QueryableByName)]
struct SessionRow {
    #[diesel(sql_type = BigInt)]
    pid: i64,
    #[diesel(sql_type = Text)]
    application_name: String,
    #[diesel(sql_type = Nullable<Text>)]
    client_addr: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    state: Option<String>,
}

fn connect(target: &DbTarget) -> Result<PgConnection, String> {
    let mut extra = vec![
        ("application_name", "bbctl-agent"),
        ("connect_timeout", "10"),
    ];
    if let Some(p) = target.password() {
        extra.push(("password", p));
    }
    PgConnection::establish(&target.conninfo(&extra)).map_err(|e| {
        format!(
            "cannot connect to {}: {}",
            target,
            first_line(&e.to_string())
        )
    })
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s).trim()
}

/// Runs `f` on a fresh connection in a blocking thread.
pub(super) async fn with_db<T, F>(target: &DbTarget, f: F) -> Result<T, String>
where
    T: Send + 'static,
    F: FnOnce(&mut PgConnection) -> Result<T, String> + Send + 'static,
{
    let target = target.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = connect(&target)?;
        f(&mut conn)
    })
    .await
    .map_err(|e| format!("database task failed: {e}"))?
}

pub(super) fn q(e: diesel::result::Error) -> String {
    first_line(&e.to_string()).to_owned()
}

fn head(conn: &mut PgConnection) -> Result<Option<String>, String> {
    let rows: Vec<One> = diesel::sql_query("SELECT version_num::text AS v FROM alembic_version")
        .load(conn)
        .map_err(|e| format!("no schema head (alembic_version): {}", q(e)))?;
    Ok(rows.into_iter().next().and_then(|r| r.v))
}

fn masters(conn: &mut PgConnection) -> Result<Vec<BuildbotMasterRow>, String> {
    let rows: Vec<MasterRow> = diesel::sql_query(
        "SELECT id::bigint AS id, name::text AS name, (active <> 0) AS active, \
         last_active::bigint AS last_active FROM masters ORDER BY id",
    )
    .load(conn)
    .map_err(|e| format!("cannot read Buildbot's masters table: {}", q(e)))?;
    Ok(rows
        .into_iter()
        .map(|r| BuildbotMasterRow {
            id: r.id,
            name: r.name,
            active: r.active,
            last_active: r.last_active,
        })
        .collect())
}

/// Client sessions only: PostgreSQL's own background processes on the database (an
/// autovacuum worker after a large restore) are not in the way of anything bbctl does. A
/// non-superuser sees `backend_type` only for its own role's sessions (NULL for the others,
/// which are kept: another role's client is in the way); background processes have no user
/// (`usesysid` NULL — Buildbot's DB user can see that much of every row).
pub(super) fn sessions(conn: &mut PgConnection) -> Result<Vec<DbSession>, String> {
    let rows: Vec<SessionRow> = diesel::sql_query(
        "SELECT pid::bigint AS pid, COALESCE(application_name, '') AS application_name, \
         host(client_addr) AS client_addr, state::text AS state FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() \
         AND usesysid IS NOT NULL \
         AND (backend_type IS NULL OR backend_type = 'client backend') ORDER BY pid",
    )
    .load(conn)
    .map_err(|e| format!("cannot read pg_stat_activity: {}", q(e)))?;
    Ok(rows
        .into_iter()
        .map(|r| DbSession {
            pid: r.pid,
            application_name: r.application_name,
            client_addr: r.client_addr,
            state: r.state,
        })
        .collect())
}

/// At most this many unclaimed requests are listed (the lowest ids).
pub const UNCLAIMED_LIMIT: i64 = 10_000;

/// The build requests waiting unclaimed: incomplete, with no claim (Buildbot 4.x schema:
/// `buildrequests.complete`, `buildrequest_claims.brid`), lowest ids first.
fn unclaimed_requests(conn: &mut PgConnection) -> Result<Vec<i64>, String> {
    let rows: Vec<Id> = diesel::sql_query(
        "SELECT br.id::bigint AS id FROM buildrequests br \
         LEFT JOIN buildrequest_claims c ON c.brid = br.id \
         WHERE br.complete = 0 AND c.brid IS NULL ORDER BY br.id LIMIT $1",
    )
    .bind::<BigInt, _>(UNCLAIMED_LIMIT)
    .load(conn)
    .map_err(|e| format!("cannot read Buildbot's build requests: {}", q(e)))?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// Everything `GET /v1/buildbot-db` and the guard need, in one connection. A part that cannot
/// be read is left empty and named in the returned problems; no connection at all is `Err`.
pub async fn snapshot(target: &DbTarget) -> Result<(Snapshot, Vec<String>), String> {
    with_db(target, |c| {
        let mut problems = Vec::new();
        let mut s = Snapshot::default();
        let version: Vec<One> = diesel::sql_query("SELECT current_setting('server_version') AS v")
            .load(c)
            .map_err(q)?;
        s.server_version = version
            .into_iter()
            .next()
            .and_then(|r| r.v)
            .map(|v| v.split_whitespace().next().unwrap_or("").to_owned());
        let num: Vec<One> = diesel::sql_query("SELECT current_setting('server_version_num') AS v")
            .load(c)
            .map_err(q)?;
        s.server_major = num
            .into_iter()
            .next()
            .and_then(|r| r.v)
            .and_then(|v| v.parse::<u32>().ok())
            .map(|n| n / 10000);
        match head(c) {
            Ok(h) => s.head = h,
            Err(e) => problems.push(e),
        }
        let size: Result<Vec<Size>, _> =
            diesel::sql_query("SELECT pg_database_size(current_database())::bigint AS v").load(c);
        match size {
            Ok(rows) => s.size_bytes = rows.first().map(|r| r.v.max(0) as u64),
            Err(e) => problems.push(format!("cannot read the database size: {}", q(e))),
        }
        match masters(c) {
            Ok(m) => s.masters = m,
            Err(e) => {
                s.guard_problem = Some(e.clone());
                problems.push(e);
            }
        }
        match sessions(c) {
            Ok(ss) => s.sessions = ss,
            Err(e) => {
                s.guard_problem = Some(e.clone());
                problems.push(e);
            }
        }
        match unclaimed_requests(c) {
            Ok(ids) => s.unclaimed_requests = Some(ids),
            Err(e) => problems.push(e),
        }
        Ok((s, problems))
    })
    .await
}

/// The schema head alone.
pub async fn read_head(target: &DbTarget) -> Result<Option<String>, String> {
    with_db(target, head).await
}

/// Terminates every backend of this database whose application_name is one of `names`
/// (bbctl's own, left behind by a killed tool), then waits until they are gone (at most
/// `wait`). Returns the pids it terminated.
pub async fn terminate_own(
    target: &DbTarget,
    names: Vec<String>,
    wait: Duration,
) -> Result<Vec<i64>, String> {
    with_db(target, move |c| {
        let mut killed = Vec::new();
        let start = std::time::Instant::now();
        loop {
            let all = sessions(c)?;
            let left: Vec<i64> = all
                .iter()
                .filter(|s| names.contains(&s.application_name))
                .map(|s| s.pid)
                .collect();
            if left.is_empty() {
                return Ok(killed);
            }
            if start.elapsed() > wait {
                return Err(format!(
                    "bbctl's own backends {left:?} ({}) are still connected after {wait:?}",
                    names.join(", ")
                ));
            }
            for pid in left {
                diesel::sql_query("SELECT pg_terminate_backend($1::int)::text AS v")
                    .bind::<BigInt, _>(pid)
                    .load::<One>(c)
                    .map_err(q)?;
                if !killed.contains(&pid) {
                    killed.push(pid);
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .await
}
