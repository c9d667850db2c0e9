//! The drain of one master: request and status.

use serde::{Deserialize, Serialize};

/// `POST /v1/drain`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrainRequest {
    /// Seconds from now after which running builds count as overdue; none = wait forever.
    #[serde(default)]
    pub deadline_secs: Option<f64>,
    /// When the deadline passes, end overdue builds so Buildbot re-queues them (RETRY).
    #[serde(default)]
    pub force_after_deadline: bool,
    #[serde(default)]
    pub reason: Option<String>,
    /// Who asked (user@host of the operator).
    #[serde(default)]
    pub requested_by: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrainPhase {
    /// Routing stopped, waiting for builds to end and workers to leave.
    Draining,
    /// Everything left; the master is being stopped.
    Stopping,
    /// Done: no build ran, no worker was attached, the master stopped.
    Drained,
    /// The deadline passed without force; nothing more was changed.
    DeadlinePassed,
    /// Cancelled: the master is back in full service.
    Cancelled,
    /// Failed; `message` says why.
    Failed,
}

/// One worker handed off during a drain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandoffInfo {
    pub worker: String,
    /// When the worker became free to leave (drain start if idle, else its build's end).
    pub free_at: f64,
    /// When it was attached to another master, if seen.
    pub attached_elsewhere_at: Option<f64>,
    /// The master it went to (Buildbot master name), if seen.
    pub to_master: Option<String>,
}

/// `GET /v1/drain`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrainStatus {
    pub id: i64,
    pub phase: DrainPhase,
    pub started_at: f64,
    pub finished_at: Option<f64>,
    pub deadline_at: Option<f64>,
    pub force_after_deadline: bool,
    pub reason: Option<String>,
    pub requested_by: Option<String>,
    pub builds_running: i64,
    pub builds_finished: i64,
    pub builds_requeued: i64,
    pub workers_attached: i64,
    pub workers_handed_off: Vec<HandoffInfo>,
    pub message: Option<String>,
}
