//! Why a Buildbot-DB call was refused or could not run; the HTTP layer maps each case to its
//! status. An operation that ran and failed is not an error: it is a [`bbctl_api::BuildbotDbOp`]
//! whose state says so.

use bbctl_api::DbRefusal;

use crate::configs::ConfigsError;
use crate::db::DbError;
use crate::master::code::CodeError;

#[derive(Debug, thiserror::Error)]
pub enum BuildbotDbError {
    #[error("an upgrade id is 1-100 characters of [A-Za-z0-9._-], not starting with `.`")]
    BadId,
    #[error("timeout_secs must be a positive number of seconds (at most 86400)")]
    BadTimeout,
    #[error(
        "Buildbot's database is not configured on this agent: set `[master] db_url` in the agent \
         config (needed by the migrate strategy and the masters-table commands)"
    )]
    NoDbUrl,
    /// The URL cannot be read.
    #[error("`[master] db_url`: {0}")]
    BadUrl(String),
    #[error("migrate supports PostgreSQL Buildbot DBs only (this one: {0})")]
    NotPostgres(String),
    /// The database did not answer.
    #[error("{0}")]
    Unreachable(String),
    /// A master or a foreign session uses the database; the message names them.
    #[error("{message}")]
    InUse {
        message: String,
        refusal: Box<DbRefusal>,
    },
    /// The database is not at the head the upgrade starts from.
    #[error("{message}")]
    HeadMismatch {
        message: String,
        db_head: Option<String>,
    },
    /// `masters/expire`: no such row in Buildbot's `masters` table.
    #[error("no master with id {0} in Buildbot's masters table")]
    NoSuchMaster(i64),
    /// `masters/expire`: the master is not proven gone; the message says why.
    #[error("{0}")]
    NotGone(String),
    #[error("no backup of upgrade {0} on this agent")]
    NoBackup(String),
    #[error("backup {location}: sha256 is {actual}, the backup recorded {expected}")]
    Checksum {
        location: String,
        expected: String,
        actual: String,
    },
    /// Another operation on the database is running on this agent.
    #[error("{0}")]
    Busy(String),
    /// A precondition of the operation does not hold (tool too old, no space, …).
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Code(#[from] CodeError),
    #[error(transparent)]
    Configs(#[from] ConfigsError),
    #[error(transparent)]
    Db(#[from] DbError),
    /// The agent's own files or tasks.
    #[error("{0}")]
    Internal(String),
}
