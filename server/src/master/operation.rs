//! Running one lifecycle operation: recorded in the `operations` table, announced as
//! `agent.operation` events, written to the audit log, and carried out in its own task so that a
//! client hanging up does not abandon it half-way. One operation runs at a time per master
//! ([`Operations::lock`]); activation (`crate::configs`) is an operation too.

use std::future::Future;
use std::sync::Arc;

use bbctl_api::OperationResult;
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::db::{Db, DbError, audit, operations};
use crate::events::EventHub;

/// A successful outcome.
pub struct OpSuccess {
    pub message: String,
    pub log_lines: Vec<String>,
}

impl OpSuccess {
    pub fn new(message: impl Into<String>) -> Self {
        OpSuccess {
            message: message.into(),
            log_lines: Vec::new(),
        }
    }
}

/// How an operation failed; the API answers 422, 504 or 500 accordingly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The master or Buildbot refused or failed (`operation_failed`).
    Failed,
    /// The master did not reach the wanted state in time (`timeout`).
    Timeout,
    /// The agent itself could not do its part (`internal`, with the message kept).
    Internal,
}

/// A failed outcome.
pub struct OpFailure {
    pub kind: FailureKind,
    pub message: String,
    pub log_lines: Vec<String>,
}

impl OpFailure {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        OpFailure {
            kind,
            message: message.into(),
            log_lines: Vec::new(),
        }
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(FailureKind::Failed, message)
    }

    pub fn with_lines(mut self, lines: Vec<String>) -> Self {
        self.log_lines = lines;
        self
    }
}

/// Who asked and why.
#[derive(Debug, Clone, Default)]
pub struct Requester {
    pub actor: Option<String>,
    pub reason: Option<String>,
}

/// Why an operation did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum OperationError {
    #[error("another lifecycle operation is in progress")]
    Busy,
    /// It ran and failed; `record` is what the operations table now holds.
    #[error("{}", .record.message)]
    Failed {
        kind: FailureKind,
        record: Box<OperationResult>,
    },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("operation task failed: {0}")]
    Task(String),
}

/// The one-at-a-time lock, the record and the announcements of operations.
#[derive(Clone)]
pub struct Operations {
    db: Db,
    hub: EventHub,
    lock: Arc<Mutex<()>>,
}

impl Operations {
    /// `lock` is shared by every service that runs operations on the same master.
    pub fn new(db: Db, hub: EventHub, lock: Arc<Mutex<()>>) -> Self {
        Operations { db, hub, lock }
    }

    /// Tries to take the operation lock: [`OperationError::Busy`] if another operation runs.
    pub fn lock(&self) -> Result<OwnedMutexGuard<()>, OperationError> {
        self.lock
            .clone()
            .try_lock_owned()
            .map_err(|_| OperationError::Busy)
    }

    /// Records and runs `work` under `guard`; a failure comes back with the recorded operation
    /// (with its log lines).
    pub async fn run<F>(
        &self,
        guard: OwnedMutexGuard<()>,
        kind: &'static str,
        who: Requester,
        work: F,
    ) -> Result<OperationResult, OperationError>
    where
        F: Future<Output = Result<OpSuccess, OpFailure>> + Send + 'static,
    {
        let (actor, reason) = (who.actor.clone(), who.reason.clone());
        let id = self
            .db
            .run(move |c| operations::begin(c, kind, actor.as_deref(), reason.as_deref()))
            .await?;
        tracing::info!(operation = id, kind, actor = ?who.actor, reason = ?who.reason, "operation started");
        self.hub.publish_agent(
            "agent.operation",
            format!("{kind} started"),
            serde_json::json!({"id": id, "kind": kind, "phase": "started", "reason": who.reason}),
        );
        let this = self.clone();
        let handle = tokio::spawn(async move {
            let _guard = guard;
            let outcome = work.await;
            this.finish(id, kind, &who, outcome).await
        });
        handle
            .await
            .map_err(|e| OperationError::Task(e.to_string()))?
    }

    async fn finish(
        &self,
        id: i64,
        kind: &'static str,
        who: &Requester,
        outcome: Result<OpSuccess, OpFailure>,
    ) -> Result<OperationResult, OperationError> {
        let (ok, message, lines, failure) = match outcome {
            Ok(s) => (true, s.message, s.log_lines, None),
            Err(f) => (false, f.message, f.log_lines, Some(f.kind)),
        };
        let (msg, actor) = (message.clone(), who.actor.clone());
        let detail = format!("{kind}: {} ({message})", if ok { "ok" } else { "failed" });
        let result = self
            .db
            .run(move |c| {
                let r = operations::finish(c, id, ok, &msg, &lines)?;
                audit::append(c, actor.as_deref(), kind, &detail)?;
                Ok(r)
            })
            .await?;
        tracing::info!(operation = id, kind, ok, message = %result.message, "operation finished");
        self.hub.publish_agent(
            "agent.operation",
            format!("{kind} {}: {}", if ok { "succeeded" } else { "failed" }, result.message),
            serde_json::json!({"id": id, "kind": kind, "phase": "finished", "ok": ok, "message": result.message}),
        );
        match failure {
            None => Ok(result),
            Some(kind) => Err(OperationError::Failed {
                kind,
                record: Box::new(result),
            }),
        }
    }
}
