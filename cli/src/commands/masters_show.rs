//! `bbctl masters show NAME`: everything about one master, its workers and builds.

use crate::cli::MasterNameArgs;
use crate::ctx::Ctx;
use crate::report::{Outcome, Report};

pub async fn run(args: &MasterNameArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let client = ctx.resolve(&args.name).await?;
    let info = client.master().await?;
    let target = ctx
        .targets()
        .iter()
        .find(|t| t.url == *client.url())
        .expect("resolve returns a client of a known target");
    ctx.note_agent_name(target, &info.agent_name);
    let mut row = super::masters_list::row(target, Ok(info));
    row.name = client.name().to_string();
    Ok(Outcome::ok(Report::Master(Box::new(row))))
}
