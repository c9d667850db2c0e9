//! Re-running `bbctl drain NAME --deadline D [--force-after-deadline]` on a drain in progress
//! (issue 12): the new terms are applied (`PATCH /v1/drain`: the deadline counts from now, so it
//! extends or shortens the drain; a drain stopped at its deadline goes on), and the CLI says
//! what changed. Without those flags, re-running only re-attaches.

use bbctl_api::{DrainChange, DrainStatus};

use crate::cli::DrainArgs;
use crate::client::AgentClient;
use crate::exit::Exit;
use crate::output::drain as lines;
use crate::report::Outcome;
use crate::time::now_secs;

/// The change `args` ask of a drain that was already in progress, if any.
pub fn requested(args: &DrainArgs) -> Option<DrainChange> {
    if args.deadline.is_none() && !args.force_after_deadline {
        return None;
    }
    Some(DrainChange {
        deadline_secs: args.deadline.map(|d| d.as_secs_f64()),
        force_after_deadline: args.force_after_deadline.then_some(true),
        requested_by: Some(crate::operator::requested_by().to_string()),
    })
}

/// Applies the requested change to the drain `before` found in progress on `client`'s master;
/// returns its status afterwards. What changed (or why nothing could) goes to `outcome`.
pub async fn apply(
    client: &AgentClient,
    args: &DrainArgs,
    before: DrainStatus,
    outcome: &mut Outcome,
) -> DrainStatus {
    let Some(change) = requested(args) else {
        return before;
    };
    match client.drain_change(&change).await {
        Ok(after) => {
            outcome
                .warnings
                .push(lines::changed(client.name(), &before, &after, now_secs()));
            after
        }
        Err(err) => {
            outcome.exit = outcome.exit.worst(Exit::from(&err));
            outcome.warnings.push(format!(
                "error: the drain in progress was not changed: {err}"
            ));
            before
        }
    }
}
