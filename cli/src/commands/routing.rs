//! `bbctl routing status NAME` and `bbctl routing resume NAME`: whether the load balancer routes
//! new workers to a master, and putting it back in rotation (`GET /v1/routing`, `POST
//! /v1/routing/resume`). `bbctl start` puts a drained master back by itself; this is the
//! explicit way, e.g. after `bbctl start --keep-out-of-rotation`.

use bbctl_api::{RoutingResume, RoutingState};

use crate::cli::{MasterNameArgs, RoutingCommand};
use crate::client::ApiError;
use crate::ctx::Ctx;
use crate::report::{Outcome, Report, RoutingRow};

pub async fn run(command: &RoutingCommand, ctx: &Ctx) -> anyhow::Result<Outcome> {
    match command {
        RoutingCommand::Status(args) => status(args, ctx).await,
        RoutingCommand::Resume(args) => resume(args, ctx).await,
    }
}

async fn status(args: &MasterNameArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let client = ctx.resolve(&args.name).await?;
    let info = client.routing().await?;
    let mut outcome = Outcome::ok(Report::Streamed);
    if info.routing == RoutingState::Maint || info.routing == RoutingState::Drain {
        outcome.warnings.push(format!(
            "{}: out of rotation; `bbctl routing resume {}` puts it back",
            args.name, args.name
        ));
    }
    outcome.report = Report::Routing(Box::new(RoutingRow {
        master: args.name.clone(),
        hook: info.hook,
        routing: info.routing,
        before: None,
        reason: info.reason,
    }));
    Ok(outcome)
}

async fn resume(args: &MasterNameArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let client = ctx.resolve(&args.name).await?;
    let answer = client.routing_resume().await?;
    let change: RoutingResume = serde_json::from_value(answer).map_err(|e| ApiError::Protocol {
        agent: client.name().to_string(),
        detail: format!("/v1/routing/resume: {e}"),
    })?;
    Ok(Outcome::ok(Report::Routing(Box::new(RoutingRow {
        master: args.name.clone(),
        hook: change.hook,
        routing: change.routing,
        before: Some(change.before),
        reason: None,
    }))))
}
