//! `bbctl`, the operator's CLI for Buildbot multimaster fleets, as a library: the binary is a
//! thin `main`, and the integration tests use the documented JSON row types of [`report`].
//!
//! Invariants: no axum, no diesel — the CLI knows the agents only through the wire types of
//! `bbctl-api`. Nothing below [`run`] exits the process or writes data outside [`output`].

pub mod cli;
pub mod client;
mod commands;
pub mod ctx;
pub mod discovery;
pub mod exit;
pub mod inventory;
pub mod names;
pub mod operator;
pub mod output;
mod prompt;
pub mod report;
pub mod secret;
pub mod time;

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::ctx::{Ctx, Terminal};
use crate::exit::{Exit, Failure, is_broken_pipe};
use crate::inventory::{Inventory, Source};
use crate::report::Outcome;

/// Runs a parsed command line to its exit code: renders the outcome on stdout, diagnostics on
/// stderr.
pub fn run(cli: Cli) -> ExitCode {
    let terminal = Terminal::detect();
    let result = commands::run_offline(&cli.command).unwrap_or_else(|| execute(&cli, terminal));
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(err) => return report_error(&err).into(),
    };
    for warning in &outcome.warnings {
        eprintln!("{warning}");
    }
    match output::render(&outcome.report, cli.global.output, terminal.stdout) {
        Ok(()) => outcome.exit.into(),
        Err(err) if is_broken_pipe(&err) => outcome.exit.into(),
        Err(err) => report_error(&err).into(),
    }
}

fn execute(cli: &Cli, terminal: Terminal) -> anyhow::Result<Outcome> {
    let mut inventory = Inventory::load(Source {
        inventory: cli.global.inventory.as_deref(),
        agents: &cli.global.agents,
        token_file: cli.global.token_file.as_deref(),
        ca_file: cli.global.ca_file.as_deref(),
    })?;
    if let Some(timeout) = cli.global.timeout {
        inventory.timeout = timeout;
    }
    let ctx = Ctx::new(
        cli.global.output,
        terminal,
        inventory,
        client::http_client()?,
    )
    .with_ca_clients()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let no_registry = cli.global.no_registry;
    runtime.block_on(async {
        let ctx = if no_registry {
            ctx.static_only()?
        } else {
            ctx.discover().await?
        };
        match &cli.command {
            Command::InitInventory(args) => {
                let defaults = commands::init_inventory::Defaults {
                    token_file: cli.global.token_file.as_deref(),
                    ca_file: cli.global.ca_file.as_deref(),
                };
                commands::init_inventory::run(args, &defaults, &ctx).await
            }
            command => commands::run(command, &ctx).await,
        }
    })
}

/// Prints an error (`error: <agent>: <message>`) and its agent-supplied details; returns its
/// exit code. A closed stdout pipe is no error worth a word.
fn report_error(err: &anyhow::Error) -> Exit {
    let exit = exit_for(err);
    if is_broken_pipe(err) {
        return exit;
    }
    eprintln!("error: {err:#}");
    let details = err
        .chain()
        .find_map(|c| c.downcast_ref::<client::ApiError>())
        .and_then(|e| e.details());
    if let Some(details) = details {
        print_details(details);
    }
    exit
}

/// Agent error details: log lines one per line, anything else as JSON.
fn print_details(details: &serde_json::Value) {
    let lines = details
        .get("log_lines")
        .or_else(|| details.get("output"))
        .unwrap_or(details);
    match lines {
        serde_json::Value::Array(items) => {
            for item in items {
                eprintln!(
                    "  {}",
                    item.as_str()
                        .map_or_else(|| item.to_string(), str::to_string)
                );
            }
        }
        serde_json::Value::String(text) => {
            for line in text.lines() {
                eprintln!("  {line}");
            }
        }
        other => eprintln!("  {other}"),
    }
}

/// The exit code for an error that reached `main`: the first [`Failure`] or agent error in its
/// chain decides; anything else is an operation failure.
fn exit_for(err: &anyhow::Error) -> Exit {
    for cause in err.chain() {
        if let Some(failure) = cause.downcast_ref::<Failure>() {
            return failure.exit;
        }
        if let Some(api) = cause.downcast_ref::<client::ApiError>() {
            return Exit::from(api);
        }
        if let Some(ca) = cause.downcast_ref::<client::CaFileError>() {
            return Exit::from(ca);
        }
    }
    Exit::Failed
}
