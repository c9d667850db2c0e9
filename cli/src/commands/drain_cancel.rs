//! `bbctl drain cancel NAME`: cancel a drain in progress; the master returns to full service (or,
//! for a drain that continued a cordon, to the cordon). A cordoned master is refused: uncordon
//! lifts a cordon.

use crate::cli::MasterNameArgs;
use crate::ctx::Ctx;
use crate::report::{DrainRow, Outcome, Report};

pub async fn run(args: &MasterNameArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let client = ctx.resolve(&args.name).await?;
    super::cordon::refuse_cancel_of_cordon(client.name(), &client.drain_status().await?)?;
    let status = client.drain_cancel().await?;
    let row = DrainRow {
        master: client.name().to_string(),
        status,
    };
    Ok(Outcome::ok(Report::Drain(Box::new(row))))
}
