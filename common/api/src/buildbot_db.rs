//! Buildbot's own database, as the agent of a master sees it, and the three operations of a
//! schema-changing upgrade (`bbctl upgrade --strategy migrate`): a backup, one
//! `buildbot upgrade-master` with the new code, and a restore. Each operation is keyed by the
//! upgrade's id, recorded by the agent, and idempotent: asking again for a finished one returns
//! it instead of doing it twice.
//!
//! - `GET /v1/buildbot-db` → [`BuildbotDbInfo`]
//! - `GET /v1/buildbot-db/ops/{upgrade_id}` → `Vec<`[`BuildbotDbOp`]`>` (oldest first)
//! - `POST /v1/buildbot-db/backup` ([`DbBackupRequest`]) → [`BuildbotDbOp`]
//! - `POST /v1/buildbot-db/upgrade` ([`DbUpgradeRequest`]) → [`BuildbotDbOp`]
//! - `POST /v1/buildbot-db/restore` ([`DbRestoreRequest`]) → [`BuildbotDbOp`]
//!
//! Every POST refuses (409 `conflict`, `details.refusal` = [`DbRefusal`]) while the database is
//! in use: a row of Buildbot's `masters` table is active and not vouched for as stopped, or a
//! session that is not bbctl's own is connected to the database.

use serde::{Deserialize, Serialize};

/// `GET /v1/buildbot-db`: the Buildbot DB of this agent's master (`[master] db_url`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildbotDbInfo {
    /// `postgresql`, `sqlite`, `mysql`, or the URL's scheme for anything else. Only
    /// `postgresql` supports backup, upgrade and restore.
    pub backend: String,
    /// The database URL with its password replaced by `xxxx`.
    pub db: String,
    /// Where the database is, without credentials, to compare agents (`host:port/dbname`).
    pub db_key: String,
    /// The server's version (`15.8`), when reachable.
    #[serde(default)]
    pub server_version: Option<String>,
    /// The schema head recorded in the database (`SELECT version_num FROM alembic_version`).
    #[serde(default)]
    pub db_head: Option<String>,
    /// The schema head of the Buildbot this agent's master runs (or runs at its next start).
    #[serde(default)]
    pub code_head: Option<String>,
    /// `pg_database_size`, bytes.
    #[serde(default)]
    pub size_bytes: Option<u64>,
    /// Buildbot's `masters` table.
    #[serde(default)]
    pub masters: Vec<BuildbotMasterRow>,
    /// Sessions connected to the database, other than the agent's own query.
    #[serde(default)]
    pub sessions: Vec<DbSession>,
    /// Ids of the build requests waiting unclaimed: incomplete (`buildrequests.complete = 0`)
    /// with no row in `buildrequest_claims`, ascending, at most the first 10000. Read in the
    /// same look as the other fields. `None` when they could not be read (named in `problems`)
    /// or the database is not PostgreSQL.
    #[serde(default)]
    pub unclaimed_requests: Option<Vec<i64>>,
    /// Where this agent writes backups.
    pub backup_dir: String,
    /// Free space in `backup_dir`, bytes.
    #[serde(default)]
    pub free_bytes: Option<u64>,
    /// Whether `[buildbot_db] backup_command` is configured (the operator's own backup).
    #[serde(default)]
    pub backup_command: bool,
    /// `pg_dump --version`'s version, when found.
    #[serde(default)]
    pub pg_dump_version: Option<String>,
    /// Why the database could not be read (unreachable, not PostgreSQL, …); the other fields
    /// are then partly empty.
    #[serde(default)]
    pub problems: Vec<String>,
}

/// A row of Buildbot's `masters` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildbotMasterRow {
    pub id: i64,
    /// `hostname:basedir` by default.
    pub name: String,
    pub active: bool,
    /// Epoch seconds, as Buildbot stamped it.
    #[serde(default)]
    pub last_active: Option<i64>,
}

/// A session connected to the database (`pg_stat_activity`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbSession {
    pub pid: i64,
    /// `application_name`; bbctl's own sessions start with `bbctl-`.
    pub application_name: String,
    #[serde(default)]
    pub client_addr: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
}

