//! Running an upgrade's journal: each remaining step marked `running`, run ([`super::steps`]),
//! marked `done` or `failed`, the journal appended to the fleet store around every step; a failed
//! gate rolls back ([`super::rollback`]), an unreachable agent — or no agent reaching the store —
//! pauses ([`super::pause`]), the fleet lease is kept renewed meanwhile ([`super::lease`]). When
//! another run took the lease over (a renewal, an append or any fenced call answered
//! `stale_epoch`) the run stops at once: no rollback, no journal write, no release; exit 5.

use super::coordinator::store_unreachable;
use super::error::UpgradeError;
use super::journal::Store;
use super::lease::{self, Held};
use super::pause::{self, PauseBudget};
use super::rollback_migrate::Decision;
use crate::client::AgentClient;
use crate::ctx::Ctx;
use crate::exit::Exit;
use crate::output::upgrade::Emitter;
use crate::report::upgrade::{Journal, Phase, StepKind, StepState, StrategyName};
use crate::report::{Outcome, Report};

/// Runs the steps of one upgrade: the agents to talk to, and where its progress goes.
pub struct Runner<'a> {
    pub ctx: &'a Ctx,
    pub emitter: Emitter,
}

impl<'a> Runner<'a> {
    pub fn new(ctx: &'a Ctx, emitter: Emitter) -> Runner<'a> {
        Runner { ctx, emitter }
    }

    /// Whether `name` is an old master of `j` that is no longer in the inventory file: the
    /// operator took it out (its host lost); the fleet registry may still list it, silent. The
    /// steps leave it alone; verify fails until Buildbot marks its master inactive (`bbctl
    /// masters expire`).
    pub fn gone(&self, j: &Journal, name: &str) -> bool {
        j.old.iter().any(|m| m == name)
            && !j.new.iter().any(|m| m == name)
            && !self
                .ctx
                .targets()
                .iter()
                .any(|t| t.name == name && t.source != crate::inventory::TargetSource::Registry)
    }

    /// The agent of the master `name` of the inventory.
    pub fn client(&self, name: &str) -> Result<AgentClient, UpgradeError> {
        self.ctx
            .targets()
            .iter()
            .find(|t| t.name == name)
            .map(|t| self.ctx.client(t))
            .ok_or_else(|| UpgradeError::Usage(format!("{name} is not in the inventory")))
    }
}

/// Runs the remaining steps of `journal`; rolls back on a failed gate. `store` holds the lease.
pub async fn execute(ctx: &Ctx, emitter: Emitter, mut j: Journal, mut store: Store) -> Outcome {
    let runner = Runner::new(ctx, emitter.clone());
    let held = store.held.clone().expect("the run holds the lease");
    let mut renewal = lease::Renewal::start(store.coord.clone(), held.clone());
    let result = tokio::select! {
        result = run_steps(&runner, &mut j, &mut store) => result,
        stop = renewal.fenced() => Err(stop),
    };
    drop(renewal);
    if let Some(stop) = fenced_off(&held, &result) {
        return stopped(&emitter, &j, stop);
    }
    let (phase, exit, message, lines) = match result {
        Ok(()) => (
            Phase::Succeeded,
            Exit::Ok,
            "upgrade complete".to_string(),
            vec![],
        ),
        Err(UpgradeError::Gate { message, lines }) if j.strategy == StrategyName::Migrate => {
            emitter.emit(
                "rollback",
                None,
                &format!("{message}; looking at the DB to decide how to roll back"),
                serde_json::json!({"log_lines": lines}),
            );
            let outcome = runner.rollback_migrate(&mut j, false).await;
            for line in &outcome.done {
                emitter.emit("rollback", None, line, serde_json::Value::Null);
            }
            let mut lines = lines;
            lines.extend(
                outcome
                    .problems
                    .iter()
                    .map(|p| format!("rollback problem: {p}")),
            );
            let rolled_back = outcome.problems.is_empty()
                && !matches!(
                    outcome.decision,
                    Decision::PastPointOfNoReturn | Decision::CannotRestore | Decision::Unknown
                );
            if rolled_back {
                (
                    Phase::RolledBack,
                    Exit::RolledBack,
                    format!("{} ({message})", outcome.headline),
                    lines,
                )
            } else {
                (
                    Phase::Failed,
                    Exit::Failed,
                    format!("{message}; {}", outcome.headline),
                    lines,
                )
            }
        }
        Err(UpgradeError::Gate { message, lines }) => {
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
                &format!("rolling back: {message}"),
                serde_json::json!({"log_lines": lines}),
            );
            let (done, problems) = runner.rollback(&j, failed.as_deref()).await;
            for line in &done {
                emitter.emit("rollback", None, line, serde_json::Value::Null);
            }
            let mut lines = lines;
            lines.extend(problems.iter().map(|p| format!("rollback problem: {p}")));
            let exit = if problems.is_empty() {
                Exit::RolledBack
            } else {
                Exit::Failed
            };
            (
                Phase::RolledBack,
                exit,
                format!("rolled back: {message}"),
                lines,
            )
        }
        Err(UpgradeError::DeadlinePassed(message)) => {
            (Phase::DeadlinePassed, Exit::DeadlinePassed, message, vec![])
        }
        Err(UpgradeError::AwaitingPromotion(message)) => {
            (Phase::AwaitingPromotion, Exit::Ok, message, vec![])
        }
        // An agent that stayed away past the pause: exit 3 (unreachable), resumable; anything
        // else that stopped a step: exit 1, resumable.
        Err(err) => {
            let exit = if err.exit() == Exit::Partial {
                Exit::Partial
            } else {
                Exit::Failed
            };
            (Phase::Failed, exit, err.to_string(), err.lines())
        }
    };
    j.finish(phase, Some(message.clone()));
    let saved = store.save(&j).await;
    if let Err(err) = &saved
        && let Some(stop) = lease::fenced(&held, err)
    {
        return stopped(&emitter, &j, stop);
    }
    // The run ends here, resumable or not: the lease is released (only while this run's epoch
    // still holds it), so `upgrade resume` needs no `--take-over`.
    lease::release(ctx, &store.coord, &held).await;
    if phase == Phase::Succeeded {
        emitter.summary(&j);
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

/// The run's end when it was fenced off: by a renewal, or by an agent's `stale_epoch`.
fn fenced_off(held: &Held, result: &Result<(), UpgradeError>) -> Option<UpgradeError> {
    match result {
        Err(UpgradeError::Fenced(message)) => Some(UpgradeError::Fenced(message.clone())),
        Err(UpgradeError::Agent(err)) => lease::fenced(held, err),
        _ => None,
    }
}

/// Ends a run that was fenced off: says so and exits 5; the journal and the lease are the new
/// holder's, so neither is touched.
fn stopped(emitter: &Emitter, j: &Journal, stop: UpgradeError) -> Outcome {
    let message = stop.to_string();
    emitter.emit(
        "fenced",
        None,
        &message,
        serde_json::json!({"exit": Exit::Refused as u8}),
    );
    Outcome {
        report: Report::Streamed,
        exit: Exit::Refused,
        warnings: vec![format!("error: upgrade {}: {message}", j.id)],
    }
}

async fn run_steps(
    runner: &Runner<'_>,
    j: &mut Journal,
    store: &mut Store,
) -> Result<(), UpgradeError> {
    let mut budget = PauseBudget::default();
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
        let err = match runner.run_step(j, &kind, store).await {
            Ok(message) => {
                budget.reset();
                runner
                    .emitter
                    .emit("step_done", Some(&label), &message, serde_json::Value::Null);
                j.mark(i, StepState::Done, Some(message));
                runner.save(store, j, &label, &mut budget).await?;
                continue;
            }
            Err(err) => match err.unreachable_agent().map(str::to_owned) {
                Some(agent) => {
                    let cause = err.to_string();
                    match runner
                        .pause(store, j, &label, &agent, &cause, &mut budget)
                        .await
                    {
                        // The step is still `running` in the journal: the loop retries it.
                        Ok(()) => continue,
                        Err(err) => err,
                    }
                }
                None => err,
            },
        };
        let text = err.to_string();
        if let UpgradeError::AwaitingPromotion(_) = &err {
            // Not a failure: the step waits for `upgrade promote`, pending.
            runner.emitter.emit(
                "awaiting_promotion",
                Some(&label),
                &text,
                serde_json::Value::Null,
            );
            j.mark(i, StepState::Pending, None);
            return Err(err);
        }
        runner
            .emitter
            .emit("step_failed", Some(&label), &text, serde_json::Value::Null);
        // Fenced off: the journal is the new holder's.
        if let (UpgradeError::Agent(api), Some(held)) = (&err, &store.held)
            && let Some(stop) = lease::fenced(held, api)
        {
            return Err(stop);
        }
        j.mark(i, StepState::Failed, Some(text));
        // A failed step is recorded if the store answers; the failure is what counts.
        let _ = store.save(j).await;
        return Err(err);
    }
    Ok(())
}

impl Runner<'_> {
    /// Appends the journal; while no agent reaches the store, pauses like a step does. Fenced
    /// off (`stale_epoch`) ends the run.
    async fn save(
        &self,
        store: &mut Store,
        j: &Journal,
        label: &str,
        budget: &mut PauseBudget,
    ) -> Result<(), UpgradeError> {
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
            let held = store.held.clone().expect("the run holds the lease");
            if let Some(stop) = lease::fenced(&held, &err) {
                return Err(stop);
            }
            if !store_unreachable(&err) {
                return Err(err.into());
            }
            let cause = format!("could not save the journal: {err}");
            let until = budget.until(j.options.pause_secs);
            pause::wait_for_store(&self.emitter, &store.coord, &j.id, label, &cause, until).await?;
            lease::renew_or_stop(&store.coord, &held).await?;
        }
    }

    /// Pauses until `agent` answers again (within the budget, see [`super::pause`]), then
    /// renews the fleet lease (a pause can outlast its TTL while the renewal could not reach
    /// the store; the same epoch still holds it unless another run took it over — then the
    /// upgrade stops, fenced off).
    async fn pause(
        &self,
        store: &Store,
        j: &Journal,
        label: &str,
        agent: &str,
        cause: &str,
        budget: &mut PauseBudget,
    ) -> Result<(), UpgradeError> {
        let until = budget.until(j.options.pause_secs);
        let client = self.client(agent)?;
        pause::wait_for_agent(&self.emitter, &client, &j.id, label, cause, until).await?;
        let held = store.held.as_ref().expect("the run holds the lease");
        lease::renew_or_stop(&store.coord, held).await
    }
}
