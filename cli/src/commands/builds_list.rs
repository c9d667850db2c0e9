//! `bbctl builds list`: the running builds of the fleet — builder, worker, master, age.

use crate::cli::FilterArgs;
use crate::ctx::Ctx;
use crate::report::{BuildRow, Outcome, Report};

pub async fn run(args: &FilterArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    super::fleet::check_filter(ctx, args.master.as_deref()).await?;
    let (fleet, mut outcome) = super::fleet::load(ctx).await?;
    let now = crate::time::now_secs();
    let mut rows: Vec<BuildRow> = fleet
        .view
        .builds
        .iter()
        .filter(|build| !build.complete)
        .map(|build| BuildRow {
            buildid: build.buildid,
            builder: build.builder_name.clone(),
            number: build.number,
            worker: build.worker_name.clone(),
            master: build.masterid.map(|id| fleet.master_name(id)),
            masterid: build.masterid,
            started_at: build.started_at,
            age_secs: build.started_at.map(|at| (now as i64 - at).max(0)),
            state_string: build.state_string.clone(),
            build: build.clone(),
        })
        .filter(|row| args.master.is_none() || row.master == args.master)
        .collect();
    rows.sort_by_key(|row| row.buildid);
    outcome.report = Report::Builds(rows);
    Ok(outcome)
}
