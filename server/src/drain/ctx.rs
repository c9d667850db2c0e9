//! The parties a drain acts on, handed to every step of the state machine (`super::engine`):
//! the outside world behind [`DrainEnv`], the load balancer behind its hook, and the agent's
//! name that marks the drain's own pauses.

use super::env::{DrainEnv, EnvError};
use super::model;
use crate::lb::{LbError, LoadBalancerHook};

/// The parties a drain acts on.
pub struct Ctx<'a> {
    pub env: &'a dyn DrainEnv,
    pub lb: &'a dyn LoadBalancerHook,
    /// The agent's name, for the pause reason.
    pub agent: &'a str,
}

impl Ctx<'_> {
    pub(super) fn pause_reason(&self) -> String {
        model::pause_reason(self.agent)
    }
}

/// A load-balancer failure, as a step that the drain retries on its next tick.
pub(super) fn lb_err(e: LbError) -> EnvError {
    EnvError(format!("load balancer: {e}"))
}
