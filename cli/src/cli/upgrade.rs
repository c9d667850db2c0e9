//! The grammar of `bbctl upgrade`: start an upgrade, or act on one (`status`, `resume`,
//! `abort`, `history`).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

use super::parse_duration;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct UpgradeArgs {
    #[command(subcommand)]
    pub action: Option<UpgradeAction>,
    /// The new configuration: a master.cfg, or a directory bundle holding one (the same for
    /// every master).
    #[arg(long, required = true, value_name = "PATH")]
    pub new_config: Option<PathBuf>,
    /// The Buildbot the new masters run: a venv on the agents' hosts (its bin/buildbot is
    /// used) or a `buildbot` executable, an absolute path. Default: the one the running masters
    /// run.
    #[arg(long, value_name = "VENV_OR_EXECUTABLE")]
    pub buildbot: Option<String>,
    /// blue-green (new masters on standby slots, then drain the old ones; the default when
    /// idle slots exist), rolling (batch by batch: drain, switch, start), or migrate (across a
    /// DB schema change: stop every old master, back up, `upgrade-master`, start the new ones;
    /// chosen automatically when the new Buildbot's DB schema head is newer).
    #[arg(long, value_enum)]
    pub strategy: Option<Strategy>,
    /// migrate: run without a backup of the Buildbot DB. Then nothing can restore it: a failed
    /// migration that changed the DB is not rolled back.
    #[arg(long)]
    pub no_backup: bool,
    /// migrate: back up with the agent's own `[buildbot_db] backup_command` instead of
    /// `pg_dump` (then bbctl cannot restore it).
    #[arg(long, conflicts_with = "no_backup")]
    pub backup_command: bool,
    /// migrate: kill `buildbot upgrade-master` after this long (it ignores SIGTERM).
    #[arg(long, default_value = "30m", value_name = "DURATION", value_parser = parse_duration)]
    pub migration_timeout: Duration,
    /// Rolling: masters per batch.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub batch: usize,
    /// Never fewer than N masters accepting builds during the upgrade.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub min_serving: usize,
    /// Drain deadline per old master (e.g. 30m): after it, running builds are overdue.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub deadline: Option<Duration>,
    /// When the drain deadline passes, end overdue builds so Buildbot re-queues them (RETRY).
    #[arg(long, requires = "deadline")]
    pub force_after_deadline: bool,
    /// In verify, wait (at most one 5-minute Buildbot poll) until every scheduler and change
    /// source is owned by a new master, instead of reporting when that will happen.
    #[arg(long)]
    pub wait_schedulers: bool,
    /// When an agent stops answering mid-upgrade, pause and wait this long (e.g. 15m) for it to
    /// come back before stopping (the upgrade stays resumable).
    #[arg(long, default_value = "15m", value_name = "DURATION", value_parser = parse_duration)]
    pub pause_timeout: Duration,
    /// Upgrade a fleet with cordoned masters: each is drained as an old master (its drain
    /// continues the cordon; a rollback returns it to the cordon). Without it a cordoned master
    /// refuses the upgrade (exit 5). Blue-green and rolling only.
    #[arg(long)]
    pub include_cordoned: bool,
    /// Blue-green with a canary: start N new masters first, hand them a share of the idle
    /// workers and let them take real builds beside the old masters; a gate then compares them
    /// with the old ones (EXCEPTION and RETRY rates, builds that never finish, tracebacks,
    /// "reconfig partially applied", WAMP): pass → promote (the rest of blue-green), fail →
    /// roll back (exit 6).
    #[arg(long, value_name = "N")]
    pub canary: Option<usize>,
    /// Canary: how long the canaries take builds before the gate decides.
    #[arg(long, default_value = "10m", value_name = "DURATION", value_parser = parse_duration, requires = "canary")]
    pub analysis_window: Duration,
    /// Canary: decide as soon as the canaries finished K builds (at most the window).
    #[arg(long, value_name = "K", requires = "canary")]
    pub analysis_builds: Option<u32>,
    /// Canary: a passed gate goes on by itself; without it the upgrade waits for `bbctl
    /// upgrade promote`.
    #[arg(long, requires = "canary")]
    pub auto_promote: bool,
    /// Canary: how much higher (a fraction, 0–1) than the old masters' the canaries' rate of
    /// EXCEPTION and RETRY results may be.
    #[arg(
        long,
        default_value_t = 0.05,
        value_name = "FRACTION",
        requires = "canary"
    )]
    pub gate_error_margin: f64,
    /// Canary: tracebacks a canary master may log beyond the old masters' mean.
    #[arg(long, default_value_t = 0, value_name = "N", requires = "canary")]
    pub gate_tracebacks: u32,
    /// Canary: count FAILURE results as errors too (by default a failing build is the code's
    /// business, not the master's).
    #[arg(long, requires = "canary")]
    pub gate_count_failures: bool,
    /// Print the plan and stop; the exit code says whether it is feasible (0) or not (5).
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub yes: bool,
    /// Run the upgrade in the background after the pre-flight; print its id and return.
    #[arg(long)]
    pub detach: bool,
    /// Why (shown to anyone the fleet lease refuses, recorded in the journal).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

/// How the new configuration replaces the old one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Strategy {
    BlueGreen,
    Rolling,
    Migrate,
}

#[derive(Debug, Subcommand)]
pub enum UpgradeAction {
    /// The journal of an upgrade (default: the newest).
    Status(UpgradeIdArgs),
    /// Continue an interrupted upgrade from its journal (default: the newest unfinished).
    Resume(ResumeArgs),
    /// Roll an upgrade back: stop its new masters, return the old ones to full service.
    Abort(AbortArgs),
    /// Every upgrade, newest first.
    History,
    /// Continue a canary upgrade past its gate (it waits, `awaiting_promotion`): start the
    /// other new masters and drain the old ones.
    Promote(UpgradeIdArgs),
}

#[derive(Debug, Args)]
pub struct UpgradeIdArgs {
    /// The upgrade id (`up-…`).
    pub id: Option<String>,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The upgrade id (`up-…`).
    pub id: Option<String>,
    /// Take the upgrade's fleet lease even though another run still holds it (that run's host
    /// is lost, or its process stopped): that run is refused at its next call and stops.
    #[arg(long)]
    pub take_over: bool,
}

#[derive(Debug, Args)]
pub struct AbortArgs {
    /// The upgrade id (`up-…`).
    pub id: Option<String>,
    /// migrate, past the point of no return (a new master has been in rotation): restore the
    /// backup anyway. Every build the new masters ran since the backup is lost from the DB and
    /// its request runs again, with build numbers reused.
    #[arg(long)]
    pub restore_db: bool,
}
