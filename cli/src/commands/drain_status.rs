//! `bbctl drain status NAME`: the drain in progress (or the last one) of a master, its masters
//! named as in the inventory.

use super::master_names::MasterNames;
use crate::cli::MasterNameArgs;
use crate::ctx::Ctx;
use crate::report::{DrainRow, Outcome, Report};

pub async fn run(args: &MasterNameArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let client = ctx.resolve(&args.name).await?;
    let (status, names) = tokio::join!(client.drain_status(), MasterNames::load(ctx));
    let mut row = DrainRow {
        master: client.name().to_string(),
        status: status?,
    };
    names.apply(&mut row);
    Ok(Outcome::ok(Report::Drain(Box::new(row))))
}
