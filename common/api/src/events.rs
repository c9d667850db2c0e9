//! Events on the agent's server-sent-events stream (`GET /v1/events`).

use serde::{Deserialize, Serialize};

/// One event. On the SSE stream the `event:` field is `kind` and `data:` is this object as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Monotonic per agent process.
    pub seq: u64,
    /// Epoch seconds with fractions.
    pub at: f64,
    /// The agent that emitted it.
    pub agent: String,
    /// `agent.*` for the agent's own state changes (`agent.master_state`, `agent.drain`, …),
    /// `buildbot.*` for Buildbot MQ events (`buildbot.masters.started`, `buildbot.workers.connected`,
    /// `buildbot.builds.new`, `buildbot.builds.finished`, `buildbot.buildrequests.claimed`, …).
    pub kind: String,
    /// Where a Buildbot event came from: `wamp` or `polling`; `agent` for the agent's own.
    pub source: String,
    /// A one-line human summary.
    pub summary: String,
    /// The event's payload (Buildbot's message for MQ events).
    #[serde(default)]
    pub data: serde_json::Value,
}

/// `POST /v1/master/stop`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopRequest {
    /// `graceful` (default: SIGUSR1, let running builds finish) or `immediate` (SIGTERM).
    #[serde(default)]
    pub mode: StopMode,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopMode {
    #[default]
    Graceful,
    Immediate,
}

/// `POST /v1/master/create`, `reconfig` and other operations that take an optional reason
/// (`POST /v1/master/start` takes a [`crate::StartRequest`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperationRequest {
    #[serde(default)]
    pub reason: Option<String>,
}

/// The outcome of a lifecycle operation (start, stop, reconfig, activate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationResult {
    pub id: i64,
    pub kind: String,
    pub ok: bool,
    pub message: String,
    /// Relevant log lines (e.g. why a start failed).
    #[serde(default)]
    pub log_lines: Vec<String>,
    pub started_at: f64,
    pub finished_at: Option<f64>,
    /// A start only: what it did about the load balancer's routing once the master ran (null
    /// for other operations and for a failed start).
    #[serde(default)]
    pub routing: Option<crate::StartRouting>,
}

/// An entry of the audit log (`GET /v1/audit`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: f64,
    pub actor: Option<String>,
    pub action: String,
    pub detail: String,
}
