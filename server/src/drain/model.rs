//! What a drain remembers: everything it changed in Buildbot and at the load balancer (so that a
//! cancel or a restarted agent can undo or continue it) and what it observed (for the summary).
//! Stored as JSON in `drains.state`; every field has a default so that older rows still load.

use std::collections::{BTreeMap, BTreeSet};

use bbctl_api::{DrainBuild, DrainFailure, DrainPhase, DrainRequest, DrainStatus, HandoffInfo};
use serde::{Deserialize, Serialize};

use super::stall::StepFailure;

/// The persisted progress of one drain.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DrainState {
    /// This master's Buildbot id.
    pub masterid: i64,
    /// `deadline_secs` turned into an epoch time at the start (or by a change, `PATCH`).
    pub deadline_at: Option<f64>,
    /// `force_after_deadline` as a change (`PATCH /v1/drain`) set it; none: the request's.
    pub force_after_deadline: Option<bool>,
    /// Who asked (the request's `requested_by`, else the `X-Bbctl-Requested-By` header).
    pub requested_by: Option<String>,
    /// The first observation has been made (`operator_paused` is known).
    pub initialized: bool,
    /// The load balancer no longer routes new worker connections here.
    pub routing_stopped: bool,
    /// Workers the operator had paused before the drain: never unpaused by it.
    pub operator_paused: BTreeSet<String>,
    /// Workers the drain paused and has not unpaused yet (name → workerid).
    pub paused_by_drain: BTreeMap<String, i64>,
    /// Every worker the drain dealt with.
    pub workers: BTreeMap<String, WorkerTrack>,
    /// Builds running on this master at the last observation (buildid → workerid).
    pub running: BTreeMap<i64, Option<i64>>,
    /// The same builds as operators see them (worker name, start time), for the status.
    pub running_builds: BTreeMap<i64, RunningBuild>,
    /// Builds whose worker's session the drain closed at the deadline (they come back RETRY).
    pub requeued: BTreeSet<i64>,
    pub builds_finished: i64,
    /// Workers attached to this master at the last observation.
    pub workers_attached: i64,
    /// A cancel was asked; a restarted agent finishes it instead of draining on.
    pub cancel_requested: bool,
    pub message: Option<String>,
    /// Times the master process was found dead (SIGKILL, crash) and restarted by the drain.
    pub crash_restarts: u32,
    /// A crash was seen and reported; the next tick restarts the master.
    pub restart_pending: bool,
    /// When the drain last restarted the master after a crash: `connected_to` rows of this
    /// master older than that are stale (Buildbot keeps them after an unclean stop).
    pub restarted_at: Option<f64>,
    /// The other masters still have to be prompted to claim the released build requests.
    pub nudge_due: bool,
    /// The step that failed on the last tick, and since when it fails (`super::stall`).
    pub failing: Option<StepFailure>,
    /// Since when this master has a build request claimed with no build yet (a build being
    /// started): idle workers are not handed off meanwhile (`super::handoff`).
    pub starting_since: Option<f64>,
    /// That wait was reported (once it lasted a second).
    pub starting_noted: bool,
    /// That wait outlasted `STARTING_WAIT_SECS` and was reported.
    pub starting_overdue: bool,
    /// When the cordon began: set for a cordon, and kept by a drain that continued one (its
    /// cancel returns to the cordon; `super::cordon`).
    pub cordoned_at: Option<f64>,
    /// The cordon's last look found no worker attached (that moment was reported).
    pub cordon_clear: bool,
    /// The reason of the drain that continued a cordon (the request's is the cordon's).
    pub drain_reason: Option<String>,
}

/// A build running on this master, as the status shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunningBuild {
    pub number: Option<i64>,
    pub worker: Option<String>,
    pub started_at: Option<f64>,
}

/// One worker's handoff.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerTrack {
    pub workerid: i64,
    /// The build it was running here, last seen.
    pub last_build: Option<i64>,
    /// When it became free to leave: the drain's start if idle, else its build's end.
    pub free_at: Option<f64>,
    /// When its session was closed, and the peer port of that session.
    pub closed_at: Option<f64>,
    pub closed_port: Option<u16>,
    /// The last attempt to close its session (a failed close is retried a little later).
    pub close_tried_at: Option<f64>,
    /// Closed at the deadline while busy (`force_after_deadline`).
    pub forced: bool,
    pub attached_elsewhere_at: Option<f64>,
    pub to_master: Option<String>,
}

