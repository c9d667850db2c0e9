//! What `bbctl upgrade` produces: its plan (`--dry-run -o json`, the `plan` event) and its
//! journal — the document the upgrade keeps on the coordinator agent before and after every
//! step (`commands/upgrade/journal.rs` stores it), which `upgrade status -o json` and
//! `upgrade history -o json` print. Field names are a contract (docs/upgrade.md); enums are
//! written in their `snake_case` form everywhere, JSON and tables alike.

use std::collections::BTreeMap;

use bbctl_api::{ConfigFile, DrainStatus};
use serde::{Deserialize, Serialize};

use crate::time::now_secs as now;

mod canary;
mod migration;

pub use canary::{
    Canary, DEFAULT_ERROR_MARGIN, DEFAULT_WINDOW_SECS, GateDecision, GateSettings, GroupStats,
    Verdict,
};
pub use migration::{BackupRecord, Migration, SchemaChange, Window, WindowEstimate};

/// `--pause-timeout`'s default: long enough for an agent (or its host) to be restarted.
pub const DEFAULT_PAUSE_SECS: f64 = 900.0;

/// The plan (`upgrade --dry-run -o json` prints it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub strategy: StrategyName,
    pub old: Vec<String>,
    pub new: Vec<String>,
    pub batches: Vec<Vec<String>>,
    /// The fewest masters accepting builds at any moment of the upgrade.
    pub min_serving_during: usize,
    /// The Buildbot the new masters run (`--buildbot`, else the old masters'); `None` when the
    /// agents do not say (each uses its `master.buildbot`).
    pub buildbot: Option<String>,
    /// The DB schema change (`migrate`; any plan when the heads differ or are partly known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<SchemaChange>,
    /// `migrate`: the expected no-service window, a lower bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_estimate: Option<WindowEstimate>,
    /// `--canary N`: the new masters started first, judged by the gate before the others.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary: Option<Vec<String>>,
    /// Why the plan cannot run (empty when feasible).
    pub problems: Vec<String>,
}

impl Plan {
    pub fn feasible(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The journal document (JSON; field names are a contract: `upgrade status -o json` prints it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Journal {
    pub id: String,
    pub requested_by: String,
    pub reason: String,
    pub strategy: StrategyName,
    pub config_label: String,
    pub config_sha256: String,
    /// The bundle itself, so that a resume on another machine needs no local file.
    pub config_files: Vec<ConfigFile>,
    /// The Buildbot the new masters run, as their agents resolved `--buildbot` (or the old
    /// masters' one); `None`: each agent's `master.buildbot` (and journals from before
    /// `--buildbot` existed).
    #[serde(default)]
    pub buildbot: Option<String>,
    pub options: Options,
    /// Masters running the old configuration when the upgrade started.
    pub old: Vec<String>,
    /// Slots that run the new configuration at the end.
    pub new: Vec<String>,
    /// Rolling: the batches of `old`, in order.
    pub batches: Vec<Vec<String>>,
    /// The configuration each slot had before (for rollback).
    pub previous_sha256: BTreeMap<String, String>,
    /// The Buildbot each slot ran before the upgrade, so a rollback restores it too (a
    /// Buildbot-only upgrade keeps the configuration's sha256).
    #[serde(default)]
    pub previous_buildbot: BTreeMap<String, String>,
    /// The Buildbot master id of each old master when the upgrade started: an old master later
    /// removed from the inventory (its host lost) is judged by that row of Buildbot's `masters`.
    #[serde(default)]
    pub old_masterids: BTreeMap<String, i64>,
    pub steps: Vec<Step>,
    pub phase: Phase,
    pub started_at: f64,
    pub finished_at: Option<f64>,
    pub message: Option<String>,
    /// The last drain status of every drained master.
    #[serde(default)]
    pub drains: BTreeMap<String, DrainStatus>,
    /// Verification findings (empty when everything checked out).
    #[serde(default)]
    pub findings: Vec<String>,
    /// `migrate` only: the schema change, the backup, the point of no return, the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration: Option<Migration>,
    /// A canary upgrade only: the canaries, the gate and its decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<Canary>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrategyName {
    BlueGreen,
    Rolling,
    /// Across a DB schema change: every old master stopped, backup, `upgrade-master`, new
    /// masters started.
    Migrate,
}

impl StrategyName {
    /// The one string form (`blue_green`), as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            StrategyName::BlueGreen => "blue_green",
            StrategyName::Rolling => "rolling",
            StrategyName::Migrate => "migrate",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Options {
    pub deadline_secs: Option<f64>,
    pub force_after_deadline: bool,
    pub min_serving: usize,
    pub batch: usize,
    /// `--wait-schedulers`: verify waits (bounded) for Buildbot's poll to move the schedulers.
    #[serde(default)]
    pub wait_schedulers: bool,
    /// `--pause-timeout`: how long to wait for an agent that stopped answering mid-upgrade.
    #[serde(default = "default_pause_secs")]
    pub pause_secs: f64,
}

fn default_pause_secs() -> f64 {
    DEFAULT_PAUSE_SECS
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Running,
    Succeeded,
    Failed,
    RolledBack,
    Aborted,
    DeadlinePassed,
    /// A canary upgrade whose gate passed (or could not judge) without `--auto-promote`: the
    /// canaries and the old masters serve side by side until `bbctl upgrade promote` (or
    /// `abort`).
    AwaitingPromotion,
}

impl Phase {
    /// Whether nothing more will happen without a new command.
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            Phase::Running | Phase::Failed | Phase::DeadlinePassed | Phase::AwaitingPromotion
        )
    }

    /// The one string form (`rolled_back`), as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Running => "running",
            Phase::Succeeded => "succeeded",
            Phase::Failed => "failed",
            Phase::RolledBack => "rolled_back",
            Phase::Aborted => "aborted",
            Phase::DeadlinePassed => "deadline_passed",
            Phase::AwaitingPromotion => "awaiting_promotion",
        }
    }
}

