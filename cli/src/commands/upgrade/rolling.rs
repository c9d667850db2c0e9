//! The rolling strategy (no standby slots): per batch of `--batch` masters, drain → switch the
//! configuration → start → gate, then the next batch. The step bodies are those of
//! [`super::bluegreen`]; what is rolling's own is the capacity guard: a batch is drained only
//! while at least `--min-serving` other masters are ready to take its work.

use super::journal::Journal;
use super::{Fail, Runner, StepFail};

impl Runner<'_> {
    /// Refuses to drain `batch` unless `--min-serving` masters outside it are ready.
    pub(super) async fn check_capacity(
        &self,
        j: &Journal,
        batch: &[String],
    ) -> Result<(), StepFail> {
        let others: Vec<&String> = j
            .old
            .iter()
            .chain(j.new.iter())
            .filter(|m| !batch.contains(m))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut ready = 0;
        for m in &others {
            if let Ok((true, _)) = self.client(m)?.readyz().await {
                ready += 1;
            }
        }
        if ready < j.options.min_serving {
            return Err(StepFail::Other(Fail::failed(
                format!(
                    "only {ready} master(s) outside {} are ready, fewer than --min-serving {}; \
                     not draining (fix them, then `bbctl upgrade resume {}`)",
                    batch.join(","),
                    j.options.min_serving,
                    j.id
                ),
                vec![],
            )));
        }
        Ok(())
    }
}
