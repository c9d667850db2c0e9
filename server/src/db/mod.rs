//! The agent's own state database: SQLite by default, PostgreSQL when `state_db_url` says so.
//!
//! One connection behind a mutex is plenty for one agent; every query runs in
//! `spawn_blocking` through [`Db::run`]. Queries are written once and compiled for both backends
//! with the [`with_conn!`] macro. Migrations (repo `migrations/sqlite` and `migrations/postgres`,
//! embedded at build time) are applied on open.

pub mod audit;
pub mod buildbot_db_ops;
pub mod configs;
pub mod drains;
pub mod fence;
pub mod operations;
pub mod schema;

use std::sync::{Arc, Mutex};

use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("state database {url}: {message}")]
    Open { url: String, message: String },
    #[error("state database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("state database: stored value is malformed: {0}")]
    Malformed(String),
    #[error("state database task failed: {0}")]
    Task(String),
}

/// A connection to either backend.
pub enum Conn {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

/// Runs `$body` with `$c` bound to the concrete connection of either backend.
macro_rules! with_conn {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::Conn::Sqlite($c) => $body,
            $crate::db::Conn::Postgres($c) => $body,
        }
    };
}
pub(crate) use with_conn;

#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Conn>>,
}

impl Db {
    /// Opens (creating if needed) the database at `url` and applies pending migrations. Refuses a
    /// file that is not a usable database with a message saying so.
    pub fn open(url: &str) -> Result<Db, DbError> {
        let open_err = |message: String| DbError::Open {
            // The URL may carry a password; the message goes to logs and stderr.
            url: crate::secret::redact_url(url),
            message,
        };
        let conn = if let Some(path) = url.strip_prefix("sqlite://") {
            if let Some(parent) = std::path::Path::new(path).parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| open_err(format!("cannot create {}: {e}", parent.display())))?;
            }
            let mut c = SqliteConnection::establish(path).map_err(|e| open_err(e.to_string()))?;
            diesel::sql_query("PRAGMA busy_timeout = 5000")
                .execute(&mut c)
                .map_err(|e| open_err(format!("not a usable SQLite database (corrupt?): {e}")))?;
            let check: Vec<QuickCheck> = diesel::sql_query("PRAGMA quick_check")
                .load(&mut c)
                .map_err(|e| open_err(format!("not a usable SQLite database (corrupt?): {e}")))?;
            if check.iter().any(|r| r.quick_check != "ok") {
                return Err(open_err(
                    "SQLite integrity check failed (corrupt database)".into(),
                ));
            }
            c.run_pending_migrations(SQLITE_MIGRATIONS)
                .map_err(|e| open_err(format!("migrations failed: {e}")))?;
            Conn::Sqlite(c)
        } else {
            let mut c = PgConnection::establish(url).map_err(|e| open_err(e.to_string()))?;
            c.run_pending_migrations(POSTGRES_MIGRATIONS)
                .map_err(|e| open_err(format!("migrations failed: {e}")))?;
            Conn::Postgres(c)
        };
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` on the connection in a blocking thread.
    pub async fn run<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn) -> Result<T, DbError> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| DbError::Task(e.to_string()))?
    }
}

#[derive(QueryableByName)]
struct QuickCheck {
    #[diesel(sql_type = diesel::sql_types::Text)]
    quick_check: String,
}

/// Now as Unix epoch seconds with fractions.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests;
