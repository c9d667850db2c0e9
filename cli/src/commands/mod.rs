//! One module per subcommand: each parses nothing (clap did) and prints nothing to stdout (the
//! output module does); it talks to the agents and returns an [`Outcome`].

mod builds_list;
mod completion;
mod cordon;
mod drain;
mod drain_cancel;
mod drain_change;
mod drain_follow;
mod drain_status;
mod events;
mod fleet;
pub mod init_inventory;
mod master_names;
mod masters_expire;
mod masters_list;
mod masters_prune;
mod masters_show;
mod masters_unclaimed;
mod rebalance;
mod routing;
mod schedulers;
mod schedulers_list;
mod start;
mod stop;
mod upgrade;
mod workers_list;

use crate::cli::{BuildsCommand, Command, MastersCommand, SchedulersCommand, WorkersCommand};
use crate::ctx::Ctx;
use crate::exit::Exit;
use crate::report::{OperationRow, Outcome, Report};

/// Runs the command the user typed.
pub async fn run(command: &Command, ctx: &Ctx) -> anyhow::Result<Outcome> {
    match command {
        Command::Masters(MastersCommand::List(args)) => masters_list::run(args, ctx).await,
        Command::Masters(MastersCommand::Show(args)) => masters_show::run(args, ctx).await,
        Command::Masters(MastersCommand::Expire(args)) => masters_expire::run(args, ctx).await,
        Command::Masters(MastersCommand::Prune(args)) => masters_prune::run(args, ctx).await,
        Command::Workers(WorkersCommand::List(args)) => workers_list::run(args, ctx).await,
        Command::Workers(WorkersCommand::Rebalance(args)) => rebalance::run(args, ctx).await,
        Command::Builds(BuildsCommand::List(args)) => builds_list::run(args, ctx).await,
        Command::Schedulers(SchedulersCommand::List(args)) => schedulers_list::run(args, ctx).await,
        Command::Start(args) => start::run(args, ctx).await,
        Command::Stop(args) => stop::run(args, ctx).await,
        Command::Drain(args) => drain::run(args, ctx).await,
        Command::Cordon(args) => cordon::cordon(args, ctx).await,
        Command::Uncordon(args) => cordon::uncordon(args, ctx).await,
        Command::Routing(command) => routing::run(command, ctx).await,
        Command::Events(args) => events::run(args, ctx).await,
        Command::Upgrade(args) => upgrade::run(args, ctx).await,
        Command::Completion(_) | Command::Man => {
            unreachable!("handled by run_offline")
        }
        Command::InitInventory(_) => unreachable!("handled by lib::execute (it needs the paths)"),
    }
}

/// Commands that need no inventory and no network.
pub fn run_offline(command: &Command) -> Option<anyhow::Result<Outcome>> {
    match command {
        Command::Completion(args) => Some(completion::run(args)),
        Command::Man => Some(Ok(completion::man())),
        _ => None,
    }
}

/// The outcome of a lifecycle operation: `ok = false` is a failure (exit 1).
fn operation_outcome(row: OperationRow) -> Outcome {
    let exit = if row.result.ok {
        Exit::Ok
    } else {
        Exit::Failed
    };
    let mut warnings = Vec::new();
    if !row.result.ok {
        warnings.push(format!("error: {}: {}", row.master, row.result.message));
    }
    Outcome {
        report: Report::Operation(Box::new(row)),
        exit,
        warnings,
    }
}
