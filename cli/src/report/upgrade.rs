//! What `bbctl upgrade` produces: its plan (`--dry-run -o json`, the `plan` event) and its
//! journal — the document the upgrade keeps on the coordinator agent before and after every
//! step (`commands/upgrade/journal.rs` stores it), which `upgrade status -o json` and
//! `upgrade history -o json` print. Field names are a contract (docs/upgrade.md); enums are
//! written in their `snake_case` form everywhere, JSON and tables alike.

use std::collections::BTreeMap;

use bbctl_api::{ConfigFile, DrainStatus};
use serde::{Deserialize, Serialize};

use crate::time::now_secs as now;

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrategyName {
    BlueGreen,
    Rolling,
}

impl StrategyName {
    /// The one string form (`blue_green`), as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            StrategyName::BlueGreen => "blue_green",
            StrategyName::Rolling => "rolling",
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
}

impl Phase {
    /// Whether nothing more will happen without a new command.
    pub fn is_final(self) -> bool {
        !matches!(self, Phase::Running | Phase::Failed | Phase::DeadlinePassed)
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
            StepKind::Verify => "verify",
        }
    }

    /// The step with its masters, for people and the events' `step` (`start_new master-4`).
    pub fn label(&self) -> String {
        match self {
            StepKind::Preflight | StepKind::Verify => self.name().into(),
            StepKind::StartNew { master } => format!("{} {master}", self.name()),
            StepKind::Drain { masters } | StepKind::WaitDrained { masters } => {
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
mod tests {
    use super::*;

    fn journal(steps: Vec<StepKind>) -> Journal {
        Journal {
            id: "up-1".into(),
            requested_by: "me@host".into(),
            reason: "test".into(),
            strategy: StrategyName::BlueGreen,
            config_label: "v2".into(),
            config_sha256: "abc".into(),
            config_files: vec![],
            buildbot: Some("/venv/bin/buildbot".into()),
            options: Options {
                deadline_secs: None,
                force_after_deadline: false,
                min_serving: 1,
                batch: 1,
                wait_schedulers: false,
                pause_secs: 60.0,
            },
            old: vec!["m1".into()],
            new: vec!["m2".into()],
            batches: vec![],
            previous_sha256: BTreeMap::new(),
            previous_buildbot: BTreeMap::new(),
            steps: steps.into_iter().map(Step::pending).collect(),
            phase: Phase::Running,
            started_at: 1.0,
            finished_at: None,
            message: None,
            drains: BTreeMap::new(),
            findings: vec![],
        }
    }

    #[test]
    fn resume_starts_at_the_first_step_not_done_even_if_it_was_running() {
        let mut j = journal(vec![
            StepKind::Preflight,
            StepKind::StartNew {
                master: "m2".into(),
            },
            StepKind::Verify,
        ]);
        j.mark(0, StepState::Done, None);
        j.mark(1, StepState::Running, None);
        assert_eq!(j.next_step(), Some(1), "a step killed mid-run is run again");
        j.mark(1, StepState::Done, Some("ok".into()));
        j.mark(2, StepState::Done, None);
        assert_eq!(j.next_step(), None);
    }

    #[test]
    fn journal_round_trips_through_json_with_tagged_steps() {
        let j = journal(vec![StepKind::Drain {
            masters: vec!["m1".into()],
        }]);
        let value = serde_json::to_value(&j).unwrap();
        assert_eq!(value["steps"][0]["step"], "drain");
        assert_eq!(value["steps"][0]["state"], "pending");
        assert_eq!(value["strategy"], "blue_green");
        let back: Journal = serde_json::from_value(value).unwrap();
        assert_eq!(back, j);
        assert!(!Phase::Running.is_final() && Phase::RolledBack.is_final());
    }

    #[test]
    fn a_journal_from_before_buildbot_reads_as_the_agents_default() {
        let mut value = serde_json::to_value(journal(vec![])).unwrap();
        value.as_object_mut().unwrap().remove("buildbot");
        let back: Journal = serde_json::from_value(value).unwrap();
        assert_eq!(back.buildbot, None);
    }

    /// One string form per enum: what tables and step labels print is what JSON says.
    #[test]
    fn every_enum_is_written_as_in_json() {
        let wire = |v: serde_json::Value| v.as_str().unwrap().to_string();
        for s in [StrategyName::BlueGreen, StrategyName::Rolling] {
            assert_eq!(wire(serde_json::to_value(s).unwrap()), s.as_str());
        }
        for p in [
            Phase::Running,
            Phase::Succeeded,
            Phase::Failed,
            Phase::RolledBack,
            Phase::Aborted,
            Phase::DeadlinePassed,
        ] {
            assert_eq!(wire(serde_json::to_value(p).unwrap()), p.as_str());
        }
        for s in [
            StepState::Pending,
            StepState::Running,
            StepState::Done,
            StepState::Failed,
        ] {
            assert_eq!(wire(serde_json::to_value(s).unwrap()), s.as_str());
        }
        let m = || vec!["m1".to_string()];
        for kind in [
            StepKind::Preflight,
            StepKind::StartNew {
                master: "m1".into(),
            },
            StepKind::Drain { masters: m() },
            StepKind::WaitDrained { masters: m() },
            StepKind::Verify,
        ] {
            let step = serde_json::to_value(Step::pending(kind.clone())).unwrap();
            assert_eq!(wire(step["step"].clone()), kind.name());
            assert!(kind.label().starts_with(kind.name()), "{}", kind.label());
        }
    }
}
