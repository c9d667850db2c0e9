//! Whether the load balancer routes new worker connections to this master, and putting it back
//! in rotation. A drain leaves a drained master out of rotation on purpose (docs/drain.md) and
//! records that it did (`routing_stopped` of its state). When the master is started again, that
//! record says what to do (issue 12: `bbctl start` used to leave a drained master in MAINT, so
//! no worker ever came back):
//!
//! * [`Drains::start_master`] starts the master and, once it runs, puts it back in rotation if
//!   the newest drain finished (`drained`) with routing stopped — unless the start was asked to
//!   keep it out. Out of rotation for any other reason (an operator set MAINT, a drain that has
//!   not finished holds it), it is left as it is, and the answer says so. The rule is
//!   [`decide`].
//! * [`Drains::resume_routing`] puts it back explicitly (`bbctl routing resume`, the upgrade's
//!   rolling and rollback steps). It refuses while a drain holds the master (cancel the drain
//!   instead) or while no master runs here (it would route workers to a closed port).
//!
//! Both clear the drained drain's record once routing is back, so that a MAINT set later by
//! hand is never mistaken for the drain's.

use bbctl_api::{
    DrainPhase, OperationResult, RoutingAction, RoutingInfo, RoutingResume, RoutingState,
    StartRouting,
};

use super::model::Drain;
use super::{Drains, RoutingError};
use crate::db::audit;
use crate::lb::{LoadBalancerHook, Routing};
use crate::master::lifecycle::LifecycleError;
use crate::master::operation::Requester;
use crate::master::process;

/// What the newest drain says about routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainClaim {
    /// No drain took the master out of rotation (none ran, it was cancelled, or routing was
    /// given back since).
    None,
    /// A drain that finished (`drained`) took it out and nothing gave it back yet.
    Finished,
    /// A drain that has not finished (or failed holding it) keeps it out: its cancel undoes it.
    Holds(DrainPhase),
}

impl DrainClaim {
    fn of(drain: Option<&Drain>) -> Self {
        match drain {
            Some(d) if d.phase.holds_master() => DrainClaim::Holds(d.phase),
            Some(d) if d.state.routing_stopped && d.phase == DrainPhase::Drained => {
                DrainClaim::Finished
            }
            Some(d) if d.state.routing_stopped && d.phase != DrainPhase::Cancelled => {
                DrainClaim::Holds(d.phase)
            }
            _ => DrainClaim::None,
        }
    }
}

/// What a start does about routing once the master runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Put the master back in rotation.
    Resume,
    /// Nothing to do at the load balancer; this is the answer.
    Leave(StartRouting),
}

/// The rule of a start (see the module doc): `hook` is the hook's kind, `claim` the newest
/// drain's, `now` the routing state as the load balancer reports it (or why it could not).
pub fn decide(
    hook: &str,
    claim: DrainClaim,
    now: &Result<Routing, String>,
    keep_out: bool,
) -> Decision {
    let leave = |action, state: RoutingState, message: String| {
        Decision::Leave(StartRouting {
            hook: hook.to_owned(),
            action,
            before: state,
            after: state,
            message,
        })
    };
    let state = match now {
        Err(why) => {
            return leave(
                RoutingAction::Failed,
                RoutingState::Unknown,
                format!("cannot ask the load balancer, routing left as it was: {why}"),
            );
        }
        Ok(Routing::Unmanaged) => {
            return leave(
                RoutingAction::Unmanaged,
                RoutingState::Unmanaged,
                "no load-balancer hook is configured: routing is not managed by the agent".into(),
            );
        }
        Ok(Routing::Ready) => {
            return leave(
                RoutingAction::InRotation,
                RoutingState::Ready,
                format!("in rotation: the load balancer ({hook}) routes workers here"),
            );
        }
        Ok(r @ (Routing::Maint | Routing::Drain)) => RoutingState::from(*r),
    };
    match claim {
        DrainClaim::Finished if keep_out => leave(
            RoutingAction::KeptOut,
            state,
            format!(
                "kept out of rotation as asked: the load balancer ({hook}) still has it in {}, \
                 where the drain left it",
                state.as_str()
            ),
        ),
        DrainClaim::Finished => Decision::Resume,
        DrainClaim::Holds(phase) => leave(
            RoutingAction::HeldByDrain,
            state,
            format!(
                "left out of rotation: the drain ({phase}) holds it in {}; cancelling the drain \
                 puts it back",
                state.as_str()
            ),
        ),
        DrainClaim::None => leave(
            RoutingAction::LeftOut,
            state,
            format!(
                "left out of rotation: the load balancer ({hook}) has it in {}, which no drain of \
                 this agent set (an operator did?)",
                state.as_str()
            ),
        ),
    }
}

