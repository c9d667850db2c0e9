//! `bbctl drain status NAME`: the drain in progress (or the last one) of a master.

use crate::cli::MasterNameArgs;
use crate::ctx::Ctx;
use crate::report::{DrainRow, Outcome, Report};

pub async fn run(args: &MasterNameArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let client = ctx.resolve(&args.name).await?;
    let status = client.drain_status().await?;
    let row = DrainRow {
        master: client.name().to_string(),
        status,
    };
    Ok(Outcome::ok(Report::Drain(Box::new(row))))
}
