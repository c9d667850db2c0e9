//! `upgrade resume [ID]` and `upgrade abort [ID]`: take an unfinished upgrade over — its journal
//! and the fleet lease — from any machine, through any agent that reaches the fleet store, then
//! run its remaining steps ([`super::run`]) or roll it back ([`super::rollback`]). Taking the
//! lease gives this run a new epoch: a run still holding the old one is refused (`stale_epoch`)
//! at its next call and stops. `resume` takes a lease another run still holds for the same
//! upgrade only with `--take-over`; `abort` always does. A `--detach`ed upgrade is this binary
//! again, resuming the journal named in [`RESUME_ENV`] (it takes its parent's lease over).

use bbctl_api::{Lease, LeaseKind};

use super::error::UpgradeError;
use super::journal::Store;
use super::lease::{self, Taken, Want};
use super::run::{self, Runner};
use crate::ctx::Ctx;
use crate::exit::Exit;
use crate::output::upgrade::Emitter;
use crate::report::upgrade::{Journal, Phase, StepState, StrategyName, Verdict};
use crate::report::{Outcome, Report};

/// Set by `--detach` for the background process: resume this upgrade instead of starting one.
pub const RESUME_ENV: &str = "BBCTL_UPGRADE_RESUME_ID";

/// The unfinished upgrade `id` (default: the newest), read again once the fleet lease is taken
/// for it (with `take_over`, even from a live holder of the same upgrade) under the reason
/// `reason` gives, and the emitter its progress goes to.
async fn take_over(
    ctx: &Ctx,
    id: Option<String>,
    take_over: bool,
    reason: impl FnOnce(&Journal) -> String,
) -> Result<(Store, Journal, Emitter), UpgradeError> {
    let (store, j) = Store::find(ctx, id, true).await?;
    refuse_ended(&j)?;
    let want = Want {
        operation: j.id.clone(),
        reason: reason(&j),
        kind: LeaseKind::Upgrade,
        take_over,
    };
    let held = match lease::try_take(ctx, &store.coord, &want).await? {
        Taken::Held(held) => held,
        Taken::Refused(Some(l)) if l.operation == j.id => return Err(still_held(&j.id, &l)),
        Taken::Refused(l) => return Err(lease::refusal(l)),
    };
    // Read again under the lease: the run it was taken from may have appended meanwhile.
    let (mut store, j) = Store::load(store.coord, &j.id).await?;
    store.held = Some(held);
    refuse_ended(&j)?;
    let emitter = Emitter {
        json: ctx.format == crate::cli::OutputFormat::Json,
        id: j.id.clone(),
    };
    Ok((store, j, emitter))
}

fn refuse_ended(j: &Journal) -> Result<(), UpgradeError> {
    if j.phase.is_final() {
        return Err(UpgradeError::refused(
            format!("upgrade {} already ended: {}", j.id, j.phase.as_str()),
            vec![],
        ));
    }
    Ok(())
}

/// The refusal of a `resume` while another run still holds the upgrade's lease.
fn still_held(id: &str, l: &Lease) -> UpgradeError {
    UpgradeError::refused(
        format!(
            "refusing to resume upgrade {id}: another run holds its lease: {}; it expires in {} \
             (store clock) unless renewed. If that run is gone (its host lost, its process \
             stopped), `bbctl upgrade resume {id} --take-over` takes the lease now, and that run \
             is refused at its next call",
            lease::describe(l),
            crate::time::human(l.remaining_secs().max(0.0))
        ),
        vec![],
    )
}

pub async fn resume(
    id: Option<String>,
    take_over_live: bool,
    ctx: &Ctx,
) -> Result<Outcome, UpgradeError> {
    let (mut store, mut j, emitter) = take_over(ctx, id, take_over_live, lease::reason).await?;
    emitter.emit(
        "resumed",
        None,
        &format!(
            "resuming at step {} (lease epoch {})",
            j.next_step()
                .map_or("-".into(), |i| j.steps[i].kind.label()),
            store.held.as_ref().map_or(0, |h| h.epoch)
        ),
        serde_json::Value::Null,
    );
    for step in j.steps.iter_mut().filter(|s| s.state == StepState::Failed) {
        step.state = StepState::Pending;
    }
    j.phase = Phase::Running;
    j.finished_at = None;
    store.save(&j).await?;
    Ok(run::execute(ctx, emitter, j, store).await)
}

/// `upgrade promote [ID]`: a canary upgrade waiting at its gate goes on — promoted by the
/// operator, recorded in the journal — like a resume.
pub async fn promote(id: Option<String>, ctx: &Ctx) -> Result<Outcome, UpgradeError> {
    // Looked at before the lease is taken: a refusal changes nothing.
    let (_, peek) = Store::find(ctx, id, true).await?;
    refuse_promote(&peek)?;
    let (mut store, mut j, emitter) = take_over(ctx, Some(peek.id), false, lease::reason).await?;
    refuse_promote(&j)?;
    let by = crate::operator::requested_by().to_string();
    if let Some(canary) = j.canary.as_mut() {
        canary.promoted_by = Some(by.clone());
        canary.promoted_at = Some(crate::time::now_secs());
    }
    emitter.emit(
        "promoted",
        None,
        &format!("promoted by {by}: the other new masters start, the old ones drain"),
        serde_json::Value::Null,
    );
    j.phase = Phase::Running;
    j.finished_at = None;
    store.save(&j).await?;
    Ok(run::execute(ctx, emitter, j, store).await)
}

