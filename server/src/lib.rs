//! `bbctl-agent`: the control server beside one Buildbot master.
//!
//! Entry points: [`startup::serve`] (the HTTP API on a bound listener), [`startup::build_state`]
//! and [`startup::spawn_background`] (event sources). Code map: `routes` wires every route to a
//! thin handler in `handlers`; domain logic lives in `master` (process, log, lifecycle),
//! `configs` (staging, checkconfig, activation), `topology` (what Buildbot says), `drain` (the
//! drain service and its state machine), `lb` (the load-balancer hooks), `events` (hub,
//! polling and WAMP sources), `fleet_store` (the fleet lease, upgrade journals and agent registry; `fence` refuses stale lease epochs), `buildbot_db` (Buildbot's own
//! database: backup, upgrade-master, restore), `db` (the
//! agent's own state) and `buildbot` (REST client behind a trait). `setup` holds the binary's
//! commands that run without the server (`init`, `check-config`).

pub mod auth;
pub mod buildbot;
pub mod buildbot_db;
pub mod config;
pub mod configs;
pub mod db;
pub mod drain;
pub mod error;
pub mod events;
pub mod extract;
pub mod fence;
pub mod fleet_store;
pub mod fsutil;
pub mod handlers;
pub mod lb;
pub mod manpage;
pub mod master;
pub mod metrics;
pub mod notify;
pub mod routes;
pub mod secret;
pub mod setup;
pub mod startup;
pub mod state;
pub mod tls;
pub mod topology;

pub use startup::{build_state, serve, spawn_background};
pub use state::AppState;
