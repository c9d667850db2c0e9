//! `bbctl workers list`: every worker, the master it is on, idle/busy, paused.

use crate::cli::FilterArgs;
use crate::ctx::Ctx;
use crate::report::{Outcome, Report, WorkerRow};

pub async fn run(args: &FilterArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    super::fleet::check_filter(ctx, args.master.as_deref()).await?;
    let (fleet, mut outcome) = super::fleet::load(ctx).await?;
    let mut rows: Vec<WorkerRow> = fleet
        .view
        .workers
        .iter()
        .map(|worker| {
            let masterid = worker.connected_to.first().copied();
            WorkerRow {
                name: worker.name.clone(),
                workerid: worker.workerid,
                master: masterid.map(|id| fleet.master_name(id)),
                masterid,
                state: if worker.idle() { "idle" } else { "busy" }.to_string(),
                paused: worker.paused,
                pause_reason: worker.pause_reason.clone(),
                builds: worker.builds.clone(),
                worker: worker.clone(),
            }
        })
        .filter(|row| args.master.is_none() || row.master == args.master)
        .collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    outcome.report = Report::Workers(rows);
    Ok(outcome)
}