/// One step of the upgrade; every step is idempotent (it looks before it acts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum StepKind {
    /// Stage, checkconfig, capacity and schema checks, lease (done before the journal exists).
    Preflight,
    /// Activate the new configuration on a slot, start its master and gate on its health.
    StartNew { master: String },
    /// Start the drains of these masters (all at once: the load balancer first for all).
    Drain { masters: Vec<String> },
    /// Follow the drains until every master drained.
    WaitDrained { masters: Vec<String> },
    /// `migrate`: graceful stop of every old master at once (they stop claiming builds).
    Quiesce { masters: Vec<String> },
    /// `migrate`: follow until every old master's process is gone.
    WaitStopped { masters: Vec<String> },
    /// `migrate`: back up the Buildbot DB (coordinator agent).
    Backup,
    /// `migrate`: `buildbot upgrade-master` once, with the new code (first new master's agent).
    Migrate,
    /// Canary: hand the canary masters their share of the workers (idle ones, one at a time).
    Canary { masters: Vec<String> },
    /// Canary: the gate — the canaries take builds beside the old masters for the window, then
    /// pass (promote, or wait for `bbctl upgrade promote`) or fail (roll back).
    Analysis { masters: Vec<String> },
    /// Canary: go on past the gate once promoted (automatically or by the operator).
    Promote,
    /// Old masters stopped, workers on new masters, no request claimed by a stopped master.
    Verify,
}

impl StepKind {
    /// The step's name, as the journal's `step` field says it (`start_new`).
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::Preflight => "preflight",
            StepKind::StartNew { .. } => "start_new",
            StepKind::Drain { .. } => "drain",
            StepKind::WaitDrained { .. } => "wait_drained",
            StepKind::Quiesce { .. } => "quiesce",
            StepKind::WaitStopped { .. } => "wait_stopped",
            StepKind::Backup => "backup",
            StepKind::Migrate => "migrate",
            StepKind::Canary { .. } => "canary",
            StepKind::Analysis { .. } => "analysis",
            StepKind::Promote => "promote",
            StepKind::Verify => "verify",
        }
    }

    /// The step with its masters, for people and the events' `step` (`start_new master-4`).
    pub fn label(&self) -> String {
        match self {
            StepKind::Preflight
            | StepKind::Verify
            | StepKind::Backup
            | StepKind::Migrate
            | StepKind::Promote => self.name().into(),
            StepKind::StartNew { master } => format!("{} {master}", self.name()),
            StepKind::Drain { masters }
            | StepKind::WaitDrained { masters }
            | StepKind::Quiesce { masters }
            | StepKind::WaitStopped { masters }
            | StepKind::Canary { masters }
            | StepKind::Analysis { masters } => {
                format!("{} {}", self.name(), masters.join(","))
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    Pending,
    Running,
    Done,
    Failed,
}

impl StepState {
    /// The one string form, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Pending => "pending",
            StepState::Running => "running",
            StepState::Done => "done",
            StepState::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    #[serde(flatten)]
    pub kind: StepKind,
    pub state: StepState,
    pub started_at: Option<f64>,
    pub finished_at: Option<f64>,
    pub message: Option<String>,
}

impl Step {
    pub fn pending(kind: StepKind) -> Step {
        Step {
            kind,
            state: StepState::Pending,
            started_at: None,
            finished_at: None,
            message: None,
        }
    }
}

impl Journal {
    /// The index of the first step not done, if any.
    pub fn next_step(&self) -> Option<usize> {
        self.steps.iter().position(|s| s.state != StepState::Done)
    }

    pub fn mark(&mut self, i: usize, state: StepState, message: Option<String>) {
        let step = &mut self.steps[i];
        match state {
            StepState::Running => step.started_at = Some(now()),
            StepState::Done | StepState::Failed => step.finished_at = Some(now()),
            StepState::Pending => {}
        }
        step.state = state;
        if message.is_some() {
            step.message = message;
        }
    }

    /// Ends the upgrade in `phase`.
    pub fn finish(&mut self, phase: Phase, message: Option<String>) {
        self.phase = phase;
        self.finished_at = Some(now());
        self.message = message;
    }
}

#[cfg(test)]
mod tests;
