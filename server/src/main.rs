//! The `bbctl-agent` binary: load the config (exit 2 with one line naming a bad setting), open
//! the state, bind, tell systemd it is ready (`Type=notify`, when started by it), serve until
//! SIGTERM or SIGINT. Stopping never touches the master: it keeps running, and a drain in
//! progress resumes when the agent starts again (docs/drain.md). `bbctl-agent man` prints the
//! man page; `init` and `check-config` are the setup commands of `bbctl_agent::setup`, whose
//! reports this file prints and whose outcomes it maps to exit codes.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use bbctl_agent::config::AgentConfig;
use clap::{CommandFactory, Parser, Subcommand};

/// The control server beside one Buildbot master.
#[derive(Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Args {
    /// The TOML config file (default: $BBCTL_AGENT_CONFIG). See docs/agent-config.md.
    #[arg(long, short)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Print the man page (roff) on stdout: `bbctl-agent man > bbctl-agent.1`.
    Man,
    /// Write an agent config for a Buildbot master that already exists.
    ///
    /// Reads the basedir (buildbot.tac, master.cfg as text — never executed —, twistd.pid and
    /// the process it names, twistd.log) and writes a config that `check-config` and the agent
    /// load. Prints the path written, then `found: KEY = VALUE (how)` for each value,
    /// `check: …` for each guess to confirm and `note: …`. Exit 0 written, 2 bad input (no
    /// buildbot.tac, a bad --name), 5 the output exists and --force was not given, 1 it could
    /// not be written. See docs/agent-config.md, "Setup commands".
    Init(InitArgs),
    /// Check a config without starting the agent.
    ///
    /// Loads FILE as the agent does (environment overrides included), then probes what it
    /// names: the basedir, the buildbot executable, the state_dir, the listen address, the
    /// master's REST API (GET api/v2/masters, 5 s), the load balancer and the fleet store.
    /// Prints one `ok: …`, `problem: …` or `note: …` line each. Exit 0 no problem, 1 a
    /// problem, 2 the file does not load (one `problem:` line from the loader).
    CheckConfig {
        /// The agent config (TOML) to check.
        file: PathBuf,
    },
}

#[derive(clap::Args)]
struct InitArgs {
    /// The master's basedir: the directory holding buildbot.tac.
    #[arg(long, value_name = "DIR")]
    basedir: PathBuf,
    /// The agent's name (default: the basedir's last component, normalised to
    /// [a-z0-9][a-z0-9._-]{0,62}).
    #[arg(long)]
    name: Option<String>,
    /// The agent's listen address (default 127.0.0.1:7700; each agent on a host needs its own).
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
    /// The agent's state directory (default /var/lib/bbctl-agent/NAME).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// The API token file (default /etc/bbctl/token); a missing one is listed under `check`.
    #[arg(long, value_name = "PATH")]
    token_file: Option<PathBuf>,
    /// Where to write the config (default /etc/bbctl/agents/NAME.toml; written atomically,
    /// mode 0600).
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Replace the output file if it exists (without it: exit 5, nothing written).
    #[arg(long)]
    force: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match args.command {
        Some(Command::Man) => return print_man(),
        Some(Command::Init(init)) => return setup_command(run_init(init)),
        Some(Command::CheckConfig { file }) => return setup_command(run_check(file)),
        None => {}
    }
    let config = match AgentConfig::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bbctl-agent: {e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bbctl-agent: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bbctl-agent: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn print_man() -> ExitCode {
    let mut page = Vec::new();
    if let Err(e) = bbctl_agent::manpage::render(&Args::command(), &mut page) {
        eprintln!("bbctl-agent: {e}");
        return ExitCode::FAILURE;
    }
    use std::io::Write;
    match std::io::stdout().write_all(&page) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

/// Prints a setup command's lines on stdout; a closed pipe ends the printing quietly.
fn print_lines(lines: impl IntoIterator<Item = String>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for line in lines {
        if writeln!(out, "{line}").is_err() {
            return;
        }
    }
}

/// Runs a setup command on a small runtime of its own (no logging: its report is its output).
fn setup_command(command: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(command),
        Err(e) => {
            eprintln!("bbctl-agent: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `init`: the path written, then the report. Exit 0, 2 bad input, 5 refused, 1 not written.
async fn run_init(args: InitArgs) -> ExitCode {
    use bbctl_agent::setup::{init, init_render};
    let options = init::InitOptions {
        basedir: args.basedir,
        name: args.name,
        listen: args.listen,
        state_dir: args.state_dir,
        token_file: args.token_file,
        output: args.output,
        force: args.force,
        search_path: std::env::var_os("PATH"),
    };
    let written = match init::inspect(&options).await {
        Ok(found) => init::write(
            &found.output,
            &init_render::config_toml(&found),
            options.force,
        )
        .map(|()| found),
        Err(e) => Err(e),
    };
    match written {
        Ok(found) => {
            let wrote = format!("wrote: {}", found.output.display());
            let report = init_render::report(&found)
                .into_iter()
                .map(|l| l.to_string());
            print_lines(std::iter::once(wrote).chain(report));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bbctl-agent: {e}");
            ExitCode::from(match e {
                init::InitError::NotABasedir(_) | init::InitError::BadName(_) => 2,
                init::InitError::Exists(_) => 5,
                init::InitError::Write { .. } => 1,
            })
        }
    }
}

/// `check-config`: one line per finding. Exit 0 no problem, 1 a problem, 2 does not load.
async fn run_check(file: PathBuf) -> ExitCode {
    use bbctl_agent::setup::check::{Checked, check_config};
    let checked = check_config(&file).await;
    let code = match &checked {
        Checked::NotLoaded(_) => 2,
        Checked::Probed(_) => u8::from(checked.has_problem()),
    };
    match checked {
        Checked::NotLoaded(e) => print_lines([format!("problem: {e}")]),
        Checked::Probed(lines) => print_lines(lines.iter().map(ToString::to_string)),
    }
    ExitCode::from(code)
}

async fn run(config: AgentConfig) -> anyhow::Result<()> {
    let listen = config.listen;
    let state = bbctl_agent::build_state(config).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("bad setting `listen`: cannot bind {listen}"))?;
    // The event sources (polling, and the WAMP source once wired: see startup::spawn_background).
    let tasks = bbctl_agent::spawn_background(&state);
    // The socket is bound and the state open: requests are answered from here on.
    match bbctl_agent::notify::notify("READY=1") {
        Ok(true) => tracing::info!("told systemd the agent is ready"),
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "could not tell systemd the agent is ready"),
    }
    bbctl_agent::serve(listener, state.clone(), shutdown_signal()).await?;
    for t in tasks {
        t.abort();
    }
    bbctl_agent::startup::deregister(&state).await;
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
    tracing::info!("shutting down");
    let _ = bbctl_agent::notify::notify("STOPPING=1");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_cli() {
        Args::command().debug_assert();
    }
}
