//! The fleet store (docs/fleet-store.md): the fleet's control state shared by every agent of a
//! fleet — the lease with its fencing epoch (`lease`), the append-only upgrade journals
//! (`journal`), the agent registry (`registry`) and the masters rows `bbctl masters prune` hid
//! (`hidden`). In the fleet's PostgreSQL (`[fleet] db_url`), else in a SQLite file of this agent.
//!
//! Every time comes from the database's clock. The handle is cheap to clone and connects
//! lazily: a store that does not answer makes each call fail with
//! [`StoreError::Unavailable`] (503 `store_unavailable`) and the next call connects again, so a
//! PostgreSQL restart needs no agent restart.

pub mod conn;
pub mod fence;
mod hidden;
mod journal;
mod lease;
mod registry;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bbctl_api::{FleetStoreBackend, FleetStoreInfo, Lease, StaleEpochDetails};

use crate::buildbot_db::url::{Backend, DbTarget};
use crate::config::AgentConfig;
use conn::{Location, StoreConn};
pub use registry::{Registration, heartbeat_task};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store did not answer (or the connection broke): retry later.
    #[error("the fleet store is unavailable: {0}")]
    Unavailable(String),
    /// The caller's holder/epoch is no longer the lease's: it was fenced off.
    #[error("{}", stale_message(.0))]
    StaleEpoch(Box<StaleEpochDetails>),
    /// Another holder has a live lease.
    #[error("the fleet is held by {} ({}) for {}", .0.holder, .0.reason, .0.operation)]
    Held(Box<Lease>),
    /// A release by someone who does not hold the live lease.
    #[error("the fleet lease is held by {}, not by this holder", .0.holder)]
    NotHolder(Box<Lease>),
    /// The journal's latest version is not the one the caller expected.
    #[error("journal version mismatch: stored version is {}", .stored.map_or("none".into(), |v| v.to_string()))]
    VersionMismatch { stored: Option<i64> },
    #[error("{0}")]
    BadRequest(String),
    #[error("the fleet lease of fleet {0} was never taken")]
    NoLease(String),
    #[error("no upgrade {0}")]
    NoUpgrade(String),
    /// A stored value the agent cannot read (a bug or a hand-edited row).
    #[error("fleet store: malformed row: {0}")]
    Malformed(String),
}

fn stale_message(d: &StaleEpochDetails) -> String {
    let by = d
        .holder
        .as_deref()
        .map_or(String::new(), |h| format!(" by {h}"));
    format!(
        "lease epoch {} is older than {}: the fleet lease of {} was taken over{by}; nothing was done",
        d.presented, d.current, d.fleet
    )
}

/// How long a store call may take, connecting included, before it is reported unavailable.
/// Every statement is short; a call this slow is stuck (a connection that looks alive but no
/// longer gets answers), and must not hold up every later call behind it.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

type Slot = Arc<Mutex<Option<StoreConn>>>;

struct Inner {
    fleet: String,
    location: Location,
    backend: FleetStoreBackend,
    store_key: String,
    heartbeat: Duration,
    /// The connection calls take turns on; `None` after a failure: the next call connects again.
    /// A call that gets no answer in [`CALL_TIMEOUT`] leaves its slot to the stuck thread, and
    /// later calls get a fresh one.
    conn: Mutex<Slot>,
    /// [`CALL_TIMEOUT`], shorter in tests.
    call_timeout: Duration,
    /// The agent's state DB, where lease takes and releases made through it are audited.
    audit: Option<crate::db::Db>,
}

/// The fleet store handle. Cheap to clone.
#[derive(Clone)]
pub struct FleetStore {
    inner: Arc<Inner>,
}

/// Why the `[fleet]` settings cannot make a store (exit 2 at start).
#[derive(Debug, thiserror::Error)]
#[error("bad setting `fleet.db_url`: {0}")]
pub struct StoreConfigError(String);

impl FleetStore {
    /// The store `config` names. Nothing is connected yet (see [`FleetStore::connect_now`]).
    /// Settings [`FleetStore::check_config`] refuses make a store whose every call fails.
    pub fn new(config: &AgentConfig) -> FleetStore {
        let (location, backend, store_key) = match locate(config) {
            Ok(found) => found,
            Err(e) => (
                Location::Refused(e.to_string()),
                FleetStoreBackend::Postgres,
                String::new(),
            ),
        };
        FleetStore {
            inner: Arc::new(Inner {
                fleet: config.fleet.name.clone(),
                location,
                backend,
                store_key,
                heartbeat: config.fleet.heartbeat,
                conn: Mutex::default(),
                call_timeout: CALL_TIMEOUT,
                audit: None,
            }),
        }
    }

    /// Refuses `[fleet]` settings that cannot make a store (the agent exits 2 at start).
    pub fn check_config(config: &AgentConfig) -> Result<(), StoreConfigError> {
        locate(config).map(|_| ())
    }

