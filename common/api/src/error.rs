//! The one error envelope every non-2xx answer of the agent carries.

use serde::{Deserialize, Serialize};

/// `{"error": {"code": "...", "message": "...", "details": ...}}`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// A stable machine-readable code, see [`ErrorCode`].
    pub code: ErrorCode,
    /// One human-readable line; safe to show to an operator verbatim.
    pub message: String,
    /// Optional structured details (e.g. checkconfig output, log lines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

/// Stable error codes. The HTTP status that goes with each is fixed by the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: malformed JSON, unknown field, bad value.
    BadRequest,
    /// 401: missing or wrong bearer token.
    Unauthorized,
    /// 404: no such resource.
    NotFound,
    /// 409: the request conflicts with the current state (already running, drain in progress, …).
    Conflict,
    /// 409: the caller's fleet-lease epoch ([`crate::LEASE_EPOCH_HEADER`], or a journal append's
    /// `epoch`) is older than one the agent has seen: another operator took the lease. Nothing
    /// was done. `details` is a [`crate::StaleEpochDetails`].
    StaleEpoch,
    /// 413: an upload over the size limit.
    PayloadTooLarge,
    /// 422: the request was understood but the operation failed (checkconfig failed, master
    /// failed to start); `details` says why.
    OperationFailed,
    /// 502: Buildbot (REST API, process) did not answer as expected.
    Upstream,
    /// 503: the fleet store (`[fleet] db_url`) did not answer; retry later.
    StoreUnavailable,
    /// 504: an operation did not finish within its timeout.
    Timeout,
    /// 500: a bug or an unexpected local failure; the agent logs the cause.
    Internal,
}

impl ErrorCode {
    /// The HTTP status code that carries this error.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::BadRequest => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::StaleEpoch => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::OperationFailed => 422,
            ErrorCode::Upstream => 502,
            ErrorCode::StoreUnavailable => 503,
            ErrorCode::Timeout => 504,
            ErrorCode::Internal => 500,
        }
    }
}

impl std::fmt::Display for ErrorEnvelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.error.message)
    }
}
