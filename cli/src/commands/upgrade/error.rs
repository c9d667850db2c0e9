//! The one error of an upgrade: how a command or a step failed, which exit code that is, and
//! what the runner does about it (a failed gate rolls back, a passed drain deadline stops with
//! exit 4, an unreachable agent pauses: [`super::pause`]). An agent's answer is wrapped once,
//! as it came ([`ApiError`]): classified by its error code, printed verbatim.

use crate::client::ApiError;
use crate::exit::{Exit, Failure};

#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    /// Refused before anything changed: pre-flight, the fleet lease, an infeasible plan, no
    /// confirmation (exit 5).
    #[error("{message}")]
    Refused { message: String, lines: Vec<String> },
    /// The command line or the inventory cannot work (exit 2).
    #[error("{0}")]
    Usage(String),
    /// A new master failed its gate: the upgrade rolls back.
    #[error("{message}")]
    Gate { message: String, lines: Vec<String> },
    /// A drain deadline passed without `--force-after-deadline` (exit 4).
    #[error("{0}")]
    DeadlinePassed(String),
    /// Another run took the fleet lease over (`stale_epoch`): this one stops at once, without
    /// rolling back or releasing anything (exit 5).
    #[error("{0}")]
    Fenced(String),
    /// An agent stayed unreachable past `--pause-timeout` (exit 3; resumable).
    #[error("{agent}'s agent did not answer again within the pause timeout ({cause})")]
    PauseTimedOut { agent: String, cause: String },
    /// No agent reached the fleet store again within `--pause-timeout` (exit 3; resumable).
    #[error("no agent ({agents}) reached the fleet store again within the pause timeout ({cause})")]
    StoreTimedOut { agents: String, cause: String },
    /// An agent answered with an error, or did not answer.
    #[error(transparent)]
    Agent(#[from] ApiError),
    /// A canary upgrade's gate passed (or could not judge) without `--auto-promote`: the run
    /// ends here, resumable by `bbctl upgrade promote` (exit 0).
    #[error("{0}")]
    AwaitingPromotion(String),
    /// Anything else that failed (exit 1).
    #[error("{message}")]
    Failed { message: String, lines: Vec<String> },
}

impl UpgradeError {
    pub fn refused(message: impl Into<String>, lines: Vec<String>) -> UpgradeError {
        UpgradeError::Refused {
            message: message.into(),
            lines,
        }
    }

    pub fn failed(message: impl Into<String>, lines: Vec<String>) -> UpgradeError {
        UpgradeError::Failed {
            message: message.into(),
            lines,
        }
    }

    pub fn gate(message: impl Into<String>, lines: Vec<String>) -> UpgradeError {
        UpgradeError::Gate {
            message: message.into(),
            lines,
        }
    }

    /// The exit code when this error ends the command. An agent's conflict is a refusal (5),
    /// any other agent error — an unreachable agent outside a step too — a failure (1): only a
    /// pause that timed out is exit 3. A gate failure's code is the rollback's (6, or 1).
    pub fn exit(&self) -> Exit {
        match self {
            UpgradeError::Refused { .. } | UpgradeError::Fenced(_) => Exit::Refused,
            UpgradeError::Usage(_) => Exit::Usage,
            UpgradeError::DeadlinePassed(_) => Exit::DeadlinePassed,
            UpgradeError::AwaitingPromotion(_) => Exit::Ok,
            UpgradeError::PauseTimedOut { .. } | UpgradeError::StoreTimedOut { .. } => {
                Exit::Partial
            }
            UpgradeError::Agent(err) if Exit::from(err) == Exit::Refused => Exit::Refused,
            UpgradeError::Gate { .. } | UpgradeError::Agent(_) | UpgradeError::Failed { .. } => {
                Exit::Failed
            }
        }
    }

    /// The lines that explain it (checkconfig output, an agent's log lines, problems found).
    pub fn lines(&self) -> Vec<String> {
        match self {
            UpgradeError::Refused { lines, .. }
            | UpgradeError::Gate { lines, .. }
            | UpgradeError::Failed { lines, .. } => lines.clone(),
            UpgradeError::Agent(err) => err.log_lines(),
            UpgradeError::Usage(_)
            | UpgradeError::Fenced(_)
            | UpgradeError::DeadlinePassed(_)
            | UpgradeError::AwaitingPromotion(_)
            | UpgradeError::PauseTimedOut { .. }
            | UpgradeError::StoreTimedOut { .. } => vec![],
        }
    }

    /// The agent that did not answer, when that is all that went wrong (the runner pauses).
    pub fn unreachable_agent(&self) -> Option<&str> {
        match self {
            UpgradeError::Agent(err) => err.unreachable_agent(),
            _ => None,
        }
    }
}

/// At the command's end: the message with its lines, and the exit code, for `main`.
impl From<UpgradeError> for Failure {
    fn from(err: UpgradeError) -> Failure {
        let mut message = err.to_string();
        for line in err.lines() {
            message.push_str("\n  ");
            message.push_str(&line);
        }
        Failure {
            exit: err.exit(),
            message,
        }
    }
}
