//! A canary upgrade's own steps, between the canaries' start-new and the rest of blue-green:
//! `canary` hands the canaries their share of the workers (idle ones, one at a time, as
//! `bbctl workers rebalance` does), `analysis` runs the gate (`super::super::gate`) over the
//! window, `promote` goes on once promoted — by the gate (`--auto-promote`) or by `bbctl
//! upgrade promote`. A failed gate is a [`UpgradeError::Gate`]: the runner rolls back (the
//! canaries are drained, their workers go back to the old masters), exit 6.

use std::time::{Duration, Instant};

use crate::commands::rebalance;
use crate::commands::upgrade::error::UpgradeError;
use crate::commands::upgrade::gate::{self, Clock, Seen};
use crate::commands::upgrade::run::Runner;
use crate::report::upgrade::{Canary, GateDecision, Journal, StepKind, Verdict};
use crate::time::now_secs;

/// How often the gate looks at the masters.
const LOOK_EVERY: Duration = Duration::from_secs(5);
/// How often it says how the window stands.
const PROGRESS_EVERY: Duration = Duration::from_secs(30);
/// How long one worker move may wait for the worker to attach elsewhere.
const MOVE_TIMEOUT: Duration = Duration::from_secs(60);

impl Runner<'_> {
    /// Gives the canaries their share of the idle workers; the window starts when done.
    pub(super) async fn canary_handoff(
        &self,
        j: &mut Journal,
        masters: &[String],
    ) -> Result<String, UpgradeError> {
        let since = evidence_since(j, masters);
        let canary = canary_mut(j)?;
        canary.evidence_since.get_or_insert(since);
        if canary.window_started_at.is_some() {
            return Ok("workers already handed to the canaries".into());
        }
        self.settle_new_masters(j).await?;
        let balanced = rebalance::balance(self.ctx, false, None, MOVE_TIMEOUT)
            .await
            .map_err(|e| {
                UpgradeError::failed(format!("handing workers to the canaries: {e:#}"), vec![])
            })?;
        let report = balanced.report;
        for w in &balanced.warnings {
            self.emitter
                .emit("canary", None, w, serde_json::Value::Null);
        }
        let moved = report.moves.iter().filter(|m| m.outcome == "moved").count();
        let on_canaries: Vec<String> = report
            .after
            .iter()
            .filter(|r| masters.contains(&r.master))
            .map(|r| format!("{} {}", r.master, r.workers.unwrap_or(0)))
            .collect();
        canary_mut(j)?.window_started_at = Some(now_secs());
        let window = canary_ref(j)?.gate.window_secs;
        Ok(format!(
            "{moved} idle worker(s) moved; workers on the canaries: {}; the {} window starts",
            on_canaries.join(", "),
            crate::time::human(window)
        ))
    }

    /// The gate: looks every few seconds until it can decide; a failed gate is an error that
    /// rolls the upgrade back.
    pub(super) async fn analysis(
        &self,
        j: &mut Journal,
        masters: &[String],
    ) -> Result<String, UpgradeError> {
        let canary = canary_ref(j)?.clone();
        let decision = match canary.decision.clone() {
            Some(d) => d,
            None => {
                let d = self.watch_window(j, &canary, masters).await?;
                canary_mut(j)?.decision = Some(d.clone());
                d
            }
        };
        self.emitter.emit(
            "gate",
            None,
            &headline(&decision),
            serde_json::to_value(&decision).unwrap_or_default(),
        );
        match decision.verdict {
            Verdict::Fail => {
                let mut lines = decision.reasons.clone();
                lines.extend(decision.evidence.iter().cloned());
                Err(UpgradeError::gate(
                    format!("the canary gate failed: {}", decision.reasons.join("; ")),
                    lines,
                ))
            }
            Verdict::Pass | Verdict::Inconclusive => Ok(headline(&decision)),
        }
    }

    async fn watch_window(
        &self,
        j: &Journal,
        canary: &Canary,
        masters: &[String],
    ) -> Result<GateDecision, UpgradeError> {
        let since = canary
            .evidence_since
            .unwrap_or_else(|| evidence_since(j, masters));
        let window_started_at = canary.window_started_at.unwrap_or_else(now_secs);
        let old: Vec<String> = j.old.iter().filter(|m| !self.gone(j, m)).cloned().collect();
        let mut last_progress = Instant::now();
        loop {
            let c = self.analyses(masters, since).await?;
            let o = self.analyses(&old, since).await?;
            let cs: Vec<Seen<'_>> = c
                .iter()
                .map(|(m, a)| Seen {
                    master: m,
                    analysis: a,
                })
                .collect();
            let os: Vec<Seen<'_>> = o
                .iter()
                .map(|(m, a)| Seen {
                    master: m,
                    analysis: a,
                })
                .collect();
            let clock = Clock {
                window_started_at,
                now: now_secs(),
            };
            if let Some(d) = gate::judge(&cs, &os, &canary.gate, &clock) {
                return Ok(d);
            }
            if last_progress.elapsed() >= PROGRESS_EVERY {
                last_progress = Instant::now();
                let (cg, og) = gate::both(&cs, &os, &canary.gate, clock.now);
                let left = window_started_at + canary.gate.window_secs - clock.now;
                self.emitter.emit(
                    "gate_progress",
                    Some(
                        &StepKind::Analysis {
                            masters: masters.to_vec(),
                        }
                        .label(),
                    ),
                    &gate::progress(&cg, &og, left),
                    serde_json::json!({"canary": cg, "old": og, "left_secs": left}),
                );
            }
            tokio::time::sleep(LOOK_EVERY).await;
        }
    }

    /// Every master's analysis since `since`; an agent that does not answer is the step's
    /// error (the runner pauses for it).
    async fn analyses(
        &self,
        masters: &[String],
        since: f64,
    ) -> Result<Vec<(String, bbctl_api::MasterAnalysis)>, UpgradeError> {
        let mut out = Vec::new();
        for m in masters {
            let a = self.client(m)?.master_analysis(since).await?;
            out.push((m.clone(), a));
        }
        Ok(out)
    }

    /// Goes on past the gate once promoted; else the upgrade waits, resumable.
    pub(super) fn promote_step(&self, j: &Journal) -> Result<String, UpgradeError> {
        let canary = canary_ref(j)?;
        let verdict = canary.decision.as_ref().map(|d| d.verdict);
        if let Some(by) = &canary.promoted_by {
            return Ok(format!("promoted by {by}"));
        }
        if verdict == Some(Verdict::Pass) && canary.gate.auto_promote {
            return Ok("promoted by the gate (--auto-promote)".into());
        }
        let why = match verdict {
            Some(Verdict::Inconclusive) => {
                "the canary gate could not judge (the canaries finished no build in the window)"
            }
            _ => "the canary gate passed",
        };
        Err(UpgradeError::AwaitingPromotion(format!(
            "{why}; the canaries and the old masters serve side by side. `bbctl upgrade promote \
             {id}` goes on (the other new masters start, the old ones drain); `bbctl upgrade \
             abort {id}` rolls back",
            id = j.id
        )))
    }
}