/// The reason a drain gives Buildbot when it pauses a worker. It names the agent, so that a pause
/// this agent's drain made is recognised as such even when the drain's own record of it is lost
/// (`super::leftovers`).
pub fn pause_reason(agent: &str) -> String {
    format!("bbctl drain of {agent}")
}

/// The phase a `drains.phase` column holds (its wire name, `DrainPhase::as_str`).
pub fn parse_phase(text: &str) -> Option<DrainPhase> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).ok()
}

/// A drain as the runner holds it: the row's identity plus the decoded request and state.
#[derive(Debug, Clone, PartialEq)]
pub struct Drain {
    pub id: i64,
    pub phase: DrainPhase,
    pub request: DrainRequest,
    pub state: DrainState,
    pub started_at: f64,
    pub finished_at: Option<f64>,
}

impl Drain {
    /// Whether busy workers are handed off at the deadline: the request's setting unless a
    /// change set it.
    pub fn force_after_deadline(&self) -> bool {
        self.state
            .force_after_deadline
            .unwrap_or(self.request.force_after_deadline)
    }

    pub fn status(&self) -> DrainStatus {
        let s = &self.state;
        let mut handed: Vec<HandoffInfo> = s
            .workers
            .iter()
            .filter(|(_, t)| t.closed_at.is_some())
            .map(|(name, t)| HandoffInfo {
                worker: name.clone(),
                free_at: t.free_at.or(t.closed_at).unwrap_or(self.started_at),
                attached_elsewhere_at: t.attached_elsewhere_at,
                to_master: t.to_master.clone(),
            })
            .collect();
        handed.sort_by(|a, b| a.free_at.total_cmp(&b.free_at));
        let mut running_builds: Vec<DrainBuild> = s
            .running_builds
            .iter()
            .map(|(buildid, b)| DrainBuild {
                buildid: *buildid,
                number: b.number,
                worker: b.worker.clone(),
                started_at: b.started_at,
            })
            .collect();
        running_builds.sort_by(|a, b| {
            let at = |x: &DrainBuild| x.started_at.unwrap_or(f64::MAX);
            at(a).total_cmp(&at(b)).then(a.buildid.cmp(&b.buildid))
        });
        DrainStatus {
            id: self.id,
            phase: self.phase,
            started_at: self.started_at,
            finished_at: self.finished_at,
            deadline_at: s.deadline_at,
            force_after_deadline: self.force_after_deadline(),
            reason: s
                .drain_reason
                .clone()
                .or_else(|| self.request.reason.clone()),
            requested_by: s.requested_by.clone(),
            builds_running: s.running.len() as i64,
            builds_finished: s.builds_finished,
            builds_requeued: s.requeued.len() as i64,
            workers_attached: s.workers_attached,
            workers_handed_off: handed,
            message: s.message.clone(),
            running_builds,
            failing: s.failing.as_ref().map(|f| DrainFailure {
                reason: f.reason.clone(),
                since: f.since,
            }),
            cordoned_at: s.cordoned_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_round_trip_through_their_wire_names() {
        for p in [
            DrainPhase::Draining,
            DrainPhase::Stopping,
            DrainPhase::Drained,
            DrainPhase::DeadlinePassed,
            DrainPhase::Cancelled,
            DrainPhase::Failed,
            DrainPhase::Cordoned,
        ] {
            assert_eq!(parse_phase(p.as_str()), Some(p));
        }
        assert_eq!(
            parse_phase("deadline_passed"),
            Some(DrainPhase::DeadlinePassed)
        );
        assert_eq!(parse_phase("nope"), None);
    }

    #[test]
    fn an_old_state_without_new_fields_still_loads() {
        let s: DrainState = serde_json::from_str(r#"{"masterid": 3}"#).unwrap();
        assert_eq!(s.masterid, 3);
        assert!(s.workers.is_empty() && !s.routing_stopped);
    }
}
