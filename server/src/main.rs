//! The `bbctl-agent` binary: load the config (exit 2 with one line naming a bad setting), open
//! the state, bind, tell systemd it is ready (`Type=notify`, when started by it), serve until
//! SIGTERM or SIGINT. Stopping never touches the master: it keeps running, and a drain in
//! progress resumes when the agent starts again (docs/drain.md). `bbctl-agent man` prints the
//! man page.

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
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Command::Man) = args.command {
        let mut page = Vec::new();
        if let Err(e) = clap_mangen::Man::new(Args::command()).render(&mut page) {
            eprintln!("bbctl-agent: {e}");
            return ExitCode::FAILURE;
        }
        use std::io::Write;
        return match std::io::stdout().write_all(&page) {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        };
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
