//! Running one lifecycle operation: recorded in the `operations` table, announced as
//! `agent.operation` events, written to the audit log, and carried out in its own task so that a
//! client hanging up does not abandon it half-way.

use std::future::Future;

use bbctl_api::{ErrorCode, OperationResult};
use tokio::sync::OwnedMutexGuard;

use crate::db::{audit, operations};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

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

/// A failed outcome; `code` picks the HTTP status (422 failed, 504 timeout, 502 upstream, …).
pub struct OpFailure {
    pub code: ErrorCode,
    pub message: String,
    pub log_lines: Vec<String>,
}

impl OpFailure {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        OpFailure {
            code,
            message: message.into(),
            log_lines: Vec::new(),
        }
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

/// Tries to take the operation lock: 409 if another operation is running.
pub fn lock(state: &AppState) -> AppResult<OwnedMutexGuard<()>> {
    state
        .master()
        .op_lock
        .clone()
        .try_lock_owned()
        .map_err(|_| AppError::conflict("another lifecycle operation is in progress"))
}

/// Records and runs `work` under `guard`; answers with the operation or the error envelope
/// whose `details` is the recorded operation (with its log lines).
pub async fn run<F>(
    state: &AppState,
    guard: OwnedMutexGuard<()>,
    kind: &'static str,
    who: Requester,
    work: F,
) -> AppResult<OperationResult>
where
    F: Future<Output = Result<OpSuccess, OpFailure>> + Send + 'static,
{
    let (actor, reason) = (who.actor.clone(), who.reason.clone());
    let id = state
        .db()
        .run(move |c| operations::begin(c, kind, actor.as_deref(), reason.as_deref()))
        .await?;
    tracing::info!(operation = id, kind, actor = ?who.actor, reason = ?who.reason, "operation started");
    state.hub().publish_agent(
        "agent.operation",
        format!("{kind} started"),
        serde_json::json!({"id": id, "kind": kind, "phase": "started", "reason": who.reason}),
    );
    let task_state = state.clone();
    let handle = tokio::spawn(async move {
        let _guard = guard;
        let outcome = work.await;
        finish(&task_state, id, kind, &who, outcome).await
    });
    handle.await.map_err(AppError::internal)?
}

async fn finish(
    state: &AppState,
    id: i64,
    kind: &'static str,
    who: &Requester,
    outcome: Result<OpSuccess, OpFailure>,
) -> AppResult<OperationResult> {
    let (ok, message, lines, code) = match outcome {
        Ok(s) => (true, s.message, s.log_lines, None),
        Err(f) => (false, f.message, f.log_lines, Some(f.code)),
    };
    let (msg, actor) = (message.clone(), who.actor.clone());
    let detail = format!("{kind}: {} ({message})", if ok { "ok" } else { "failed" });
    let result = state
        .db()
        .run(move |c| {
            let r = operations::finish(c, id, ok, &msg, &lines)?;
            audit::append(c, actor.as_deref(), kind, &detail)?;
            Ok(r)
        })
        .await?;
    tracing::info!(operation = id, kind, ok, message = %result.message, "operation finished");
    state.hub().publish_agent(
        "agent.operation",
        format!("{kind} {}: {}", if ok { "succeeded" } else { "failed" }, result.message),
        serde_json::json!({"id": id, "kind": kind, "phase": "finished", "ok": ok, "message": result.message}),
    );
    match code {
        None => Ok(result),
        Some(code) => Err(AppError::new(code, result.message.clone())
            .with_details(serde_json::to_value(&result).unwrap_or_default())),
    }
}
