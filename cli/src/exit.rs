//! Exit codes and the errors that carry one, so that `main` is the only place that exits.

use std::fmt;
use std::process::ExitCode;

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
}

impl Exit {
    /// How bad an outcome is when several agents end differently: the worst one wins
    /// (failed > usage > rolled back > refused > deadline passed > partial > ok).
    fn severity(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Partial => 1,
            Exit::DeadlinePassed => 2,
            Exit::Refused => 3,
            Exit::RolledBack => 4,
            Exit::Usage => 5,
            Exit::Failed => 6,
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

/// The exit code for an error that reached `main`: the first [`Failure`] or agent error in its
/// chain decides; anything else is an operation failure.
pub fn exit_for(err: &anyhow::Error) -> Exit {
    for cause in err.chain() {
        if let Some(failure) = cause.downcast_ref::<Failure>() {
            return failure.exit;
        }
        if let Some(api) = cause.downcast_ref::<crate::client::ApiError>() {
            return api.exit();
        }
    }
    Exit::Failed
}

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

    #[test]
    fn worst_prefers_failure_over_partial() {
        assert_eq!(Exit::Ok.worst(Exit::Partial), Exit::Partial);
        assert_eq!(Exit::Partial.worst(Exit::Failed), Exit::Failed);
        assert_eq!(
            Exit::DeadlinePassed.worst(Exit::Partial),
            Exit::DeadlinePassed
        );
        assert_eq!(Exit::Failed.worst(Exit::Ok), Exit::Failed);
    }
}
