//! `bbctl drain NAME… [--deadline D] [--force-after-deadline] [--reason TEXT] [--detach]`:
//! starts the server-side drains (the agent's `POST /v1/drain` is idempotent, so re-running
//! re-attaches) and, unless detached, follows them to the end (see [`super::drain_follow`]).

use bbctl_api::{DrainPhase, DrainRequest, LeaseKind};

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
        requested_by: Some(requested_by()),
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
                outcome.exit = outcome.exit.worst(err.exit());
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
/// itself, and a drain of its own would fight it. The lease lives on the coordinator agent,
/// found as `bbctl upgrade` finds it. An unreachable coordinator is only a warning (returned).
async fn refuse_during_upgrade(ctx: &Ctx) -> anyhow::Result<Option<String>> {
    let Ok(coordinator) = super::upgrade::coordinator(ctx) else {
        return Ok(None);
    };
    match coordinator.lease_get().await {
        Ok(lease) if lease.kind == LeaseKind::Upgrade => Err(Failure::refused(format!(
            "refusing to drain: an upgrade holds the fleet lease ({}: {}); follow it with \
             `bbctl upgrade status`, or wait for it to end",
            lease.holder, lease.reason
        ))
        .into()),
        Ok(_) => Ok(None),
        Err(crate::client::ApiError::Agent { status: 404, .. }) => Ok(None),
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

/// `user@host` of the operator, for the agent's audit log.
fn requested_by() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{user}@{host}")
}
