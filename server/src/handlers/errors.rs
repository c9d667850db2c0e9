//! How the errors of the domain services these handlers call become the one error envelope
//! (`crate::error::AppError`): each case keeps the code, status and message the API documents.
//! A failed operation answers with its recorded `OperationResult` as `details`.

use bbctl_api::ErrorCode;

use crate::buildbot_db::BuildbotDbError;
use crate::configs::ConfigsError;
use crate::configs::bundle::BundleError;
use crate::error::AppError;
use crate::fleet_store::StoreError;
use crate::fleet_store::fence::FenceError;
use crate::master::lifecycle::LifecycleError;
use crate::master::operation::{FailureKind, OperationError};

fn details(value: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or_default()
}

impl From<OperationError> for AppError {
    fn from(e: OperationError) -> Self {
        match e {
            OperationError::Busy => AppError::conflict(e.to_string()),
            OperationError::Failed { kind, record } => {
                let code = match kind {
                    FailureKind::Failed => ErrorCode::OperationFailed,
                    FailureKind::Timeout => ErrorCode::Timeout,
                    FailureKind::Internal => ErrorCode::Internal,
                };
                AppError::new(code, record.message.clone()).with_details(details(&record))
            }
            OperationError::Db(_) | OperationError::Task(_) => AppError::internal(e),
        }
    }
}

impl From<LifecycleError> for AppError {
    fn from(e: LifecycleError) -> Self {
        match e {
            LifecycleError::Operation(e) => e.into(),
            LifecycleError::AlreadyCreated(_)
            | LifecycleError::AlreadyRunning(_)
            | LifecycleError::NotCreated(_)
            | LifecycleError::NotRunning => AppError::conflict(e.to_string()),
        }
    }
}

impl From<ConfigsError> for AppError {
    fn from(e: ConfigsError) -> Self {
        match e {
            ConfigsError::Bundle(BundleError::TooLarge) => {
                AppError::new(ErrorCode::PayloadTooLarge, e.to_string())
            }
            ConfigsError::Bundle(_) => AppError::bad_request(e.to_string()),
            ConfigsError::Code(_) => AppError::new(ErrorCode::OperationFailed, e.to_string()),
            ConfigsError::NotStaged(_) => AppError::not_found(e.to_string()),
            ConfigsError::Switch(_) => AppError::conflict(e.to_string()),
            ConfigsError::CheckconfigRun(_) => AppError::upstream(e.to_string()),
            ConfigsError::Operation(e) => e.into(),
            ConfigsError::Storage(_) | ConfigsError::Db(_) => AppError::internal(e),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        let message = e.to_string();
        match e {
            StoreError::BadRequest(_) => AppError::bad_request(message),
            StoreError::Held(lease) | StoreError::NotHolder(lease) => {
                AppError::conflict(message).with_details(details(&lease))
            }
            StoreError::StaleEpoch(d) => {
                AppError::new(ErrorCode::StaleEpoch, message).with_details(details(&d))
            }
            StoreError::VersionMismatch { stored } => AppError::conflict(message)
                .with_details(serde_json::json!({ "stored_version": stored })),
            StoreError::NoLease(_) | StoreError::NoUpgrade(_) => AppError::not_found(message),
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %message, "fleet store unavailable");
                AppError::new(ErrorCode::StoreUnavailable, message)
            }
            StoreError::Malformed(_) => AppError::internal(message),
        }
    }
}

impl From<FenceError> for AppError {
    fn from(e: FenceError) -> Self {
        match e {
            FenceError::Malformed | FenceError::OtherFleet { .. } => {
                AppError::bad_request(e.to_string())
            }
            FenceError::Stale(e) => e.into(),
            FenceError::Db(e) => AppError::internal(e),
        }
    }
}

impl From<BuildbotDbError> for AppError {
    fn from(e: BuildbotDbError) -> Self {
        use BuildbotDbError as E;
        let message = e.to_string();
        match e {
            E::BadId | E::BadTimeout => AppError::bad_request(message),
            E::NoDbUrl | E::BadUrl(_) | E::NotPostgres(_) | E::Refused(_) | E::Code(_) => {
                AppError::new(ErrorCode::OperationFailed, message)
            }
            E::Unreachable(_) => AppError::upstream(message),
            E::InUse { refusal, .. } => AppError::conflict(message)
                .with_details(serde_json::json!({ "refusal": details(&refusal) })),
            E::HeadMismatch { db_head, .. } => {
                AppError::conflict(message).with_details(serde_json::json!({ "db_head": db_head }))
            }
            E::NoBackup(_) | E::NoSuchMaster(_) => AppError::not_found(message),
            E::NotGone(_) => AppError::conflict(message),
            E::Checksum { .. } | E::Busy(_) => AppError::conflict(message),
            E::Configs(e) => e.into(),
            E::Db(_) | E::Internal(_) => AppError::internal(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use bbctl_api::OperationResult;

    use super::*;

    #[test]
    fn a_failed_operation_keeps_its_code_and_carries_its_record() {
        let record = OperationResult {
            id: 7,
            kind: "start".into(),
            ok: false,
            message: "no verdict".into(),
            log_lines: vec!["x".into()],
            started_at: 1.0,
            finished_at: Some(2.0),
            routing: None,
        };
        let err = AppError::from(OperationError::Failed {
            kind: FailureKind::Timeout,
            record: Box::new(record.clone()),
        });
        assert_eq!(err.code, ErrorCode::Timeout);
        assert_eq!(err.message, "no verdict");
        assert_eq!(err.details, Some(details(&record)));
        let busy = AppError::from(LifecycleError::Operation(OperationError::Busy));
        assert_eq!(busy.code, ErrorCode::Conflict);
        assert_eq!(busy.message, "another lifecycle operation is in progress");
    }

    #[test]
    fn config_refusals_keep_their_codes() {
        let big = AppError::from(ConfigsError::Bundle(BundleError::TooLarge));
        assert_eq!(big.code, ErrorCode::PayloadTooLarge);
        let missing = AppError::from(ConfigsError::NotStaged("abc".into()));
        assert_eq!(
            (missing.code, missing.message.as_str()),
            (ErrorCode::NotFound, "no staged configuration abc")
        );
    }
}
