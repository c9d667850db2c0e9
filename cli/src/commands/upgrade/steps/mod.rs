//! The steps of an upgrade: which ones each strategy runs, in order ([`of`]), and the body each
//! step runs ([`Runner::run_step`]). Bodies both strategies share are named for what they do —
//! [`start_new`] (a master on the new configuration, gated on its health), [`drain`] (drains
//! started, then followed to their end), `super::verify` — and what is a strategy's own is in
//! [`bluegreen`], [`rolling`] and [`migrate`]. Every body looks before it acts, so a step re-run after a
//! resume or a pause does no harm.

mod bluegreen;
mod canary;
mod drain;
mod migrate;
mod rolling;
mod start_new;

pub use start_new::route_here;

use super::error::UpgradeError;
use super::journal::Store;
use super::run::Runner;
use crate::report::upgrade::{Journal, Plan, StepKind, StrategyName};

/// The steps of `plan`: the pre-flight, the strategy's own, then verify.
pub fn of(plan: &Plan) -> Vec<StepKind> {
    let mut steps = vec![StepKind::Preflight];
    steps.extend(match plan.strategy {
        StrategyName::BlueGreen => bluegreen::steps(plan),
        StrategyName::Rolling => rolling::steps(plan),
        StrategyName::Migrate => migrate::steps(plan),
    });
    steps.push(StepKind::Verify);
    steps
}

impl Runner<'_> {
    /// Runs one step of `j`; its message when done. `store` is for a step that must save the
    /// journal before it goes on (start_new of migrate: the point of no return).
    pub async fn run_step(
        &self,
        j: &mut Journal,
        kind: &StepKind,
        store: &mut Store,
    ) -> Result<String, UpgradeError> {
        match kind {
            StepKind::Preflight => Ok("done".to_string()),
            StepKind::StartNew { master } => self.start_new(j, master, store).await,
            StepKind::Drain { masters } => match j.strategy {
                StrategyName::BlueGreen => self.drain_old_masters(j, masters).await,
                StrategyName::Rolling => self.drain_batch(j, masters).await,
                StrategyName::Migrate => Err(UpgradeError::failed(
                    "migrate has no drain step; this journal is not bbctl's",
                    vec![],
                )),
            },
            StepKind::WaitDrained { masters } => self.wait_drained(j, masters).await,
            StepKind::Quiesce { masters } => self.quiesce(j, masters).await,
            StepKind::WaitStopped { masters } => self.wait_stopped(j, masters).await,
            StepKind::Backup => self.backup(j).await,
            StepKind::Migrate => self.migrate(j).await,
            StepKind::Canary { masters } => self.canary_handoff(j, masters).await,
            StepKind::Analysis { masters } => self.analysis(j, masters).await,
            StepKind::Promote => self.promote_step(j),
            StepKind::Verify => self.verify(j).await,
        }
    }
}