/// `pass after 2m0s (window): canaries 12 finished, 0% errors; old 40 finished, 0% errors`.
fn headline(d: &GateDecision) -> String {
    let rate = |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{:.0}%", r * 100.0));
    format!(
        "canary gate: {} after {} ({}): canaries {} finished, {} errors, {} tracebacks; old \
         masters {} finished, {} errors",
        d.verdict.as_str(),
        crate::time::human(d.after_secs),
        d.ended_by,
        d.canary.finished,
        rate(d.canary.error_rate),
        d.canary.tracebacks,
        d.old.finished,
        rate(d.old.error_rate)
    )
}

/// When the first canary began to start: builds from then on are evidence.
fn evidence_since(j: &Journal, masters: &[String]) -> f64 {
    j.steps
        .iter()
        .filter(|s| matches!(&s.kind, StepKind::StartNew { master } if masters.contains(master)))
        .filter_map(|s| s.started_at)
        .fold(f64::INFINITY, f64::min)
        .min(now_secs())
}

fn canary_ref(j: &Journal) -> Result<&Canary, UpgradeError> {
    j.canary.as_ref().ok_or_else(|| {
        UpgradeError::failed("this journal has canary steps but no canary block", vec![])
    })
}

fn canary_mut(j: &mut Journal) -> Result<&mut Canary, UpgradeError> {
    j.canary.as_mut().ok_or_else(|| {
        UpgradeError::failed("this journal has canary steps but no canary block", vec![])
    })
}
