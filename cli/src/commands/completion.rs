//! `bbctl completion bash|zsh|fish`: the shell completion script, from the clap definitions.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{Cli, CompletionArgs, CompletionShell};
use crate::report::{Outcome, Report};

pub fn run(args: &CompletionArgs) -> anyhow::Result<Outcome> {
    let shell = match args.shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "bbctl", &mut script);
    Ok(Outcome::ok(Report::Text(String::from_utf8(script)?)))
}

/// The man page `build.rs` rendered (`bbctl man > bbctl.1`).
pub fn man() -> Outcome {
    Outcome::ok(Report::Text(
        include_str!(concat!(env!("OUT_DIR"), "/bbctl.1")).to_string(),
    ))
}
