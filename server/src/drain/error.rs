//! Why a drain operation (start, status, cancel) or a routing call was refused or failed. The
//! HTTP layer maps each variant to the API's error code (`crate::error`); the messages are the
//! ones the API answers with.

use super::env::EnvError;
use crate::db::DbError;
use crate::lb::LbError;

/// A failure of `POST`, `GET`, `PATCH` or `DELETE /v1/drain`.
#[derive(Debug, thiserror::Error)]
pub enum DrainError {
    #[error("deadline_secs must be a non-negative number")]
    BadDeadline,
    #[error(
        "a cordon takes no deadline (it never stops the master): drain the master instead to \
         give one"
    )]
    CordonDeadline,
    #[error(
        "drain {id} failed and still holds workers paused or routing stopped: cancel it first \
         (`bbctl drain cancel {agent}`)"
    )]
    FailedHoldsMaster { id: i64, agent: String },
    /// `PATCH /v1/drain` with nothing to change, or a force without any deadline.
    #[error("{0}")]
    BadChange(&'static str),
    /// `PATCH /v1/drain` while no drain can be changed.
    #[error("the drain is {phase}: {why}")]
    NotChangeable {
        phase: &'static str,
        why: &'static str,
    },
    #[error(
        "no load-balancer hook is configured ([load_balancer] kind = \"haproxy\" or \"relay\"): a \
         drain could not hand workers off"
    )]
    NoHook,
    #[error("the master is not running")]
    MasterNotRunning,
    /// Buildbot does not list this master (yet).
    #[error("{0}")]
    MasterUnknown(EnvError),
    #[error("no drain")]
    NoDrain,
    /// `detail` says why, when there is more to say than the phase.
    #[error("the drain is {phase}: nothing to cancel{detail}")]
    NotCancellable {
        phase: &'static str,
        detail: &'static str,
    },
    /// A step of the cancel failed; what was undone is saved, and calling it again goes on.
    #[error("cancel incomplete, call it again: {0}")]
    CancelIncomplete(EnvError),
    #[error(transparent)]
    Db(#[from] DbError),
    /// A stored drain that does not decode, or a state that does not encode.
    #[error("drain {id}: bad {what}: {message}")]
    Corrupt {
        id: i64,
        what: &'static str,
        message: String,
    },
    #[error("a drain does not encode: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("drain task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A failure of `GET /v1/routing` or `POST /v1/routing/resume`.
#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    #[error("a drain holds this master out of service: cancel it (`bbctl drain cancel`) instead")]
    DrainHoldsMaster,
    #[error("the master is not running: start it before routing workers to it")]
    MasterNotRunning,
    #[error(transparent)]
    Lb(#[from] LbError),
    #[error(transparent)]
    Db(#[from] DbError),
}