/// `POST /v1/buildbot-db/backup`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbBackupRequest {
    pub upgrade_id: String,
    /// Buildbot names (`masters.name`) of masters whose agents say their process is not running:
    /// their row may still say active (a crashed master keeps `active=1` until expired).
    #[serde(default)]
    pub vouched_stopped: Vec<String>,
    /// Run the agent's `[buildbot_db] backup_command` instead of `pg_dump` (the command itself
    /// never travels over the wire).
    #[serde(default)]
    pub use_backup_command: bool,
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /v1/buildbot-db/upgrade`: one `buildbot upgrade-master` with `buildbot`, in a scratch
/// basedir holding the staged configuration `config_sha256`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbUpgradeRequest {
    pub upgrade_id: String,
    /// The staged configuration version whose master.cfg `upgrade-master` loads.
    pub config_sha256: String,
    /// The `buildbot` executable of the new code; `None`: the one the staged version names.
    #[serde(default)]
    pub buildbot: Option<String>,
    /// The head the database must be at before (refused otherwise, unless already at `to_head`).
    pub from_head: String,
    /// The new code's head; the database must be at it after.
    pub to_head: String,
    #[serde(default)]
    pub vouched_stopped: Vec<String>,
    /// Kill `upgrade-master` (SIGKILL: it ignores SIGTERM) after this long; default 1800 s.
    #[serde(default)]
    pub timeout_secs: Option<f64>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /v1/buildbot-db/restore`: the backup of `upgrade_id`, restored in one transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbRestoreRequest {
    pub upgrade_id: String,
    #[serde(default)]
    pub vouched_stopped: Vec<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DbOpKind {
    Backup,
    Upgrade,
    Restore,
}

impl DbOpKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DbOpKind::Backup => "backup",
            DbOpKind::Upgrade => "upgrade",
            DbOpKind::Restore => "restore",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DbOpState {
    /// Under way (or the agent restarted during it and has not resolved it yet).
    Running,
    /// Finished: the backup is written, the migration applied (head = `to_head`), the restore
    /// done (head = the backup's).
    Done,
    /// The database was already at `to_head` (an upgrade asked again): nothing was run.
    AlreadyApplied,
    /// Failed or interrupted, and the database is as it was (head = `from_head`): safe to retry.
    NotApplied,
    /// Failed, and the database is in a state the agent cannot vouch for (head neither before
    /// nor after): restore the backup.
    Failed,
}

impl DbOpState {
    pub fn as_str(self) -> &'static str {
        match self {
            DbOpState::Running => "running",
            DbOpState::Done => "done",
            DbOpState::AlreadyApplied => "already_applied",
            DbOpState::NotApplied => "not_applied",
            DbOpState::Failed => "failed",
        }
    }
}

/// A backup, as recorded by the agent that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbBackup {
    /// The dump file (`pg_dump -Fc`), or what the operator's backup command printed last.
    pub location: String,
    #[serde(default)]
    pub size_bytes: Option<u64>,
    /// Of the dump file; `None` for an operator's backup command.
    #[serde(default)]
    pub sha256: Option<String>,
    /// The schema head of the database backed up.
    pub head: String,
    /// `pg_dump 15.8`, or `backup_command`.
    pub tool: String,
}

/// One backup, upgrade or restore of the Buildbot DB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildbotDbOp {
    pub upgrade_id: String,
    pub kind: DbOpKind,
    pub state: DbOpState,
    /// The head before (upgrade, restore), when known.
    #[serde(default)]
    pub from_head: Option<String>,
    /// The head asked for (upgrade) or restored (restore).
    #[serde(default)]
    pub to_head: Option<String>,
    /// The head read after the operation.
    #[serde(default)]
    pub head_after: Option<String>,
    /// The backup (backup; restore: the one restored).
    #[serde(default)]
    pub backup: Option<DbBackup>,
    /// One line.
    pub message: String,
    /// The tool's output (`upgrade-master`'s, `pg_restore`'s errors), verbatim, passwords hidden.
    #[serde(default)]
    pub output: Vec<String>,
    pub started_at: f64,
    #[serde(default)]
    pub finished_at: Option<f64>,
}

/// Why the agent refused to touch the database (`details.refusal` of a 409).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbRefusal {
    /// Active `masters` rows not vouched for as stopped.
    #[serde(default)]
    pub active_masters: Vec<BuildbotMasterRow>,
    /// Connected sessions that are not bbctl's own.
    #[serde(default)]
    pub sessions: Vec<DbSession>,
}
