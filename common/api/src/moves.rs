//! Moving one idle worker off this master (`POST /v1/workers/{name}/move`; issue 16): the
//! step `bbctl workers rebalance` repeats.

use serde::{Deserialize, Serialize};

/// `POST /v1/workers/{name}/move`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveRequest {
    /// How long to wait for the worker to attach to another master (default 30, at most 600).
    #[serde(default)]
    pub timeout_secs: Option<f64>,
    /// Who asked (user@host of the operator); else the `X-Bbctl-Requested-By` header.
    #[serde(default)]
    pub requested_by: Option<String>,
}

/// What a move came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MoveOutcome {
    /// The worker left this master and attached to another active master.
    Moved,
    /// Skipped, nothing changed: the worker runs a build here (or one is being started here).
    /// A busy worker is never interrupted.
    Busy,
    /// Skipped, nothing changed: the worker is paused (by an operator) and does no work anyway.
    Paused,
    /// Skipped, nothing changed: its attach handshake has not finished (closing it now wedges
    /// Buildbot 4.3.0); try again in a moment.
    Attaching,
    /// The worker's connection was closed but it was not seen on another master within the
    /// timeout (or came back here); routing was restored, its pause undone.
    NotSeenElsewhere,
}

impl MoveOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            MoveOutcome::Moved => "moved",
            MoveOutcome::Busy => "busy",
            MoveOutcome::Paused => "paused",
            MoveOutcome::Attaching => "attaching",
            MoveOutcome::NotSeenElsewhere => "not_seen_elsewhere",
        }
    }

    /// Nothing was changed: the worker stayed where it was, untouched.
    pub fn skipped(self) -> bool {
        matches!(
            self,
            MoveOutcome::Busy | MoveOutcome::Paused | MoveOutcome::Attaching
        )
    }
}

impl std::fmt::Display for MoveOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The answer of `POST /v1/workers/{name}/move`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MoveResult {
    pub worker: String,
    pub outcome: MoveOutcome,
    /// This master's Buildbot name.
    pub from_master: String,
    /// The Buildbot name of the master the worker attached to (`moved`).
    pub to_master: Option<String>,
    /// When its connection was closed (null when skipped).
    pub closed_at: Option<f64>,
    /// When it was seen attached to the other master.
    pub attached_elsewhere_at: Option<f64>,
    /// Seconds the whole move took, routing stop to routing back.
    pub seconds: f64,
    /// One sentence for people: what was done, or why not.
    pub message: String,
}
