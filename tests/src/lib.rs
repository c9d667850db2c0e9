//! Harness for the end-to-end tests: they drive a real local Buildbot fleet started by
//! `scripts/fleet` (PostgreSQL, crossbar, masters with their bbctl agents, HAProxy, workers).
//!
//! - [`Fleet::up`] starts a fleet of its own in a temporary directory and stops it on drop;
//!   [`shared_fleet`] starts one fleet per test binary that several tests share (it is stopped
//!   when the test process exits).
//! - [`Buildbot`] is a small blocking client of the Buildbot REST API: reads, forced builds and
//!   waiting for their results.
//! - [`venv`] makes wrapper Buildbot installs for the `--buildbot` tests (and failing
//!   `upgrade-master`s for the `migrate` tests); [`Fleet::up_on_buildbot`] starts a fleet on
//!   another installed Buildbot (4.2.1); [`Fleet::db_head`] reads the Buildbot DB's schema head.
//! - [`handmade`] starts the "hand-made" fleet of the adopt tests: a master.cfg, HAProxy config
//!   and agent TOMLs written by an operator, not by `scripts/fleet` (tests/handmade/).
//! - [`hosts`] and [`netns`]: the multi-host fleet (`scripts/fleet up --hosts`): entering a host's
//!   network namespace, partitions, TLS agent clients, HAProxy's runtime API over TCP.
//! - [`wait_until`] polls a condition with a timeout and says what it waited for.
//!
//! The fleet runs the `bbctl-agent` and `bbctl` binaries already built in this target directory
//! (`cargo build -p bbctl-agent -p bbctl`, which `scripts/test` does first): a test cannot run
//! cargo itself while `cargo test` holds the build lock.

pub mod agent_client;
mod bbctl;
mod buildbot;
mod db;
mod fleet;
pub mod handmade;
pub mod hosts;
mod info;
pub mod netns;
mod procs;
pub mod venv;
mod wait;

pub use bbctl::output_text;
pub use buildbot::{BuildOutcome, Buildbot, ForcedBuild};
pub use fleet::{Fleet, FleetOptions, repo_root, shared_fleet};
pub use info::{
    FleetInfo, FleetMaster, FleetStatus, FleetWorker, HostInfo, LoadBalancerHost, LoadBalancerInfo,
    MasterStatus, NetworkInfo, PartStatus, PostgresInfo, RouterInfo, TlsInfo, WorkerStatus,
};
pub use procs::pid_alive;
pub use wait::wait_until;

/// Serializes the tests of one test binary that bring up fleets of their own: on a 2-core
/// machine, several fleets building at once make every timing in them noisy. Hold the guard for
/// the whole test.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}
