//! Whether the load balancer routes new worker connections to this master, and putting it back
//! in rotation. A drain leaves a drained master out of rotation on purpose (docs/drain.md); when
//! the slot's master is started again — the rolling upgrade's "switch config, start, gate", or a
//! rollback restarting an old master — something must route workers to it again. That is
//! [`Drains::resume_routing`]. It refuses while a drain holds the master (cancel the drain
//! instead) or while no master runs here (it would route workers to a closed port).

use super::{Drains, RoutingError};
use crate::db::audit;
use crate::lb::Routing;
use crate::master::process;

/// The hook and what it says about routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoutingView {
    /// The hook's kind: `none`, `haproxy` or `relay`.
    pub hook: &'static str,
    pub routing: Routing,
}

/// What [`Drains::resume_routing`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoutingChange {
    pub hook: &'static str,
    pub before: Routing,
    pub after: Routing,
}

impl Drains {
    pub async fn routing(&self) -> Result<RoutingView, RoutingError> {
        let lb = self.lb();
        Ok(RoutingView {
            hook: lb.kind(),
            routing: lb.routing_state().await?,
        })
    }

    /// Routes new worker connections to this master again; audited with `actor`.
    pub async fn resume_routing(
        &self,
        actor: Option<String>,
    ) -> Result<RoutingChange, RoutingError> {
        if self.holds_master() {
            return Err(RoutingError::DrainHoldsMaster);
        }
        if process::running_pid(&self.inner.this.basedir).is_none() {
            return Err(RoutingError::MasterNotRunning);
        }
        let lb = self.lb();
        let before = lb.routing_state().await?;
        lb.resume_routing().await?;
        let after = lb.routing_state().await?;
        let note = format!(
            "load balancer ({}): routing {before:?} -> {after:?}",
            lb.kind()
        );
        self.inner
            .db
            .run(move |c| audit::append(c, actor.as_deref(), "routing_resume", &note))
            .await?;
        Ok(RoutingChange {
            hook: lb.kind(),
            before,
            after,
        })
    }
}
