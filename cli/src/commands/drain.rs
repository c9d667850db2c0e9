//! `bbctl drain NAME… [--deadline D] [--force-after-deadline] [--reason TEXT] [--detach]
//! [--stall-timeout D]`: starts the server-side drains (the agent's `POST /v1/drain` is
//! idempotent, so re-running re-attaches — and applies a new `--deadline` /
//! `--force-after-deadline` to the drain in progress, see [`super::drain_change`]) and, unless
//! detached, follows them to the end (see [`super::drain_follow`]).

use bbctl_api::{DrainPhase, DrainRequest, MasterInfo};

use super::drain_follow::{FollowEnd, FollowOptions};
use super::master_names::MasterNames;
use crate::cli::{DrainAction, DrainArgs};
use crate::client::ApiError;
use crate::ctx::Ctx;
use crate::exit::{Exit, Failure};
use crate::inventory::Target;
use crate::output::drain as lines;
use crate::report::{DrainRow, Outcome, Report};

pub async fn run(args: &DrainArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    match &args.action {
        Some(DrainAction::Status(name)) => return super::drain_status::run(name, ctx).await,
        Some(DrainAction::Cancel(name)) => return super::drain_cancel::run(name, ctx).await,
        None => {}
    }
    let clients = ctx.resolve_all(&args.names).await?;
    let lease_warning = refuse_during_upgrade(ctx, "drain").await?;
    // One look at every agent names the masters in the output and gives the fleet view.
    let answers = ctx.masters().await;
    let names = MasterNames::from_answers(ctx, &answers);
    let draining: Vec<&str> = clients.iter().map(|c| c.name()).collect();
    let ownership = schedulers_left_unowned(ctx, answers, &draining).await;
    let request = DrainRequest {
        deadline_secs: args.deadline.map(|d| d.as_secs_f64()),
        force_after_deadline: args.force_after_deadline,
        reason: args.reason.clone(),
        requested_by: Some(crate::operator::requested_by().to_string()),
        cordon: false,
    };
    let started = futures_util::future::join_all(clients.iter().map(|client| {
        let request = &request;
        async move { client.drain_begin(request).await }
    }))
    .await;

    let mut outcome = Outcome::ok(Report::Streamed);
    outcome.warnings.extend(lease_warning);
    outcome.warnings.extend(ownership);
    let mut rows = Vec::new();
    let mut followed = Vec::new();
    for (client, answer) in clients.into_iter().zip(started) {
        match answer {
            Ok((created, mut status)) => {
                if !created {
                    status = super::drain_change::apply(&client, args, status, &mut outcome).await;
                }
                rows.push(DrainRow {
                    master: client.name().to_string(),
                    status,
                });
                followed.push(client);
            }
            Err(err) => {
                outcome.exit = outcome.exit.worst(Exit::from(&err));
                outcome.warnings.push(format!("error: {err}"));
            }
        }
    }
    if !args.detach && !rows.is_empty() {
        // What happened so far is said before the progress starts.
        for warning in outcome.warnings.drain(..) {
            lines::note(&warning);
        }
        let options = FollowOptions {
            stall_timeout: Some(args.stall_timeout),
            catch_interrupt: true,
        };
        let followed =
            super::drain_follow::follow_drains(ctx, followed, rows, &names, options).await;
        rows = Vec::with_capacity(followed.len());
        for (row, end) in followed {
            outcome.exit = outcome.exit.worst(end.exit(&row));
            if end == FollowEnd::Ended
                && let Some(line) = lines::after_end(&row.master, &row.status)
            {
                outcome.warnings.push(line);
            }
            rows.push(row);
        }
    }
    for row in &mut rows {
        names.apply(row);
    }
    outcome.report = Report::Drains(rows);
    Ok(outcome)
}

/// Refuses (exit 5) while an upgrade holds the fleet lease (read through any agent that reaches
/// the fleet store): the upgrade drains and starts masters itself, and a drain (or cordon,
/// `verb`) of its own would fight it. A lease that could not be read is only a warning
/// (returned).
pub(super) async fn refuse_during_upgrade(ctx: &Ctx, verb: &str) -> anyhow::Result<Option<String>> {
    match super::upgrade::lease::held_by_upgrade(ctx).await {
        Ok(Some(lease)) => Err(Failure::refused(format!(
            "refusing to {verb}: an upgrade holds the fleet lease ({}); follow it with \
             `bbctl upgrade status`, or wait for it to end",
            super::upgrade::lease::describe(&lease)
        ))
        .into()),
        Ok(None) => Ok(None),
        Err(warning) => Ok(Some(warning)),
    }
}

/// The exit code of a finished drain.
pub fn phase_exit(phase: DrainPhase) -> Exit {
    match phase {
        DrainPhase::Drained | DrainPhase::Draining | DrainPhase::Stopping => Exit::Ok,
        DrainPhase::DeadlinePassed => Exit::DeadlinePassed,
        // A drain cancelled back to the cordon it continued ended like any cancelled drain.
        DrainPhase::Cancelled | DrainPhase::Failed | DrainPhase::Cordoned => Exit::Failed,
    }
}

/// For each master to drain that owns schedulers or change sources, the note that they go
/// unowned when it stops. Best effort: without the fleet view there is no note.
pub(crate) async fn schedulers_left_unowned(
    ctx: &Ctx,
    answers: Vec<(Target, Result<MasterInfo, ApiError>)>,
    names: &[&str],
) -> Vec<String> {
    let Ok((fleet, _)) = super::fleet::load_from(ctx, answers).await else {
        return Vec::new();
    };
    names
        .iter()
        .filter_map(|name| {
            let owned: Vec<_> = fleet
                .view
                .services
                .iter()
                .filter(|s| s.masterid.is_some_and(|id| fleet.master_name(id) == *name))
                .collect();
            super::schedulers::left_unowned_note(name, &owned)
        })
        .collect()
}
