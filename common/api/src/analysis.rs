//! What a master did since a moment (`GET /v1/master/analysis?since=T`; issue 16): the builds it
//! started and the signs of trouble its log shows. A canary upgrade's gate reads it from the
//! canary masters and from the old ones, and compares.

use serde::{Deserialize, Serialize};

/// `GET /v1/master/analysis` query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisQuery {
    /// Unix seconds: builds started at or after it, log lines stamped at or after it.
    pub since: f64,
}

/// The answer of `GET /v1/master/analysis`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MasterAnalysis {
    /// The query's `since`.
    pub since: f64,
    /// When the agent looked (its clock).
    pub at: f64,
    /// This master's Buildbot id (null while it has none: not running yet).
    pub masterid: Option<i64>,
    /// Every build this master started at or after `since` (Buildbot's `/builds?masterid=…`),
    /// oldest first.
    pub builds: Vec<AnalysisBuild>,
    /// What the master's `twistd.log` says since `since`.
    pub log: LogSignals,
}

/// One build, as Buildbot has it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisBuild {
    pub buildid: i64,
    pub builderid: i64,
    /// The builder's name (null when Buildbot did not say).
    pub builder: Option<String>,
    pub number: Option<i64>,
    /// Buildbot's results code once complete: 0 success, 1 warnings, 2 failure, 3 skipped,
    /// 4 exception, 5 retry, 6 cancelled.
    pub results: Option<i64>,
    pub complete: bool,
    pub started_at: Option<i64>,
    pub complete_at: Option<i64>,
}

/// Signs of trouble in the master's log since `since`, counted by kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogSignals {
    /// Whether the log could be read (false: the counts are zero for want of a log, not for
    /// want of trouble).
    pub readable: bool,
    /// Python tracebacks (`Traceback (most recent call last):`).
    pub tracebacks: u32,
    /// `configuration update partially applied` (a reconfig that failed half-way).
    pub reconfig_partial: u32,
    /// The master lost its WAMP router (`disconnected from wamp server`), or could not publish
    /// to it (`while publishing event`).
    pub wamp_lost: u32,
    /// Up to 20 lines that say what happened, in log order: for a traceback, its exception line.
    pub evidence: Vec<String>,
}
