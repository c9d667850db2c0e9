//! Load-balancer routing of one master: whether new worker connections reach it (`GET
//! /v1/routing`, `POST /v1/routing/resume`, the `routing` field of `GET /v1/master`) and what a
//! start did about it (`POST /v1/master/start`, whose body is [`StartRequest`]).

use serde::{Deserialize, Serialize};

/// Whether the load balancer sends new worker connections to a master.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoutingState {
    /// New worker connections are routed here.
    Ready,
    /// Out of rotation: no new worker connection reaches this master (HAProxy `MAINT`, or the
    /// relay's listener closed).
    Maint,
    /// HAProxy's `DRAIN` admin state (set by an operator, never by bbctl): only persistent
    /// connections are routed here.
    Drain,
    /// No load-balancer hook is configured (`[load_balancer] kind = "none"`): bbctl does not
    /// know or manage routing.
    Unmanaged,
    /// The load balancer could not be asked; the reason says why.
    Unknown,
}

impl RoutingState {
    /// The wire (and table) form.
    pub fn as_str(self) -> &'static str {
        match self {
            RoutingState::Ready => "ready",
            RoutingState::Maint => "maint",
            RoutingState::Drain => "drain",
            RoutingState::Unmanaged => "unmanaged",
            RoutingState::Unknown => "unknown",
        }
    }
}

/// `GET /v1/routing`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingInfo {
    /// The hook's kind: `none`, `haproxy` or `relay`.
    pub hook: String,
    pub routing: RoutingState,
    /// Why `routing` is `unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /v1/routing/resume`: the routing state before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingResume {
    pub hook: String,
    pub before: RoutingState,
    /// The state after the call (`ready`).
    pub routing: RoutingState,
}

/// `POST /v1/master/start`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    #[serde(default)]
    pub reason: Option<String>,
    /// Leave a master that a finished drain took out of rotation out of it (by default a start
    /// puts it back once the master runs).
    #[serde(default)]
    pub keep_out_of_rotation: bool,
}

/// What a start did about the load balancer's routing once the master ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoutingAction {
    /// A finished drain had taken the master out of rotation: it is back in rotation.
    Resumed,
    /// A finished drain had taken the master out of rotation and the start was asked to keep it
    /// out (`keep_out_of_rotation`).
    KeptOut,
    /// Out of rotation, but not by a drain of this agent (an operator set it): left as it is.
    LeftOut,
    /// Out of rotation because of a drain that did not finish (it failed): left as it is;
    /// cancelling that drain puts the master back.
    HeldByDrain,
    /// Already in rotation: nothing to do.
    InRotation,
    /// No load-balancer hook is configured.
    Unmanaged,
    /// The load balancer could not be asked or refused: routing is as it was.
    Failed,
}

impl RoutingAction {
    /// The wire (and table) form.
    pub fn as_str(self) -> &'static str {
        match self {
            RoutingAction::Resumed => "resumed",
            RoutingAction::KeptOut => "kept_out",
            RoutingAction::LeftOut => "left_out",
            RoutingAction::HeldByDrain => "held_by_drain",
            RoutingAction::InRotation => "in_rotation",
            RoutingAction::Unmanaged => "unmanaged",
            RoutingAction::Failed => "failed",
        }
    }
}

/// The `routing` of a start's [`crate::OperationResult`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartRouting {
    /// The hook's kind: `none`, `haproxy` or `relay`.
    pub hook: String,
    pub action: RoutingAction,
    pub before: RoutingState,
    pub after: RoutingState,
    /// One sentence for operators: what was done and, when the master stays out of rotation,
    /// how to put it back.
    pub message: String,
}
