//! Blue-green (standby slots): the new configuration starts on the idle slots first — each one
//! gated on its health — then every old master is drained at once (the load balancer stops
//! routing to all of them before any worker is handed off), and the drains are followed to
//! their end. What is blue-green's own: the order, and letting the load balancer see the new
//! masters up before the old ones are drained.

use std::time::Duration;

use crate::commands::upgrade::error::UpgradeError;
use crate::commands::upgrade::run::Runner;
use crate::report::upgrade::{Journal, Plan, StepKind};

/// A new master must have run this long before old ones are drained: the load balancer's health
/// checks mark a new server up 3–4 s after it starts listening (docs/fleet.md).
const LB_SETTLE_SECS: f64 = 5.0;

/// start-new × every new slot, drain (all old), wait-drained (all old). With canaries: first
/// start-new × each canary, canary (their share of the workers), analysis (the gate) and
/// promote, then the rest.
pub fn steps(plan: &Plan) -> Vec<StepKind> {
    let mut steps = Vec::new();
    let canaries = plan.canary.clone().unwrap_or_default();
    if !canaries.is_empty() {
        steps.extend(
            canaries
                .iter()
                .map(|m| StepKind::StartNew { master: m.clone() }),
        );
        steps.push(StepKind::Canary {
            masters: canaries.clone(),
        });
        steps.push(StepKind::Analysis {
            masters: canaries.clone(),
        });
        steps.push(StepKind::Promote);
    }
    steps.extend(
        plan.new
            .iter()
            .filter(|m| !canaries.contains(m))
            .map(|m| StepKind::StartNew { master: m.clone() }),
    );
    steps.push(StepKind::Drain {
        masters: plan.old.clone(),
    });
    steps.push(StepKind::WaitDrained {
        masters: plan.old.clone(),
    });
    steps
}

impl Runner<'_> {
    /// Drains the old masters once every new master has had time to enter the rotation.
    pub(super) async fn drain_old_masters(
        &self,
        j: &Journal,
        masters: &[String],
    ) -> Result<String, UpgradeError> {
        self.settle_new_masters(j).await?;
        self.drain(j, masters).await
    }

    /// Waits until every new master has run [`LB_SETTLE_SECS`].
    pub(super) async fn settle_new_masters(&self, j: &Journal) -> Result<(), UpgradeError> {
        let mut longest = 0.0f64;
        for m in j.new.iter().filter(|m| !j.old.contains(m)) {
            let info = self.client(m)?.master().await?;
            if let Some(up) = info.process.uptime_secs {
                longest = longest.max(LB_SETTLE_SECS - up);
            }
        }
        if longest > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(longest)).await;
        }
        Ok(())
    }
}
