//! The `bbctl-agent` binary: load the config (exit 2 with one line naming a bad setting), open
//! the state, bind, serve until SIGTERM or SIGINT.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use bbctl_agent::config::AgentConfig;
use clap::Parser;

/// The control server beside one Buildbot master.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// The TOML config file (default: $BBCTL_AGENT_CONFIG). See docs/agent-config.md.
    #[arg(long, short)]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
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
}