    /// This store, auditing the lease takes and releases made through this agent in `db`.
    pub fn with_audit(self, db: crate::db::Db) -> FleetStore {
        let inner = Inner {
            fleet: self.inner.fleet.clone(),
            location: self.inner.location.clone(),
            backend: self.inner.backend,
            store_key: self.inner.store_key.clone(),
            heartbeat: self.inner.heartbeat,
            conn: Mutex::default(),
            call_timeout: self.inner.call_timeout,
            audit: Some(db),
        };
        FleetStore {
            inner: Arc::new(inner),
        }
    }

    /// Appends to this agent's audit log (best effort: the store write already happened).
    async fn audit(&self, actor: Option<String>, action: &'static str, detail: String) {
        let Some(db) = self.inner.audit.clone() else {
            return;
        };
        let written = db
            .run(move |c| crate::db::audit::append(c, actor.as_deref(), action, &detail))
            .await;
        if let Err(e) = written {
            tracing::warn!(error = %e, action, "audit log append failed");
        }
    }

    /// The fleet's name (`[fleet] name`).
    pub fn fleet(&self) -> &str {
        &self.inner.fleet
    }

    pub fn heartbeat_interval(&self) -> Duration {
        self.inner.heartbeat
    }

    /// Connects (applying migrations) now, so that a wrong setting shows in the log at start.
    pub async fn connect_now(&self) -> Result<(), StoreError> {
        self.run(|_| Ok(())).await
    }

    /// `GET /v1/fleet/store`: where the store is and whether it answers now.
    pub async fn info(&self) -> FleetStoreInfo {
        let answer = self
            .run(|c| {
                let q = conn::sql(c, "SELECT {now} AS v");
                let row: DbNow = conn::on_conn!(c, |c| diesel::RunQueryDsl::get_result(
                    diesel::sql_query(q),
                    c
                ))?;
                Ok(row.v)
            })
            .await;
        let (reachable, db_now, error) = match answer {
            Ok(now) => (true, Some(now), None),
            Err(e) => (false, None, Some(e.to_string())),
        };
        FleetStoreInfo {
            fleet: self.inner.fleet.clone(),
            backend: self.inner.backend,
            store_key: self.inner.store_key.clone(),
            reachable,
            db_now,
            error,
            heartbeat_secs: self.inner.heartbeat.as_secs_f64(),
        }
    }

