//! Issue 3 acceptance, end to end on real fleets: the agent's topology agrees with Buildbot's REST
//! API while builds run; its event stream delivers Buildbot events over WAMP with the router up
//! and falls back to polling when the router dies (how fast is a benchmark, not asserted here);
//! and stage → checkconfig → activate → restart switches a master to a new configuration.
//!
//! The topology and the WAMP event checks share one fleet (they only force builds and read).
//! Killing the router and restarting a master change a fleet for good, so they run on one
//! dedicated small fleet, the config switch first (it needs the router), the router loss last.
mod code;
mod dedicated;
mod events;
mod topology;

use std::collections::BTreeSet;
use std::time::Duration;

use bbctl_e2e::Fleet;
use bbctl_e2e::agent_client::AgentClient;
use serde_json::Value;

const BUILD_TIMEOUT: Duration = Duration::from_secs(120);

pub(crate) fn agents(fleet: &Fleet) -> Vec<AgentClient> {
    let token = fleet.token().unwrap();
    fleet
        .info
        .masters
        .iter()
        .map(|m| AgentClient::new(&m.agent_url, &token))
        .collect()
}

pub(crate) fn ids(rows: &[Value], key: &str) -> BTreeSet<i64> {
    rows.iter().filter_map(|r| r[key].as_i64()).collect()
}
