//! The command-line grammar of `bbctl`: every subcommand, flag and help text.
//!
//! This module depends on nothing but `clap` and `std` so that `build.rs` can compile the very
//! same definitions (`#[path = "src/cli/mod.rs"]`) and render the man page from them. The command
//! modules (`crate::commands`) hold the behaviour; this one only says what can be typed.

mod duration;
mod upgrade;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use duration::parse_duration;
#[allow(unused_imports)] // build.rs compiles this module without the command code.
pub use upgrade::{AbortArgs, ResumeArgs, Strategy, UpgradeAction, UpgradeArgs, UpgradeIdArgs};

/// The exit codes, shown at the end of `bbctl --help` and in the man page.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  the operation failed (an agent refused the token, a start failed, a drain failed, ...)
  2  usage error (bad flag, unknown master name, unreadable or invalid inventory)
  3  partial: some agents could not be reached (their rows say `unreachable`); `upgrade`: an
     agent stayed unreachable past --pause-timeout (the upgrade is resumable)
  4  a drain deadline passed before the master drained
  5  refused: conflict with the current state (e.g. already running), or a destructive
     command without --yes and no terminal to ask on; `upgrade`: refused in pre-flight or by
     the fleet lease, or an infeasible plan with --dry-run
  6  `upgrade`: rolled back (a new master failed its gate, or `upgrade abort`); the old masters
     serve as before
  7  stalled: a followed drain cannot progress (a step, e.g. the load balancer, has kept failing
     for longer than --stall-timeout); the agent keeps retrying
  130  interrupted (Ctrl-C) while following a drain; the drain goes on

Inventory: --inventory PATH, else $BBCTL_INVENTORY, else ./bbctl.toml, else
$XDG_CONFIG_HOME/bbctl/bbctl.toml (default ~/.config/bbctl/bbctl.toml).
Without an inventory, --agent URL (repeatable) with --token-file PATH or $BBCTL_TOKEN.";

/// The operator's CLI for Buildbot multimaster fleets: fleet view, drain, start and stop.
#[derive(Debug, Parser)]
#[command(name = "bbctl", version, about, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags accepted by every subcommand.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The fleet inventory (bbctl.toml).
    #[arg(long, global = true, env = "BBCTL_INVENTORY", value_name = "PATH")]
    pub inventory: Option<PathBuf>,
    /// Talk to this agent instead of the inventory's (repeatable).
    #[arg(long = "agent", global = true, value_name = "URL")]
    pub agents: Vec<String>,
    /// A file holding the bearer token for --agent (else $BBCTL_TOKEN).
    #[arg(long, global = true, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// PEM file of the CA that signs the agents' certificates (https:// agents); overrides the
    /// inventory's `ca_file`. Without one, the built-in roots are used.
    #[arg(long, global = true, env = "BBCTL_CA_FILE", value_name = "PATH")]
    pub ca_file: Option<PathBuf>,
    /// Output format: `table` for people, `wide` for more columns, `json` for scripts.
    #[arg(short, long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// Per-request timeout (overrides the inventory's `timeout_secs`; default 5s).
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Do not read the fleet registry: the inventory's [[masters]] only (an inventory of
    /// [[seeds]] only is then refused).
    #[arg(long, global = true, env = "BBCTL_NO_REGISTRY")]
    pub no_registry: bool,
}

/// How results are rendered on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Wide,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The masters of the fleet.
    #[command(subcommand)]
    Masters(MastersCommand),
    /// The workers of the fleet and the master each is attached to.
    #[command(subcommand)]
    Workers(WorkersCommand),
    /// The builds running in the fleet.
    #[command(subcommand)]
    Builds(BuildsCommand),
    /// The schedulers and change sources of the fleet and the master that owns each.
    #[command(subcommand)]
    Schedulers(SchedulersCommand),
    /// Start a master. A master a finished drain took out of the load balancer's rotation is put
    /// back once it runs (unless --keep-out-of-rotation); the output says which.
    Start(StartArgs),
    /// Stop a master (graceful by default: running builds finish first).
    Stop(StopArgs),
    /// Drain masters: stop routing work to them, wait for builds to end and workers to leave,
    /// then stop them. Re-running it re-attaches to a drain in progress (and applies a new
    /// --deadline / --force-after-deadline to it).
    Drain(DrainArgs),
    /// Cordon masters: the load balancer routes no new worker connection to them and their
    /// workers are handed off as they go idle, but the masters keep running (UI, REST,
    /// schedulers) and are never stopped. A later `bbctl drain` continues from there.
    Cordon(CordonArgs),
    /// Uncordon masters: back in the load balancer's rotation, their paused workers unpaused.
    Uncordon(UncordonArgs),
    /// Whether the load balancer routes workers to a master, and putting it back in rotation.
    #[command(subcommand)]
    Routing(RoutingCommand),
    /// The fleet's event stream, merged from every agent.
    Events(EventsArgs),
    /// Upgrade the whole fleet to a new configuration: plan, pre-flight, blue-green or rolling,
    /// verify. Journaled on the coordinator agent, resumable from any machine.
    Upgrade(UpgradeArgs),
    /// Write a bbctl.toml for the agents given with --agent (and, unless --no-registry, every
    /// agent of their fleet registry): each asked for its name; printed on stdout, or --file.
    InitInventory(InitInventoryArgs),
    /// Print a shell completion script.
    Completion(CompletionArgs),
    /// Print the man page (roff) that the build generated.
    #[command(hide = true)]
    Man,
}

