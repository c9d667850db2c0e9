//! `bbctl drain NAME… [--deadline D] [--force-after-deadline] [--reason TEXT] [--detach]`:
//! starts the server-side drains (the agent's `POST /v1/drain` is idempotent, so re-running
//! re-attaches) and, unless detached, follows them to the end (see [`super::drain_follow`]).

use bbctl_api::{DrainPhase, DrainRequest};

use crate::cli::{DrainAction, DrainArgs};
use crate::ctx::Ctx;
use crate::exit::{Exit, Failure};
use crate::report::{DrainRow, Outcome, Report};

pub async fn run(args: &DrainArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    match &args.action {
        Some(DrainAction::Status(name)) => return super::drain_status::run(name, ctx).await,
        Some(DrainAction::Cancel(name)) => return super::drain_cancel::run(name, ctx).await,
        None => {}
    }
    let clients = ctx.resolve_all(&args.names).await?;
    let lease_warning = refuse_during_upgrade(ctx).await?;
    let request = DrainRequest {
        deadline_secs: args.deadline.map(|d| d.as_secs_f64()),
        force_after_deadline: args.force_after_deadline,
        reason: args.reason.clone(),
        requested_by: Some(crate::operator::requested_by().to_string()),
    };
    let started = futures_util::future::join_all(clients.iter().map(|client| {
        let request = &request;
        async move { client.drain_start(request).await }
    }))
    .await;

    let mut outcome = Outcome::ok(Report::Streamed);
    outcome.warnings.extend(lease_warning);
    let mut rows = Vec::new();
    let mut followed = Vec::new();
    for (client, answer) in clients.into_iter().zip(started) {
        match answer {
            Ok(status) => {
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
        rows = super::drain_follow::follow(ctx, followed, rows).await;
    }
    if !args.detach {
        for row in &rows {
            outcome.exit = outcome.exit.worst(phase_exit(row.status.phase));
        }
    }
    outcome.report = Report::Drains(rows);
    Ok(outcome)
}

/// Refuses (exit 5) while an upgrade holds the fleet lease: the upgrade drains and starts masters
/// itself, and a drain of its own would fight it. An unreachable coordinator is only a warning
/// (returned).
async fn refuse_during_upgrade(ctx: &Ctx) -> anyhow::Result<Option<String>> {
    match super::upgrade::lease::held_by_upgrade(ctx).await {
        Ok(Some(lease)) => Err(Failure::refused(format!(
            "refusing to drain: an upgrade holds the fleet lease ({}: {}); follow it with \
             `bbctl upgrade status`, or wait for it to end",
            lease.holder, lease.reason
        ))
        .into()),
        Ok(None) => Ok(None),
        Err(err) => Ok(Some(format!(
            "warning: cannot check the fleet lease (is an upgrade running?): {err}"
        ))),
    }
}

/// The exit code of a finished drain.
pub fn phase_exit(phase: DrainPhase) -> Exit {
    match phase {
        DrainPhase::Drained | DrainPhase::Draining | DrainPhase::Stopping => Exit::Ok,
        DrainPhase::DeadlinePassed => Exit::DeadlinePassed,
        DrainPhase::Cancelled | DrainPhase::Failed => Exit::Failed,
    }
}
