//! Running an upgrade's journal: each remaining step marked `running`, run, marked `done` or
//! `failed`, the journal saved on the coordinator around every step; a failed gate rolls back,
//! an unreachable agent pauses ([`super::pause`]), the fleet lease is renewed meanwhile.

use super::journal::{self, Journal, Phase, StepKind, StepState, Store};
use super::{Runner, StepFail, pause, preflight, status};
use crate::client::AgentClient;
use crate::ctx::Ctx;
use crate::exit::Exit;
use crate::output::upgrade::Emitter;
use crate::report::{Outcome, Report};

/// Runs the remaining steps of `journal`; rolls back on a failed gate.
pub async fn execute(ctx: &Ctx, emitter: Emitter, mut j: Journal, mut store: Store) -> Outcome {
    let runner = Runner {
        ctx,
        emitter: emitter.clone(),
    };
    let renewer = tokio::spawn(renew_lease(
        store.client.clone(),
        j.id.clone(),
        lease_reason(&j),
    ));
    let result = run_steps(&runner, &mut j, &mut store).await;
    renewer.abort();
    let (phase, exit, message, lines) = match result {
        Ok(()) => (
            Phase::Succeeded,
            Exit::Ok,
            "upgrade complete".to_string(),
            vec![],
        ),
        Err(StepFail::Gate(fail)) => {
            let failed = j
                .steps
                .iter()
                .rev()
                .find(|s| s.state == StepState::Failed)
                .and_then(|s| match &s.kind {
                    StepKind::StartNew { master } => Some(master.clone()),
                    _ => None,
                });
            emitter.emit(
                "rollback",
                None,
                &format!("rolling back: {}", fail.message),
                serde_json::json!({"log_lines": fail.lines}),
            );
            let (done, problems) = runner.rollback(&j, failed.as_deref()).await;
            for line in &done {
                emitter.emit("rollback", None, line, serde_json::Value::Null);
            }
            let mut lines = fail.lines;
            lines.extend(problems.iter().map(|p| format!("rollback problem: {p}")));
            let exit = if problems.is_empty() {
                Exit::RolledBack
            } else {
                Exit::Failed
            };
            (
                Phase::RolledBack,
                exit,
                format!("rolled back: {}", fail.message),
                lines,
            )
        }
        Err(StepFail::Deadline(message)) => {
            (Phase::DeadlinePassed, Exit::DeadlinePassed, message, vec![])
        }
        // An agent that stayed away past the pause: exit 3 (unreachable), resumable.
        Err(StepFail::Other(fail)) | Err(StepFail::Unreachable { fail, .. }) => (
            Phase::Failed,
            if fail.exit == Exit::Partial {
                Exit::Partial
            } else {
                fail.exit.worst(Exit::Failed)
            },
            fail.message,
            fail.lines,
        ),
    };
    j.finish(phase, Some(message.clone()));
    let saved = store.save(&j).await;
    // A failed save means another CLI took the journal over (e.g. `upgrade abort`): the lease
    // is theirs now.
    if phase.is_final() && saved.is_ok() {
        let _ = store.client.lease_delete(&j.id).await;
    }
    if phase == Phase::Succeeded {
        status::show_summary(&emitter, &j);
    }
    emitter.emit(
        "finished",
        None,
        &message,
        serde_json::json!({"phase": phase, "exit": exit as u8, "log_lines": lines}),
    );
    let mut warnings: Vec<String> = Vec::new();
    if exit != Exit::Ok {
        warnings.push(format!("error: upgrade {}: {message}", j.id));
        warnings.extend(lines.iter().map(|l| format!("  {l}")));
        if !phase.is_final() {
            warnings.push(format!(
                "fix the cause, then `bbctl upgrade resume {}` (or `bbctl upgrade abort {}`)",
                j.id, j.id
            ));
        }
    }
    if let Err(err) = saved {
        warnings.push(format!("warning: could not save the journal: {err}"));
    }
    Outcome {
        report: Report::Streamed,
        exit,
        warnings,
    }
}