    /// Runs `f` on the connection in a blocking thread, connecting first when needed. After a
    /// failure the connection is dropped, so the next call connects again.
    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut StoreConn) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        let slot = self.slot();
        let taken = slot.clone();
        let call = tokio::task::spawn_blocking(move || {
            let mut guard = taken.lock().unwrap_or_else(|p| p.into_inner());
            // A kept PostgreSQL connection may have died with its server (a restart): check it
            // first, so that the call after an outage gets a fresh connection.
            if let Some(StoreConn::Pg(c)) = guard.as_mut()
                && diesel::RunQueryDsl::execute(diesel::sql_query("SELECT 1"), c).is_err()
            {
                *guard = None;
            }
            if guard.is_none() {
                *guard = Some(inner.location.connect().map_err(StoreError::Unavailable)?);
            }
            let conn = guard.as_mut().expect("connected above");
            let answer = f(conn);
            if matches!(answer, Err(StoreError::Unavailable(_))) {
                *guard = None;
            }
            answer
        });
        let limit = self.inner.call_timeout;
        match tokio::time::timeout(limit, call).await {
            Ok(joined) => {
                joined.map_err(|e| StoreError::Unavailable(format!("store task failed: {e}")))?
            }
            Err(_) => {
                let mut current = self.inner.conn.lock().unwrap_or_else(|p| p.into_inner());
                if Arc::ptr_eq(&current, &slot) {
                    *current = Slot::default();
                    tracing::warn!(
                        fleet = self.fleet(),
                        "a fleet store call got no answer within {:?}; later calls use a new \
                         connection",
                        limit
                    );
                }
                Err(StoreError::Unavailable(format!(
                    "no answer from the fleet store within {limit:?}"
                )))
            }
        }
    }

    /// The connection slot calls use now.
    fn slot(&self) -> Slot {
        self.inner
            .conn
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Where `config`'s store is: its location, backend and key.
fn locate(config: &AgentConfig) -> Result<(Location, FleetStoreBackend, String), StoreConfigError> {
    let Some(url) = &config.fleet.db_url else {
        return Ok((
            Location::Sqlite(config.state_dir.join("fleet.sqlite")),
            FleetStoreBackend::Sqlite,
            format!("sqlite:{}", config.name),
        ));
    };
    let target = DbTarget::parse(url).map_err(|e| StoreConfigError(e.reason))?;
    if target.backend != Backend::Postgresql {
        return Err(StoreConfigError("must be a postgres:// URL".into()));
    }
    let key = target.key();
    let buildbot_key = config
        .master
        .db_url
        .as_deref()
        .and_then(|u| DbTarget::parse(u).ok())
        .filter(|t| t.backend == Backend::Postgresql)
        .map(|t| t.key());
    if buildbot_key.as_deref() == Some(key.as_str()) {
        return Err(StoreConfigError(format!(
            "{key} is Buildbot's own database (`master.db_url`): the fleet store needs a \
             database of its own (docs/fleet-store.md)"
        )));
    }
    let location = Location::Postgres {
        target,
        password: config.fleet.password.clone(),
    };
    Ok((location, FleetStoreBackend::Postgres, key))
}

#[derive(diesel::QueryableByName)]
struct DbNow {
    #[diesel(sql_type = diesel::sql_types::Double)]
    v: f64,
}

/// A failed statement: the connection is treated as broken (the store is reconnected), so the
/// call answers 503 and its retry gets a fresh connection.
impl From<diesel::result::Error> for StoreError {
    fn from(e: diesel::result::Error) -> Self {
        StoreError::Unavailable(conn::first_line(&e))
    }
}

/// Whether `e` is a duplicate key (a journal entry another writer appended first).
fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

/// A holder, operation or journal id: 1-200 printable ASCII characters, no space.
fn check_token(what: &str, value: &str) -> Result<(), StoreError> {
    let ok = !value.is_empty() && value.len() <= 200 && value.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(StoreError::BadRequest(format!(
            "{what} must be 1-200 printable characters without spaces"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_epoch_says_who_took_over_and_that_nothing_was_done() {
        let e = StoreError::StaleEpoch(Box::new(StaleEpochDetails {
            fleet: "prod".into(),
            presented: 6,
            current: 7,
            holder: Some("up-1/bob@h/42-beef".into()),
        }));
        assert_eq!(
            e.to_string(),
            "lease epoch 6 is older than 7: the fleet lease of prod was taken over by \
             up-1/bob@h/42-beef; nothing was done"
        );
    }

    fn config(fleet: &str, master_db: &str) -> AgentConfig {
        let text = format!(
            "name = \"m1\"\nstate_dir = \"/tmp/s\"\ntoken = \"0123456789abcdef\"\n\
             [master]\nbasedir = \"/tmp/b\"\nbuildbot = \"/bin/true\"\n\
             rest_url = \"http://127.0.0.1:8010\"\ndb_url = \"{master_db}\"\n\
             [fleet]\ndb_url = \"{fleet}\"\n"
        );
        AgentConfig::from_table(&text.parse().unwrap(), std::path::Path::new("/")).unwrap()
    }

    #[test]
    fn the_store_may_not_be_buildbots_own_database() {
        let same = config(
            "postgres://bbctl@db.example/buildbot",
            "postgresql+psycopg2://bb:pw@db.example:5432/buildbot",
        );
        let err = FleetStore::check_config(&same).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "bad setting `fleet.db_url`: db.example:5432/buildbot is Buildbot's own database"
            ),
            "{err}"
        );
        assert!(!err.contains("pw"), "{err}");
        let own = config(
            "postgres://bbctl@db.example/bbctl_fleet",
            "postgresql+psycopg2://bb:pw@db.example:5432/buildbot",
        );
        assert!(FleetStore::check_config(&own).is_ok());
        // Refused settings make a store whose calls fail instead of a panic.
        let store = FleetStore::new(&same);
        assert_eq!(store.fleet(), "default");
    }

    #[tokio::test]
    async fn a_stuck_call_is_unavailable_and_does_not_hold_up_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "name = \"m1\"\nstate_dir = \"{}\"\ntoken = \"0123456789abcdef\"\n\
             [master]\nbasedir = \"/tmp/b\"\nbuildbot = \"/bin/true\"\n\
             rest_url = \"http://127.0.0.1:8010\"\n",
            dir.path().display()
        );
        let config = AgentConfig::from_table(&text.parse().unwrap(), dir.path()).unwrap();
        let mut store = FleetStore::new(&config);
        Arc::get_mut(&mut store.inner).unwrap().call_timeout = Duration::from_millis(300);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let stuck = store
            .run(move |_| {
                // Stuck until the test lets it go.
                let _ = rx.recv();
                Ok(())
            })
            .await;
        let err = stuck.unwrap_err().to_string();
        assert!(
            err.contains("no answer from the fleet store within 300ms"),
            "{err}"
        );
        // The stuck thread still holds the first connection; this call gets its own.
        let next = store.run(|_| Ok(42)).await;
        assert_eq!(next.unwrap(), 42);
        tx.send(()).unwrap();
    }

    #[test]
    fn tokens_are_printable_and_short() {
        for ok in ["up-1", "up-1/alice@host/4242-9f3a", "drain:m1"] {
            assert!(check_token("holder", ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "a\nb", &"x".repeat(201)] {
            assert!(check_token("holder", bad).is_err(), "{bad:?}");
        }
    }
}
