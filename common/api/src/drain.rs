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
    /// A cordon, not a drain (`bbctl cordon`): routing stops and the workers are handed off as
    /// they go idle, but the master keeps running and is never stopped; the drain holds in
    /// phase `cordoned` until a cancel (uncordon) or a drain, which continues from there. A
    /// cordon takes no deadline.
    #[serde(default)]
    pub cordon: bool,
}

/// `PATCH /v1/drain`: changes the drain in progress (`draining`, or `deadline_passed`, which a
/// later deadline or `force_after_deadline` sets draining again).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrainChange {
    /// A new deadline in seconds from now: extends or shortens the current one (or sets one).
    #[serde(default)]
    pub deadline_secs: Option<f64>,
    /// `true`: when the deadline passes, busy workers are handed off (their builds end RETRY and
    /// are re-queued); `false`: the drain stops at the deadline. Absent: unchanged.
    #[serde(default)]
    pub force_after_deadline: Option<bool>,
    /// Who asked (user@host of the operator); else the `X-Bbctl-Requested-By` header.
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
    /// A cordon (`DrainRequest::cordon`): routing stopped, workers handed off as they go idle,
    /// the master keeps running; holds until uncordoned (a cancel) or drained.
    Cordoned,
}

impl DrainPhase {
    /// The phase's wire name (`deadline_passed`): the one string form, in JSON and in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            DrainPhase::Draining => "draining",
            DrainPhase::Stopping => "stopping",
            DrainPhase::Drained => "drained",
            DrainPhase::DeadlinePassed => "deadline_passed",
            DrainPhase::Cancelled => "cancelled",
            DrainPhase::Failed => "failed",
            DrainPhase::Cordoned => "cordoned",
        }
    }

    /// The drain is still at work (draining, stopping its master, or holding a cordon: its
    /// workers are handed off as they go idle); every other phase is an end: nothing more
    /// changes without an operator.
    pub fn is_running(self) -> bool {
        matches!(
            self,
            DrainPhase::Draining | DrainPhase::Stopping | DrainPhase::Cordoned
        )
    }

    /// A drain being followed has come to rest: it ended, or it went back to the cordon it
    /// continued (a cancel of such a drain; the cordon holds on, but the drain is over).
    pub fn is_settled(self) -> bool {
        !matches!(self, DrainPhase::Draining | DrainPhase::Stopping)
    }

    /// The drain has ended (see [`DrainPhase::is_running`]).
    pub fn has_ended(self) -> bool {
        !self.is_running()
    }

    /// The drain still holds its master out of service (routing stopped, workers paused): while
    /// it runs, and after a deadline passed without force.
    pub fn holds_master(self) -> bool {
        self.is_running() || self == DrainPhase::DeadlinePassed
    }

    /// `DELETE /v1/drain` can still restore full service from this phase (from `cordoned`:
    /// the uncordon).
    pub fn is_cancellable(self) -> bool {
        matches!(
            self,
            DrainPhase::Draining
                | DrainPhase::DeadlinePassed
                | DrainPhase::Failed
                | DrainPhase::Cordoned
        )
    }
}

impl std::fmt::Display for DrainPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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

/// A build running on the draining master at the drain's last look.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrainBuild {
    pub buildid: i64,
    /// The build's number in its builder.
    pub number: Option<i64>,
    /// The worker it runs on.
    pub worker: Option<String>,
    /// When it started (Buildbot's `started_at`).
    pub started_at: Option<f64>,
}

/// A step of the drain that keeps failing (the load balancer refuses or does not answer,
/// Buildbot refuses a pause, ...). The agent retries it every tick; the drain cannot progress
/// until it succeeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrainFailure {
    /// The step's error, e.g. `load balancer: HAProxy has no server `workers/m2``.
    pub reason: String,
    /// When the step first failed (failures in a row; a success clears them).
    pub since: f64,
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
    /// The builds running here at the last look, oldest first.
    #[serde(default)]
    pub running_builds: Vec<DrainBuild>,
    /// The step that keeps failing, while it does (null once a tick succeeds again).
    #[serde(default)]
    pub failing: Option<DrainFailure>,
    /// When the cordon began, for a cordon and for a drain that continued one (cancelling that
    /// drain returns to the cordon); null otherwise.
    #[serde(default)]
    pub cordoned_at: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::DrainPhase;

    const ALL: [DrainPhase; 7] = [
        DrainPhase::Draining,
        DrainPhase::Stopping,
        DrainPhase::Drained,
        DrainPhase::DeadlinePassed,
        DrainPhase::Cancelled,
        DrainPhase::Failed,
        DrainPhase::Cordoned,
    ];

    #[test]
    fn the_table_name_is_the_wire_name() {
        for phase in ALL {
            let wire = serde_json::to_value(phase).unwrap();
            assert_eq!(wire, phase.as_str(), "{phase:?}");
            assert_eq!(phase.to_string(), phase.as_str());
        }
    }

    #[test]
    fn what_each_phase_means() {
        let running: Vec<_> = ALL.into_iter().filter(|p| p.is_running()).collect();
        assert_eq!(
            running,
            [
                DrainPhase::Draining,
                DrainPhase::Stopping,
                DrainPhase::Cordoned
            ]
        );
        assert!(DrainPhase::Cordoned.holds_master() && DrainPhase::Cordoned.is_cancellable());
        assert!(DrainPhase::Cordoned.is_settled() && !DrainPhase::Draining.is_settled());
        assert!(ALL.iter().all(|p| p.has_ended() != p.is_running()));
        assert!(
            DrainPhase::DeadlinePassed.holds_master() && DrainPhase::DeadlinePassed.has_ended()
        );
        assert!(!DrainPhase::Failed.holds_master() && DrainPhase::Failed.is_cancellable());
        assert!(!DrainPhase::Stopping.is_cancellable() && !DrainPhase::Drained.is_cancellable());
    }
}
