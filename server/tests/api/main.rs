//! Integration tests of the agent's HTTP API: in-process through the router and over TCP on
//! 127.0.0.1:0, with a fake Buildbot REST API where the master is not the point, and against
//! a real single Buildbot master (`real_master`) where it is.

mod agent_process;
mod analysis;
mod auth;
mod auth_every_route;
mod buildbot_db;
mod cli;
mod configs;
mod contract;
mod drain;
mod events;
// The CLI tests' fake agent, checked against the real one by `contract`.
#[allow(dead_code)]
#[path = "../../../cli/tests/cli/fake_agent.rs"]
mod fake_agent;
mod fleet_store;
mod fuzz;
mod health;
mod helpers;
mod history;
mod lb_several;
mod openapi;
mod pg_cluster;
mod pki;
mod postgres_state;
mod posture;
mod real_master;
mod secrets;
mod setup_cmds;
mod spec;
mod tls;
mod topology;
