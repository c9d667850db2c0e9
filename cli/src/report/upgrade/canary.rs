//! The part of the plan and the journal a canary upgrade (`--canary N`) adds: which new masters
//! are the canaries, the gate's settings, when its window began, its decision with the numbers
//! behind it, and who promoted. Field names are a contract (docs/upgrade.md).

use serde::{Deserialize, Serialize};

/// `--analysis-window`'s default.
pub const DEFAULT_WINDOW_SECS: f64 = 600.0;
/// `--gate-error-margin`'s default.
pub const DEFAULT_ERROR_MARGIN: f64 = 0.05;

/// The journal's `canary` block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Canary {
    /// The new masters started first, before the gate: the first `--canary N` new slots.
    pub masters: Vec<String>,
    pub gate: GateSettings,
    /// When the canary masters began to take builds (the first one's start): builds and log
    /// lines from then on are the evidence.
    #[serde(default)]
    pub evidence_since: Option<f64>,
    /// When the window began: the workers handed to the canaries.
    #[serde(default)]
    pub window_started_at: Option<f64>,
    #[serde(default)]
    pub decision: Option<GateDecision>,
    /// Who promoted (`user@host`), when the gate did not promote by itself.
    #[serde(default)]
    pub promoted_by: Option<String>,
    #[serde(default)]
    pub promoted_at: Option<f64>,
}

/// The gate's thresholds (flags of `bbctl upgrade`, with their defaults in docs/upgrade.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateSettings {
    /// `--analysis-window`: how long the canaries take builds before the gate decides.
    pub window_secs: f64,
    /// `--analysis-builds`: decide as soon as the canaries finished this many builds.
    pub builds: Option<u32>,
    /// `--auto-promote`: a passed gate continues without `bbctl upgrade promote`.
    pub auto_promote: bool,
    /// `--gate-error-margin`: how much higher than the old masters' the canaries' rate of
    /// EXCEPTION and RETRY results may be.
    pub error_margin: f64,
    /// `--gate-tracebacks`: tracebacks a canary master may log beyond the old masters' mean.
    pub tracebacks: u32,
    /// `--gate-count-failures`: FAILURE results count as errors too (by default they do not:
    /// a failing test is not the master's fault).
    pub count_failures: bool,
}

/// What the gate decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// No signal against the canaries.
    Pass,
    /// A signal against them: the upgrade rolls back.
    Fail,
    /// The canaries finished no build in the window: nothing to judge by; never promoted
    /// without `bbctl upgrade promote`.
    Inconclusive,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// The gate's decision and its numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateDecision {
    pub verdict: Verdict,
    /// When it was decided.
    pub decided_at: f64,
    /// Seconds from the window's start to the decision.
    pub after_secs: f64,
    /// Why the window ended: `window` (it passed), `builds` (`--analysis-builds` reached) or
    /// `signal` (a signal that fails the gate at once: reconfig partially applied, WAMP lost).
    pub ended_by: String,
    /// One sentence per reason the gate failed (empty when it passed).
    pub reasons: Vec<String>,
    pub canary: GroupStats,
    pub old: GroupStats,
    /// Lines from the canary masters' logs that say what happened (exception lines of
    /// tracebacks, …), at most 20.
    pub evidence: Vec<String>,
}

/// The builds and log signals of one group of masters (canary or old) since the evidence began.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupStats {
    pub masters: Vec<String>,
    /// Builds started and finished.
    pub finished: u32,
    /// Of those: results 4 (EXCEPTION), 5 (RETRY), 2 (FAILURE).
    pub exception: u32,
    pub retry: u32,
    pub failure: u32,
    /// (exception + retry [+ failure with `--gate-count-failures`]) / finished; null with no
    /// finished build.
    pub error_rate: Option<f64>,
    /// Builds still running.
    pub running: u32,
    /// Of those, builds that ran more than twice as long as the longest finished build of the
    /// same builder (and at least a minute): builds that may never finish.
    pub stuck: u32,
    pub tracebacks: u32,
    pub reconfig_partial: u32,
    pub wamp_lost: u32,
    /// Masters whose log could not be read or whose agent did not answer.
    pub unread: Vec<String>,
}
