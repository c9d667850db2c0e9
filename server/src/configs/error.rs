//! Why a configuration call was refused or failed; the HTTP layer maps each case to its status.

use crate::db::DbError;
use crate::master::code::{CodeError, SwitchRefused};
use crate::master::operation::OperationError;

use super::bundle::BundleError;

#[derive(Debug, thiserror::Error)]
pub enum ConfigsError {
    /// The upload itself is wrong (paths, base64, label, size).
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The `buildbot` given with it cannot be used.
    #[error(transparent)]
    Code(#[from] CodeError),
    #[error("no staged configuration {0}")]
    NotStaged(String),
    /// Activation would switch the code of a running master.
    #[error(transparent)]
    Switch(#[from] SwitchRefused),
    /// `buildbot checkconfig` could not be run at all.
    #[error("{0}")]
    CheckconfigRun(std::io::Error),
    /// The agent's own files under its state dir (a staged bundle, a scratch directory).
    #[error("{0}")]
    Storage(String),
    #[error(transparent)]
    Operation(#[from] OperationError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl ConfigsError {
    pub(crate) fn storage(what: impl std::fmt::Display, e: impl std::fmt::Display) -> Self {
        ConfigsError::Storage(format!("{what}: {e}"))
    }
}
