//! `bbctl start NAME [--keep-out-of-rotation]`: start a master through its agent. The agent
//! puts a master that a finished drain took out of the load balancer's rotation back once it
//! runs; the answer's `routing` says what it did, and a master left out of rotation gets a
//! warning naming the command that puts it back.

use std::time::Duration;

use bbctl_api::{RoutingAction, StartRequest, StartRouting};

use crate::cli::StartArgs;
use crate::ctx::Ctx;
use crate::exit::Exit;
use crate::report::{OperationRow, Outcome};

/// How long the CLI waits for the agent's answer: the agent answers once the master
/// runs and is active, or once its `master.start_timeout_secs` passed, which `--timeout` (a
/// per-request timeout for quick calls) must not cut short.
const START_WAIT: Duration = Duration::from_secs(300);

pub async fn run(args: &StartArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let client = ctx.resolve(&args.name).await?;
    let client = client.with_timeout(START_WAIT);
    let request = StartRequest {
        reason: args.reason.clone(),
        keep_out_of_rotation: args.keep_out_of_rotation,
    };
    let result = client.start(&request).await?;
    let routing = result.routing.clone();
    let mut outcome = super::operation_outcome(OperationRow {
        master: args.name.clone(),
        result,
    });
    if let Some(routing) = routing {
        routing_warning(&mut outcome, &args.name, &routing);
    }
    Ok(outcome)
}

/// A started master that does not get workers: a warning on stderr, and exit 1 when routing
/// could not be put back although it should have been.
fn routing_warning(outcome: &mut Outcome, name: &str, routing: &StartRouting) {
    let hint = format!("`bbctl routing resume {name}` puts it back in rotation");
    let warning = match routing.action {
        RoutingAction::Resumed | RoutingAction::InRotation | RoutingAction::Unmanaged => return,
        RoutingAction::KeptOut => format!("note: {name}: {}; {hint}", routing.message),
        RoutingAction::LeftOut => format!("warning: {name}: {}; {hint}", routing.message),
        RoutingAction::HeldByDrain => format!(
            "warning: {name}: {}; `bbctl drain cancel {name}` does that",
            routing.message
        ),
        RoutingAction::Failed => {
            outcome.exit = outcome.exit.worst(Exit::Failed);
            format!(
                "error: {name}: the master runs but {}; {hint}",
                routing.message
            )
        }
    };
    outcome.warnings.push(warning);
}
