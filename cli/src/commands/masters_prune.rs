//! `bbctl masters prune [--dry-run]`: hide the rows of Buildbot's masters table that are
//! inactive and referenced by nothing (`POST /v1/buildbot-db/masters/prune` on the first agent
//! that answers, docs/masters.md). The agent writes only the fleet store's `hidden_masters`;
//! Buildbot's tables are not written. Rows kept are listed with their reason.

use bbctl_api::PruneMastersRequest;

use crate::cli::MastersPruneArgs;
use crate::client::ApiError;
use crate::ctx::Ctx;
use crate::exit::Failure;
use crate::report::{Outcome, Report};

pub async fn run(args: &MastersPruneArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let request = PruneMastersRequest {
        dry_run: args.dry_run,
    };
    let mut errors: Vec<ApiError> = Vec::new();
    for target in ctx.targets() {
        let client = ctx.client(target);
        match client.prune_masters(&request).await {
            Ok(result) => return Ok(Outcome::ok(Report::MastersPrune(Box::new(result)))),
            // Another agent may reach the database or the store.
            Err(e) if e.is_unreachable() || e.is(bbctl_api::ErrorCode::StoreUnavailable) => {
                errors.push(e)
            }
            Err(e) => return Err(e.into()),
        }
    }
    match errors.into_iter().next() {
        Some(e) => Err(anyhow::Error::new(e).context("no agent could prune the masters table")),
        None => Err(Failure::usage("no agent to ask: the inventory is empty").into()),
    }
}