/// Only a canary upgrade whose gate did not fail, and that has not gone past it, is promoted.
fn refuse_promote(j: &Journal) -> Result<(), UpgradeError> {
    let Some(canary) = &j.canary else {
        return Err(UpgradeError::refused(
            format!("upgrade {} has no canary to promote", j.id),
            vec![],
        ));
    };
    match canary.decision.as_ref().map(|d| d.verdict) {
        Some(Verdict::Fail) => Err(UpgradeError::refused(
            format!(
                "refusing to promote upgrade {}: its canary gate failed",
                j.id
            ),
            canary
                .decision
                .iter()
                .flat_map(|d| d.reasons.clone())
                .collect(),
        )),
        None => Err(UpgradeError::refused(
            format!(
                "refusing to promote upgrade {}: its canary gate has not decided yet ({})",
                j.id,
                j.phase.as_str()
            ),
            vec![],
        )),
        Some(_) if canary.promoted_by.is_some() || j.phase != Phase::AwaitingPromotion => {
            Err(UpgradeError::refused(
                format!(
                    "upgrade {} is not waiting for promotion ({}); `bbctl upgrade resume {}`                      continues an interrupted one",
                    j.id,
                    j.phase.as_str(),
                    j.id
                ),
                vec![],
            ))
        }
        Some(_) => Ok(()),
    }
}

pub async fn abort(
    id: Option<String>,
    restore_db: bool,
    ctx: &Ctx,
) -> Result<Outcome, UpgradeError> {
    // Looked at before the lease is taken: a refusal changes nothing.
    let (_, peek) = Store::find(ctx, id, true).await?;
    refuse_abort(&peek, restore_db)?;
    let (mut store, mut j, emitter) = take_over(ctx, Some(peek.id), true, |j| {
        format!("abort of upgrade {}", j.id)
    })
    .await?;
    // The lease is this run's now: a CLI still running this upgrade (e.g. `--detach`) is
    // refused (`stale_epoch`) at its next call, renewal or append and stops, instead of
    // carrying on with the steps the rollback undoes.
    j.message = Some("aborting: rolling back".into());
    store.save(&j).await?;
    emitter.emit(
        "rollback",
        None,
        "aborting: returning the old masters to full service",
        serde_json::Value::Null,
    );
    let runner = Runner::new(ctx, emitter.clone());
    let (done, problems, message) = if j.strategy == StrategyName::Migrate {
        let outcome = runner.rollback_migrate(&mut j, restore_db).await;
        let message = format!("aborted by the operator; {}", outcome.headline);
        (outcome.done, outcome.problems, message)
    } else {
        let (done, problems) = runner.rollback(&j, None).await;
        (done, problems, "aborted by the operator".to_string())
    };
    for line in &done {
        emitter.emit("rollback", None, line, serde_json::Value::Null);
    }
    j.finish(Phase::Aborted, Some(message.clone()));
    store.save(&j).await?;
    if let Some(held) = &store.held {
        lease::release(ctx, &store.coord, held).await;
    }
    let exit = if problems.is_empty() {
        Exit::RolledBack
    } else {
        Exit::Failed
    };
    emitter.emit(
        "finished",
        None,
        &message,
        serde_json::json!({"phase": Phase::Aborted, "exit": exit as u8, "problems": problems}),
    );
    Ok(Outcome {
        report: Report::Streamed,
        exit,
        warnings: problems,
    })
}

/// `abort` of a migrate upgrade past its point of no return needs `--restore-db`, which loses
/// what the new masters did; `--restore-db` means nothing for the other strategies.
fn refuse_abort(j: &Journal, restore_db: bool) -> Result<(), UpgradeError> {
    let committed = j.migration.as_ref().and_then(|m| m.committed_at);
    match (j.strategy, committed) {
        (StrategyName::Migrate, Some(at)) if !restore_db => Err(UpgradeError::refused(
            format!(
                "refusing to abort upgrade {}: past the point of no return (a new master entered \
                 the rotation {}); `bbctl upgrade abort {} --restore-db` restores the backup \
                 anyway",
                j.id,
                ago(at),
                j.id
            ),
            lost(j),
        )),
        (StrategyName::Migrate, _) => Ok(()),
        (_, _) if restore_db => Err(UpgradeError::Usage(format!(
            "--restore-db applies to migrate upgrades only; upgrade {} is {}",
            j.id,
            j.strategy.as_str()
        ))),
        _ => Ok(()),
    }
}

/// What a restore past the point of no return loses.
fn lost(j: &Journal) -> Vec<String> {
    let backup_at = j
        .migration
        .as_ref()
        .and_then(|m| m.backup.as_ref()?.at)
        .map_or("the backup".to_string(), |at| {
            format!("the backup ({})", ago(at))
        });
    vec![
        format!("a restore loses every DB write since {backup_at}:"),
        "  the builds the new masters ran (their requests run again, and build numbers are \
         reused)"
            .into(),
        "  every request, change and buildset submitted since then".into(),
    ]
}

/// `3m12s ago`.
fn ago(at: f64) -> String {
    format!("{} ago", crate::time::human(crate::time::now_secs() - at))
}
