//! The one HTTP error type. Every handler returns `Result<_, AppError>`; `IntoResponse` turns it
//! into the `bbctl_api::ErrorEnvelope` with the status fixed by `ErrorCode::http_status`.
//!
//! A 500 logs its cause once, here, and answers with a generic message: internal details (paths,
//! SQL) stay in the agent's log.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bbctl_api::{ErrorBody, ErrorCode, ErrorEnvelope};

#[derive(Debug)]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<serde_json::Value>,
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        AppError {
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(ErrorCode::Unauthorized, "missing or wrong bearer token")
    }

    pub fn upstream(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Upstream, message)
    }

    /// An unexpected local failure: the cause is logged, the client sees a generic message.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(ErrorCode::Internal, "internal error; see the agent log")
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ErrorEnvelope {
            error: ErrorBody {
                code: self.code,
                message: self.message,
                details: self.details,
            },
        };
        (status, Json(body)).into_response()
    }
}

impl From<crate::db::DbError> for AppError {
    fn from(e: crate::db::DbError) -> Self {
        AppError::internal(e)
    }
}

impl From<crate::buildbot::RestError> for AppError {
    fn from(e: crate::buildbot::RestError) -> Self {
        AppError::upstream(e.to_string())
    }
}

impl From<crate::drain::DrainError> for AppError {
    fn from(e: crate::drain::DrainError) -> Self {
        use crate::drain::DrainError as E;
        match e {
            E::BadDeadline | E::CordonDeadline | E::BadChange(_) => {
                AppError::bad_request(e.to_string())
            }
            E::NoDrain => AppError::not_found(e.to_string()),
            E::FailedHoldsMaster { .. }
            | E::NoHook
            | E::MasterNotRunning
            | E::MasterUnknown(_)
            | E::NotCancellable { .. }
            | E::NotChangeable { .. } => AppError::conflict(e.to_string()),
            E::CancelIncomplete(_) => AppError::upstream(e.to_string()),
            E::Db(_) | E::Corrupt { .. } | E::Encode(_) | E::Task(_) => AppError::internal(e),
        }
    }
}

impl From<crate::drain::moves::MoveError> for AppError {
    fn from(e: crate::drain::moves::MoveError) -> Self {
        use crate::drain::moves::MoveError as E;
        match e {
            E::BadTimeout => AppError::bad_request(e.to_string()),
            E::UnknownWorker(_) => AppError::not_found(e.to_string()),
            E::DrainHoldsMaster
            | E::NoHook
            | E::MasterNotRunning
            | E::NotInRotation(_)
            | E::NotHere(_) => AppError::conflict(e.to_string()),
            E::Env(_) | E::Lb(_) => AppError::upstream(e.to_string()),
            E::Db(_) | E::Task(_) => AppError::internal(e),
        }
    }
}

impl From<crate::drain::RoutingError> for AppError {
    fn from(e: crate::drain::RoutingError) -> Self {
        use crate::drain::RoutingError as E;
        use crate::lb::LbError;
        match e {
            E::DrainHoldsMaster | E::MasterNotRunning | E::Lb(LbError::NotConfigured) => {
                AppError::conflict(e.to_string())
            }
            E::Lb(_) => AppError::upstream(e.to_string()),
            E::Db(_) => AppError::internal(e),
        }
    }
}

impl From<crate::topology::TopologyError> for AppError {
    fn from(e: crate::topology::TopologyError) -> Self {
        use crate::topology::TopologyError as E;
        match e {
            E::Rest(_) => AppError::upstream(e.to_string()),
            E::NotKnown => AppError::conflict(e.to_string()),
            E::BadSince(_) => AppError::bad_request(e.to_string()),
        }
    }
}
