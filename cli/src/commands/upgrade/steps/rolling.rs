//! Rolling (no standby slots): per batch of `--batch` masters, drain → wait until drained →
//! start each on the new configuration (gated), then the next batch. What is rolling's own: the
//! capacity guard — a batch is drained only while at least `--min-serving` other masters are
//! ready to take its work.

use std::collections::BTreeSet;

use crate::commands::upgrade::error::UpgradeError;
use crate::commands::upgrade::run::Runner;
use crate::report::upgrade::{Journal, Plan, StepKind};

/// Per batch: drain, wait-drained, start-new × the batch.
pub fn steps(plan: &Plan) -> Vec<StepKind> {
    let mut steps = Vec::new();
    for batch in &plan.batches {
        steps.push(StepKind::Drain {
            masters: batch.clone(),
        });
        steps.push(StepKind::WaitDrained {
            masters: batch.clone(),
        });
        steps.extend(
            batch
                .iter()
                .map(|m| StepKind::StartNew { master: m.clone() }),
        );
    }
    steps
}

impl Runner<'_> {
    /// Drains `batch` once enough masters outside it serve.
    pub(super) async fn drain_batch(
        &self,
        j: &Journal,
        batch: &[String],
    ) -> Result<String, UpgradeError> {
        self.check_capacity(j, batch).await?;
        self.drain(j, batch).await
    }

    /// Refuses to drain `batch` unless `--min-serving` masters outside it are ready.
    async fn check_capacity(&self, j: &Journal, batch: &[String]) -> Result<(), UpgradeError> {
        let others: BTreeSet<&String> = j
            .old
            .iter()
            .chain(j.new.iter())
            .filter(|m| !batch.contains(m))
            .collect();
        let mut ready = 0;
        for m in &others {
            if let Ok((true, _)) = self.client(m)?.readyz().await {
                ready += 1;
            }
        }
        if ready < j.options.min_serving {
            return Err(UpgradeError::failed(
                format!(
                    "only {ready} master(s) outside {} are ready, fewer than --min-serving {}; \
                     not draining (fix them, then `bbctl upgrade resume {}`)",
                    batch.join(","),
                    j.options.min_serving,
                    j.id
                ),
                vec![],
            ));
        }
        Ok(())
    }
}