async fn run_steps(
    runner: &Runner<'_>,
    j: &mut Journal,
    store: &mut Store,
) -> Result<(), StepFail> {
    let mut budget = pause::PauseBudget::default();
    while let Some(i) = j.next_step() {
        let label = j.steps[i].kind.label();
        j.mark(i, StepState::Running, None);
        runner.save(store, j, &label, &mut budget).await?;
        runner.emitter.emit(
            "step_started",
            Some(&label),
            "started",
            serde_json::Value::Null,
        );
        let kind = j.steps[i].kind.clone();
        let result = match &kind {
            StepKind::Preflight => Ok("done".to_string()),
            StepKind::StartNew { master } => runner.start_new(j, master).await,
            StepKind::Drain { masters } => match j.strategy {
                journal::StrategyName::Rolling => match runner.check_capacity(j, masters).await {
                    Ok(()) => runner.drain(j, masters).await,
                    Err(e) => Err(e),
                },
                journal::StrategyName::BlueGreen => runner.drain(j, masters).await,
            },
            StepKind::WaitDrained { masters } => runner.wait_drained(j, masters).await,
            StepKind::Verify => runner.verify(j).await,
        };
        let fail = match result {
            Ok(message) => {
                budget.reset();
                runner
                    .emitter
                    .emit("step_done", Some(&label), &message, serde_json::Value::Null);
                j.mark(i, StepState::Done, Some(message));
                runner.save(store, j, &label, &mut budget).await?;
                continue;
            }
            Err(StepFail::Unreachable { agent, fail }) => {
                match runner
                    .pause(store, j, &label, &agent, &fail.message, &mut budget)
                    .await
                {
                    // The step is still `running` in the journal: the loop retries it.
                    Ok(()) => continue,
                    Err(fail) => fail,
                }
            }
            Err(fail) => fail,
        };
        let text = fail.message().to_string();
        runner
            .emitter
            .emit("step_failed", Some(&label), &text, serde_json::Value::Null);
        j.mark(i, StepState::Failed, Some(text));
        // A failed step is recorded if the coordinator answers; the failure is what counts.
        let _ = store.save(j).await;
        return Err(fail);
    }
    Ok(())
}

impl Runner<'_> {
    /// Writes the journal; while the coordinator does not answer, pauses like a step does.
    async fn save(
        &self,
        store: &mut Store,
        j: &Journal,
        label: &str,
        budget: &mut pause::PauseBudget,
    ) -> Result<(), StepFail> {
        let mut retry = false;
        loop {
            let saved = if retry {
                store.save_again(j).await
            } else {
                store.save(j).await
            };
            let err = match saved {
                Ok(()) => return Ok(()),
                Err(err) => err,
            };
            retry = true;
            let Some(agent) = err.unreachable_agent().map(str::to_owned) else {
                return Err(StepFail::api(err));
            };
            let cause = format!("could not save the journal: {err}");
            self.pause(store, j, label, &agent, &cause, budget).await?;
        }
    }

    /// Pauses until `agent` answers again (within the budget, see [`super::pause`]), then takes
    /// the fleet lease again: a pause can outlast its TTL while the renewer could not reach the
    /// coordinator. Refused, and the upgrade stops, if another operator took it meanwhile.
    async fn pause(
        &self,
        store: &Store,
        j: &Journal,
        label: &str,
        agent: &str,
        cause: &str,
        budget: &mut pause::PauseBudget,
    ) -> Result<(), StepFail> {
        let until = budget.until(j.options.pause_secs);
        self.wait_for_agent(&j.id, label, agent, cause, until)
            .await
            .map_err(StepFail::Other)?;
        preflight::acquire_lease(&store.client, &j.id, &lease_reason(j))
            .await
            .map_err(StepFail::Other)
    }
}

/// The fleet lease's reason while `j` runs (shown to anyone it refuses).
pub(super) fn lease_reason(j: &Journal) -> String {
    format!("{} (upgrade {} by {})", j.reason, j.id, j.requested_by)
}

/// Renews the fleet lease every third of its TTL until aborted.
async fn renew_lease(client: AgentClient, holder: String, reason: String) {
    let period = std::time::Duration::from_secs_f64(preflight::LEASE_TTL_SECS / 3.0);
    loop {
        tokio::time::sleep(period).await;
        if let Err(err) = preflight::acquire_lease(&client, &holder, &reason).await {
            eprintln!("warning: could not renew the fleet lease: {}", err.message);
        }
    }
}