#[derive(Debug, Subcommand)]
pub enum MastersCommand {
    /// One row per master: state, config, version, workers, builds, uptime, source (inventory,
    /// fleet registry or both); then the rows of Buildbot's masters table no agent claims.
    List(MastersListArgs),
    /// Everything about one master, its workers and builds.
    Show(MasterNameArgs),
    /// Run a dead master's housekeeping now, with Buildbot's own code: its running builds end
    /// RETRY and its claimed build requests go back to the queue for the live masters
    /// (docs/masters.md). Refused unless the master is proven gone.
    Expire(MastersExpireArgs),
    /// Hide rows of Buildbot's masters table that are inactive and referenced by nothing
    /// (kept in bbctl's fleet store; Buildbot's tables are not written).
    Prune(MastersPruneArgs),
}

#[derive(Debug, Args)]
pub struct MastersListArgs {
    /// Also list the rows of Buildbot's masters table hidden by `masters prune`.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct MastersExpireArgs {
    /// The master: its inventory name, its Buildbot name (`host:basedir`) or `#<id>` (the row
    /// of Buildbot's masters table).
    pub name: String,
    /// The master's host is gone: database sessions that cannot be attributed to a master do
    /// not stop the expiry (audited). If the host still runs the master, builds run twice.
    #[arg(long)]
    pub host_gone: bool,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct MastersPruneArgs {
    /// Only say which rows would be hidden.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum RoutingCommand {
    /// The load balancer's routing state of a master: ready, maint, drain, unmanaged or unknown.
    Status(MasterNameArgs),
    /// Put a master back in the load balancer's rotation (refused while a drain holds it: cancel
    /// the drain instead, and while it is not running).
    Resume(MasterNameArgs),
}

#[derive(Debug, Subcommand)]
pub enum WorkersCommand {
    /// Every worker, the master it is on, idle/busy, paused.
    List(FilterArgs),
    /// Even the workers out over the masters that take them (by `weight`, keeping `[[pins]]`):
    /// idle workers moved one at a time, busy ones never interrupted.
    Rebalance(RebalanceArgs),
}

#[derive(Debug, Args)]
pub struct RebalanceArgs {
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Move at most N workers (per round with --watch, default 5 there).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_moves: Option<u64>,
    /// How long each move waits for its worker on another master (1s to 10m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "30s")]
    pub move_timeout: Duration,
    /// Keep the fleet balanced: a run every --interval until Ctrl-C (exit 130).
    #[arg(long)]
    pub watch: bool,
    /// With --watch: the time between runs.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "60s", requires = "watch")]
    pub interval: Duration,
}

#[derive(Debug, Subcommand)]
pub enum BuildsCommand {
    /// The running builds: builder, worker, master, age.
    List(FilterArgs),
}

#[derive(Debug, Subcommand)]
pub enum SchedulersCommand {
    /// Every scheduler and change source with its owner; unowned ones marked (nothing triggers
    /// them until a master claims them).
    List(FilterArgs),
}

#[derive(Debug, Args)]
pub struct MasterNameArgs {
    /// The master's name in the inventory.
    pub name: String,
}

#[derive(Debug, Args)]
pub struct FilterArgs {
    /// Only those on this master.
    #[arg(long, value_name = "NAME")]
    pub master: Option<String>,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// The master's name in the inventory.
    pub name: String,
    /// Why (recorded in the agent's audit log).
    #[arg(long)]
    pub reason: Option<String>,
    /// Leave a master that a finished drain took out of the load balancer's rotation out of it
    /// (`bbctl routing resume NAME` puts it back later).
    #[arg(long)]
    pub keep_out_of_rotation: bool,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// The master's name in the inventory.
    pub name: String,
    /// SIGTERM instead of SIGUSR1: running builds are cancelled and not retried.
    #[arg(long)]
    pub immediate: bool,
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub yes: bool,
    /// Why (recorded in the agent's audit log).
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct DrainArgs {
    #[command(subcommand)]
    pub action: Option<DrainAction>,
    /// The masters to drain.
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,
    /// After this long (e.g. 30m, 1h30m) running builds count as overdue.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub deadline: Option<Duration>,
    /// When the deadline passes, end overdue builds so Buildbot re-queues them elsewhere.
    #[arg(long, requires = "deadline")]
    pub force_after_deadline: bool,
    /// Why (recorded in the agent's audit log).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Start the drains and return at once instead of following them.
    #[arg(long)]
    pub detach: bool,
    /// Stop following (exit 7) a drain whose step (e.g. the load balancer) has kept failing this
    /// long; the agent keeps retrying.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "2m")]
    pub stall_timeout: Duration,
}

#[derive(Debug, Args)]
pub struct CordonArgs {
    /// The masters to cordon.
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,
    /// Why (recorded in the agent's audit log, shown in `drain status`).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct UncordonArgs {
    /// The masters to uncordon.
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum DrainAction {
    /// The drain in progress (or the last one) of a master.
    Status(MasterNameArgs),
    /// Cancel a drain in progress: the master returns to full service.
    Cancel(MasterNameArgs),
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Keep streaming new events until interrupted.
    #[arg(short, long)]
    pub follow: bool,
}

#[derive(Debug, Args)]
pub struct InitInventoryArgs {
    /// Write the inventory to this file (mode 0600) instead of stdout.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Overwrite --file when it exists.
    #[arg(long, requires = "file")]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell to generate the script for.
    #[arg(value_enum)]
    pub shell: CompletionShell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}
