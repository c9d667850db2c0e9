//! `workers rebalance`: the balance before and after, the moves and what held workers back
//! (docs/cli.md, "JSON output").

use serde::{Deserialize, Serialize};

/// One master's share: workers attached, its target, or why it takes no part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BalanceRow {
    pub master: String,
    /// Workers attached (null: its agent did not answer).
    pub workers: Option<usize>,
    /// Its target (null: it takes no part).
    pub target: Option<usize>,
    /// Why it takes no part (not running, draining, cordoned, out of rotation, no answer).
    pub out: Option<String>,
}

/// One move: planned, or done and what came of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MoveRow {
    pub worker: String,
    pub from: String,
    /// Where the plan sends it.
    pub to: String,
    /// Where it attached (inventory name; a Buildbot name for a master outside it).
    pub landed: Option<String>,
    /// `planned` (dry run), `moved`, `busy`, `paused`, `attaching`, `not_seen_elsewhere` or
    /// `failed` (the agent refused or did not answer: see `message`).
    pub outcome: String,
    /// The worker sat on a master its pin does not allow.
    pub for_pin: bool,
    pub seconds: Option<f64>,
    pub message: Option<String>,
}

/// A worker that stays on a master above its target, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldRow {
    pub worker: String,
    pub master: String,
    pub why: String,
}

/// The whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RebalanceReport {
    pub dry_run: bool,
    pub before: Vec<BalanceRow>,
    pub moves: Vec<MoveRow>,
    /// Workers that still keep a master above its target at the end.
    pub held: Vec<HeldRow>,
    /// The balance at the end (the same as `before` for a dry run).
    pub after: Vec<BalanceRow>,
    /// Seconds from the first move to the last answer (0 for a dry run).
    pub seconds: f64,
}
