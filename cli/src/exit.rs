//! Exit codes and the errors that carry one, so that `main` is the only place that exits.

use std::fmt;
use std::process::ExitCode;

use bbctl_api::ErrorCode;

use crate::client::{ApiError, CaFileError};

/// The documented exit codes (see `bbctl --help`, docs/cli.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    Ok = 0,
    Failed = 1,
    Usage = 2,
    Partial = 3,
    DeadlinePassed = 4,
    Refused = 5,
    /// `upgrade`: rolled back; the old masters serve as before.
    RolledBack = 6,
    /// A followed drain cannot progress: one of its steps (the load balancer, …) has kept
    /// failing for longer than `--stall-timeout`; the agent keeps retrying.
    Stalled = 7,
    /// Interrupted (Ctrl-C) while following; what was started goes on.
    Interrupted = 130,
}

impl Exit {
    /// How bad an outcome is when several agents end differently: the worst one wins
    /// (interrupted > failed > usage > rolled back > refused > stalled > deadline passed >
    /// partial > ok).
    fn severity(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Partial => 1,
            Exit::DeadlinePassed => 2,
            Exit::Stalled => 3,
            Exit::Refused => 4,
            Exit::RolledBack => 5,
            Exit::Usage => 6,
            Exit::Failed => 7,
            Exit::Interrupted => 8,
        }
    }

    /// The worse of two exit codes.
    pub fn worst(self, other: Exit) -> Exit {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }
}

/// An agent's error as an exit code: unreachable → 3, refused (the envelope's `conflict`
/// or `stale_epoch` code) → 5, everything else → 1. The client classifies; this is the one place that maps.
impl From<&ApiError> for Exit {
    fn from(err: &ApiError) -> Exit {
        if err.is_unreachable() {
            Exit::Partial
        } else if err.is(ErrorCode::Conflict) || err.is(ErrorCode::StaleEpoch) {
            Exit::Refused
        } else {
            Exit::Failed
        }
    }
}

impl From<&CaFileError> for Exit {
    fn from(_: &CaFileError) -> Exit {
        Exit::Usage
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

/// An error that knows its exit code: usage problems, refusals, failures the CLI detects itself.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            exit: Exit::Usage,
            message: message.into(),
        }
    }

    pub fn refused(message: impl Into<String>) -> Self {
        Failure {
            exit: Exit::Refused,
            message: message.into(),
        }
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Failure {
            exit: Exit::Failed,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// Whether the error is a closed stdout pipe (`bbctl … | head`), which ends the program quietly.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::Exit;
    use crate::client::ApiError;

    #[test]
    fn agent_errors_map_by_their_code() {
        let exit = |status: u16, body: &[u8]| Exit::from(&ApiError::from_answer("m", status, body));
        let conflict = br#"{"error":{"code":"conflict","message":"master is already running"}}"#;
        assert_eq!(exit(409, conflict), Exit::Refused);
        // The code decides, not the HTTP status that carried it.
        assert_eq!(exit(400, conflict), Exit::Refused);
        let unauthorized = br#"{"error":{"code":"unauthorized","message":"bad token"}}"#;
        assert_eq!(exit(401, unauthorized), Exit::Failed);
        assert_eq!(exit(500, b"<html>oops</html>"), Exit::Failed);
        let refused = ApiError::Unreachable {
            agent: "m2".into(),
            detail: "connection refused".into(),
        };
        assert_eq!(Exit::from(&refused), Exit::Partial);
    }

    #[test]
    fn worst_prefers_failure_over_partial() {
        assert_eq!(Exit::Ok.worst(Exit::Partial), Exit::Partial);
        assert_eq!(Exit::Partial.worst(Exit::Failed), Exit::Failed);
        assert_eq!(
            Exit::DeadlinePassed.worst(Exit::Partial),
            Exit::DeadlinePassed
        );
        assert_eq!(Exit::Failed.worst(Exit::Ok), Exit::Failed);
        assert_eq!(Exit::DeadlinePassed.worst(Exit::Stalled), Exit::Stalled);
        assert_eq!(Exit::Stalled.worst(Exit::Refused), Exit::Refused);
        assert_eq!(Exit::Failed.worst(Exit::Interrupted), Exit::Interrupted);
        assert_eq!((Exit::Stalled as u8, Exit::Interrupted as u8), (7, 130));
    }
}