impl Drains {
    /// `GET /v1/routing`: the hook and the routing state, `unknown` with the reason when the
    /// load balancer cannot be asked.
    pub async fn routing(&self) -> RoutingInfo {
        let lb = self.lb();
        match lb.routing_state().await {
            Ok(r) => RoutingInfo {
                hook: lb.kind().into(),
                routing: r.into(),
                reason: None,
            },
            Err(e) => RoutingInfo {
                hook: lb.kind().into(),
                routing: RoutingState::Unknown,
                reason: Some(e.to_string()),
            },
        }
    }

    /// Routes new worker connections to this master again; audited with `actor`.
    pub async fn resume_routing(
        &self,
        actor: Option<String>,
    ) -> Result<RoutingResume, RoutingError> {
        let mut slot = self.inner.current.lock().await;
        // A drain that cannot be loaded holds nothing we know of: the checks below still apply.
        if let Err(e) = self.load(&mut slot).await {
            tracing::warn!(error = %e, "cannot load the last drain");
        }
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
        self.forget_routing_stopped(slot.as_mut()).await;
        Ok(RoutingResume {
            hook: lb.kind().into(),
            before: before.into(),
            routing: after.into(),
        })
    }

    /// `POST /v1/master/start`: starts the master (`crate::master::lifecycle`) and, once it
    /// runs, does what [`decide`] says about routing; the answer's `routing` tells what. Runs to
    /// the end in a task of its own, so a client that hangs up cannot leave a started master out
    /// of rotation.
    pub async fn start_master(
        &self,
        who: Requester,
        keep_out: bool,
    ) -> Result<OperationResult, LifecycleError> {
        let this = self.clone();
        let task = tokio::spawn(async move { this.start_master_now(who, keep_out).await });
        match task.await {
            Ok(result) => result,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    async fn start_master_now(
        &self,
        who: Requester,
        keep_out: bool,
    ) -> Result<OperationResult, LifecycleError> {
        let actor = who.actor.clone();
        let mut result = self.inner.lifecycle.start(who).await?;
        if !result.ok || process::running_pid(&self.inner.this.basedir).is_none() {
            return Ok(result);
        }
        let mut slot = self.inner.current.lock().await;
        if let Err(e) = self.load(&mut slot).await {
            tracing::warn!(error = %e, "cannot load the last drain");
        }
        let lb = self.lb();
        let now = lb.routing_state().await.map_err(|e| e.to_string());
        let routing = match decide(lb.kind(), DrainClaim::of(slot.as_ref()), &now, keep_out) {
            Decision::Leave(routing) => {
                if routing.action == RoutingAction::InRotation {
                    // Given back by hand since the drain: its record is stale.
                    self.forget_routing_stopped(slot.as_mut()).await;
                }
                routing
            }
            Decision::Resume => {
                let before = now.map_or(RoutingState::Unknown, RoutingState::from);
                let routing = resume_after_start(lb.as_ref(), before).await;
                if routing.action == RoutingAction::Resumed {
                    self.forget_routing_stopped(slot.as_mut()).await;
                }
                routing
            }
        };
        drop(slot);
        self.announce_start_routing(actor, &routing).await;
        result.routing = Some(routing);
        Ok(result)
    }

    /// Once routing is back, the drained drain no longer holds it out of rotation: saved, so
    /// that a later MAINT set by hand is not taken for the drain's.
    async fn forget_routing_stopped(&self, drain: Option<&mut Drain>) {
        let Some(d) = drain else { return };
        if !d.state.routing_stopped || d.phase.holds_master() {
            return;
        }
        d.state.routing_stopped = false;
        if let Err(e) = self.save(d, Vec::new()).await {
            tracing::error!(drain = d.id, error = %e, "cannot record that routing is back");
        }
    }

    /// The start's routing outcome in the audit log and the event stream.
    async fn announce_start_routing(&self, actor: Option<String>, routing: &StartRouting) {
        let note = format!(
            "after start: {} ({}: {} -> {})",
            routing.message,
            routing.action.as_str(),
            routing.before.as_str(),
            routing.after.as_str()
        );
        tracing::info!(action = routing.action.as_str(), "{note}");
        let audited = note.clone();
        if let Err(e) = self
            .inner
            .db
            .run(move |c| audit::append(c, actor.as_deref(), "routing_after_start", &audited))
            .await
        {
            tracing::error!(error = %e, "cannot audit the routing after a start");
        }
        self.inner.hub.publish_agent(
            "agent.routing",
            note,
            serde_json::to_value(routing).unwrap_or_default(),
        );
    }
}

/// Puts the master back in rotation after a start; a load balancer that refuses leaves the
/// start successful and the answer saying why routing is not back.
async fn resume_after_start(lb: &dyn LoadBalancerHook, before: RoutingState) -> StartRouting {
    let hook = lb.kind();
    let outcome = async {
        lb.resume_routing().await?;
        lb.routing_state().await
    }
    .await;
    match outcome {
        Ok(after) => StartRouting {
            hook: hook.into(),
            action: RoutingAction::Resumed,
            before,
            after: after.into(),
            message: format!(
                "back in rotation: the load balancer ({hook}) routes workers here again (the \
                 drain had taken it out)"
            ),
        },
        Err(e) => StartRouting {
            hook: hook.into(),
            action: RoutingAction::Failed,
            before,
            after: before,
            message: format!("could not put it back in rotation: {e}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leave(d: Decision) -> StartRouting {
        match d {
            Decision::Leave(r) => r,
            Decision::Resume => panic!("expected to leave routing alone"),
        }
    }

    #[test]
    fn a_finished_drain_is_undone_by_a_start() {
        let maint = Ok(Routing::Maint);
        assert_eq!(
            decide("haproxy", DrainClaim::Finished, &maint, false),
            Decision::Resume
        );
    }

    #[test]
    fn keep_out_leaves_a_drained_master_out_of_rotation() {
        let r = leave(decide(
            "haproxy",
            DrainClaim::Finished,
            &Ok(Routing::Maint),
            true,
        ));
        assert_eq!(r.action, RoutingAction::KeptOut);
        assert_eq!(
            (r.before, r.after),
            (RoutingState::Maint, RoutingState::Maint)
        );
    }

    #[test]
    fn maint_set_by_someone_else_is_left_alone() {
        for routing in [Routing::Maint, Routing::Drain] {
            for keep_out in [false, true] {
                let r = leave(decide("haproxy", DrainClaim::None, &Ok(routing), keep_out));
                assert_eq!(r.action, RoutingAction::LeftOut);
                assert!(
                    r.message.contains("no drain of this agent"),
                    "{}",
                    r.message
                );
            }
        }
        let held = leave(decide(
            "haproxy",
            DrainClaim::Holds(DrainPhase::Failed),
            &Ok(Routing::Maint),
            false,
        ));
        assert_eq!(held.action, RoutingAction::HeldByDrain);
        assert!(
            held.message.contains("cancelling the drain"),
            "{}",
            held.message
        );
    }

    #[test]
    fn nothing_to_do_when_ready_unmanaged_or_unknown() {
        let ready = leave(decide(
            "haproxy",
            DrainClaim::Finished,
            &Ok(Routing::Ready),
            false,
        ));
        assert_eq!(ready.action, RoutingAction::InRotation);
        let none = leave(decide(
            "none",
            DrainClaim::None,
            &Ok(Routing::Unmanaged),
            false,
        ));
        assert_eq!(none.action, RoutingAction::Unmanaged);
        assert_eq!(none.after, RoutingState::Unmanaged);
        let unknown = leave(decide(
            "haproxy",
            DrainClaim::Finished,
            &Err("HAProxy runtime API at /x: connection refused".into()),
            false,
        ));
        assert_eq!(unknown.action, RoutingAction::Failed);
        assert_eq!(unknown.before, RoutingState::Unknown);
        assert!(unknown.message.contains("connection refused"));
    }

    fn drain(phase: DrainPhase, routing_stopped: bool) -> Drain {
        Drain {
            id: 1,
            phase,
            request: serde_json::from_str("{}").unwrap(),
            state: super::super::model::DrainState {
                routing_stopped,
                ..Default::default()
            },
            started_at: 1.0,
            finished_at: None,
        }
    }

    #[test]
    fn the_claim_comes_from_the_newest_drain() {
        assert_eq!(DrainClaim::of(None), DrainClaim::None);
        assert_eq!(
            DrainClaim::of(Some(&drain(DrainPhase::Drained, true))),
            DrainClaim::Finished
        );
        // Routing given back since: nothing claimed.
        assert_eq!(
            DrainClaim::of(Some(&drain(DrainPhase::Drained, false))),
            DrainClaim::None
        );
        assert_eq!(
            DrainClaim::of(Some(&drain(DrainPhase::Cancelled, false))),
            DrainClaim::None
        );
        assert_eq!(
            DrainClaim::of(Some(&drain(DrainPhase::Draining, true))),
            DrainClaim::Holds(DrainPhase::Draining)
        );
        assert_eq!(
            DrainClaim::of(Some(&drain(DrainPhase::Failed, true))),
            DrainClaim::Holds(DrainPhase::Failed)
        );
    }
}
