//! The store's one connection: PostgreSQL (`[fleet] db_url`, the password passed to libpq apart,
//! application_name `bbctl-agent-fleet`, no named prepared statements so that PgBouncer in
//! transaction mode works) or the SQLite file `<state_dir>/fleet.sqlite`. Migrations
//! (`migrations/fleet/`, their own history) run on every (re)connect; on PostgreSQL inside one
//! transaction holding a transaction-scoped advisory lock, so that agents starting together
//! take turns.

use diesel::connection::CacheSize;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::buildbot_db::url::DbTarget;
use crate::secret::Secret;

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/fleet/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/fleet/sqlite");

/// A connection to either backend.
pub enum StoreConn {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

/// Runs `$body` with `$c` bound to the concrete connection of either backend.
macro_rules! on_conn {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::fleet_store::conn::StoreConn::Pg($c) => $body,
            $crate::fleet_store::conn::StoreConn::Sqlite($c) => $body,
        }
    };
}
pub(crate) use on_conn;

/// Where the store is.
#[derive(Clone)]
pub enum Location {
    Postgres {
        target: DbTarget,
        password: Option<Secret>,
    },
    Sqlite(std::path::PathBuf),
    /// Settings the agent refused at start (`FleetStore::check_config`).
    Refused(String),
}

impl Location {
    /// Opens a connection and applies pending migrations. The error is one password-free line.
    pub fn connect(&self) -> Result<StoreConn, String> {
        match self {
            Location::Postgres { target, password } => {
                let mut extra = vec![
                    ("application_name", "bbctl-agent-fleet"),
                    ("connect_timeout", "5"),
                ];
                // A store host that vanished must fail the call in seconds, not when TCP gives
                // up (hours): keepalives and a send timeout, unless the URL sets its own.
                for (k, v) in NETWORK_DEFAULTS {
                    if !target.params.iter().any(|(p, _)| p == k) {
                        extra.push((k, v));
                    }
                }
                if let Some(p) = password {
                    extra.push(("password", p.expose()));
                }
                let mut c = PgConnection::establish(&target.conninfo(&extra))
                    .map_err(|e| format!("cannot connect to {target}: {}", first_line(&e)))?;
                c.set_prepared_statement_cache_size(CacheSize::Disabled);
                migrate_pg(&mut c).map_err(|e| format!("{target}: migrations failed: {e}"))?;
                let known = versions::<diesel::pg::Pg>(&PG_MIGRATIONS);
                not_newer(c.applied_migrations(), &known).map_err(|e| format!("{target}: {e}"))?;
                Ok(StoreConn::Pg(c))
            }
            Location::Refused(why) => Err(why.clone()),
            Location::Sqlite(path) => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
                }
                let shown = path.display().to_string();
                let mut c = SqliteConnection::establish(&shown)
                    .map_err(|e| format!("cannot open {shown}: {}", first_line(&e)))?;
                diesel::sql_query("PRAGMA busy_timeout = 5000")
                    .execute(&mut c)
                    .map_err(|e| format!("{shown}: {}", first_line(&e)))?;
                c.run_pending_migrations(SQLITE_MIGRATIONS)
                    .map_err(|e| format!("{shown}: migrations failed: {}", first_line(&*e)))?;
                let known = versions::<diesel::sqlite::Sqlite>(&SQLITE_MIGRATIONS);
                not_newer(c.applied_migrations(), &known).map_err(|e| format!("{shown}: {e}"))?;
                Ok(StoreConn::Sqlite(c))
            }
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// libpq settings that bound how long a dead store connection goes unnoticed.
const NETWORK_DEFAULTS: [(&str, &str); 5] = [
    ("keepalives", "1"),
    ("keepalives_idle", "5"),
    ("keepalives_interval", "2"),
    ("keepalives_count", "3"),
    ("tcp_user_timeout", "10000"),
];

/// The versions of the migrations this agent embeds.
fn versions<DB: diesel::backend::Backend>(
    source: &dyn diesel::migration::MigrationSource<DB>,
) -> Vec<String> {
    source
        .migrations()
        .map(|ms| ms.iter().map(|m| m.name().version().to_string()).collect())
        .unwrap_or_default()
}

/// Refuses a store migrated by a newer agent: this one does not know its tables' meaning.
fn not_newer(
    applied: Result<Vec<diesel::migration::MigrationVersion<'static>>, BoxError>,
    known: &[String],
) -> Result<(), String> {
    let applied =
        applied.map_err(|e| format!("cannot read its migrations: {}", first_line(&*e)))?;
    match applied
        .iter()
        .map(|v| v.to_string())
        .find(|v| !known.contains(v))
    {
        Some(v) => Err(format!(
            "the store has migration {v}, which this agent does not know: upgrade the agent"
        )),
        None => Ok(()),
    }
}

/// `BEGIN; pg_advisory_xact_lock; <migrations, as savepoints>; COMMIT` — a transaction-scoped
/// lock (PgBouncer-safe), released by the commit.
fn migrate_pg(c: &mut PgConnection) -> Result<(), String> {
    c.transaction::<_, BoxError, _>(|c| {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext('bbctl.fleet.migrations'))")
            .execute(c)?;
        c.run_pending_migrations(PG_MIGRATIONS)?;
        Ok(())
    })
    .map_err(|e| first_line(&*e).to_owned())
}

pub fn first_line(e: &dyn std::fmt::Display) -> String {
    let text = e.to_string();
    text.lines().next().unwrap_or("").trim().to_owned()
}

/// The store's clock as an SQL expression (Unix epoch seconds, fractions included): one value
/// per statement on both backends.
const PG_NOW: &str = "extract(epoch from statement_timestamp())::float8";
const SQLITE_NOW: &str = "((julianday('now') - 2440587.5) * 86400.0)";

/// A statement written once in PostgreSQL's dialect (`$n` parameters, `{now}` for the clock,
/// ` FOR SHARE OF l` row locks), in the flavour of `conn`.
pub fn sql(conn: &StoreConn, pg: &str) -> String {
    match conn {
        StoreConn::Pg(_) => pg.replace("{now}", PG_NOW),
        StoreConn::Sqlite(_) => pg
            .replace("{now}", SQLITE_NOW)
            .replace(" FOR SHARE OF l", "")
            .replace('$', "?"),
    }
}
