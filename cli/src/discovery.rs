//! The fleet's agents as bbctl sees them: the inventory's `[[masters]]` joined, by name, with
//! the fleet registry (`GET /v1/fleet/agents`) read from the first `[[seeds]]` entry or
//! inventory agent that answers.
//!
//! The inventory entry wins for URL and token (a registry URL that disagrees is a warning); a
//! registry row whose agent shut down cleanly (`stopped_at`) adds no target; agents only the
//! registry names use `[defaults]`' token and CA file, else those of the agent that answered.

use std::path::PathBuf;

use bbctl_api::{ErrorCode, FleetAgents, FleetStoreBackend, FleetStoreInfo, RegisteredAgent};
use futures_util::StreamExt;

use crate::client::{AgentClient, ApiError};
use crate::inventory::{Registration, Target, TargetSource};
use crate::secret::Secret;

/// How many candidates are asked at once: a dead first agent costs one timeout, not one each.
const AT_ONCE: usize = 3;

/// Token and CA file for agents only the registry names.
#[derive(Debug, Clone, Default)]
pub struct Fallback {
    pub token: Option<Secret>,
    pub ca_file: Option<PathBuf>,
}

/// The registry as one agent answered it.
#[derive(Debug, Clone)]
pub struct RegistryView {
    /// The name (inventory name or seed URL) of the agent that answered.
    pub answered_by: String,
    pub agents: FleetAgents,
    /// Its `GET /v1/fleet/store`, when it answered that too.
    pub store: Option<FleetStoreInfo>,
}

impl RegistryView {
    /// A registry kept in one agent's own SQLite store lists that agent only: it says nothing
    /// about the others of an inventory.
    pub fn is_local(&self) -> bool {
        self.store
            .as_ref()
            .is_some_and(|s| s.backend == FleetStoreBackend::Sqlite)
    }
}

/// Why no registry was read: every candidate's error, in candidate order.
#[derive(Debug)]
pub struct NoRegistry {
    pub errors: Vec<ApiError>,
}

impl NoRegistry {
    /// The error worth showing: the first that is not "unreachable", else the first.
    pub fn first(self) -> Option<ApiError> {
        let mut errors = self.errors;
        let at = errors.iter().position(|e| !e.is_unreachable()).unwrap_or(0);
        (!errors.is_empty()).then(|| errors.swap_remove(at))
    }
}

/// Asks `candidates` in order, up to [`AT_ONCE`] at a time, for the registry (and, at the same
/// time, where the agent keeps it); the first answer in candidate order wins (the calls still
/// running are dropped). An agent that answers with an error other than `store_unavailable` (an
/// agent without the route: 404) ends the search: the fleet has no registry to read.
pub async fn read_registry<F>(
    candidates: &[Target],
    client: F,
) -> Result<(Target, RegistryView), NoRegistry>
where
    F: Fn(&Target) -> AgentClient,
{
    let mut answers = futures_util::stream::iter(candidates.iter().map(|t| {
        let c = client(t);
        async move {
            let (agents, store) =
                futures_util::future::join(c.fleet_agents(), c.fleet_store()).await;
            (t, agents.map(|a| (a, store.ok())))
        }
    }))
    .buffered(AT_ONCE);
    let mut errors = Vec::new();
    while let Some((target, answer)) = answers.next().await {
        match answer {
            Ok((agents, store)) => {
                let view = RegistryView {
                    answered_by: target.name.clone(),
                    agents,
                    store,
                };
                return Ok((target.clone(), view));
            }
            Err(err) => {
                let answered = !err.is_unreachable() && !err.is(ErrorCode::StoreUnavailable);
                errors.push(err);
                if answered {
                    break;
                }
            }
        }
    }
    Err(NoRegistry { errors })
}

/// What the registry row says, by the store's clock.
pub fn registration(row: &RegisteredAgent, registry: &FleetAgents) -> Registration {
    let age = (registry.db_now - row.heartbeat_at).max(0.0);
    Registration {
        url: row.url.clone(),
        heartbeat_age_secs: age,
        silent: age > registry.silent_after_secs,
        stopped: row.stopped_at.is_some(),
        buildbot_name: row.buildbot_name.clone(),
    }
}

/// The targets: the inventory's (in its order) joined with the registry, then the agents only
/// the registry names (by name); plus the warnings for stderr.
pub fn merge(
    inventory: Vec<Target>,
    registry: &FleetAgents,
    fallback: &Fallback,
) -> (Vec<Target>, Vec<String>) {
    let mut warnings = Vec::new();
    let mut targets = Vec::with_capacity(inventory.len().max(registry.agents.len()));
    for mut target in inventory {
        if let Some(row) = registry.agents.iter().find(|r| r.name == target.name) {
            let reg = registration(row, registry);
            if !reg.stopped {
                target.source = TargetSource::Both;
                if !same_url(target.url.as_str(), &row.url) {
                    warnings.push(format!(
                        "warning: master `{}`: the inventory says {}, the fleet registry says {} \
                         (the inventory's URL is used)",
                        target.name,
                        target.url.as_str().trim_end_matches('/'),
                        row.url.trim_end_matches('/')
                    ));
                }
            }
            target.registration = Some(reg);
        }
        targets.push(target);
    }
    let mut extra: Vec<&RegisteredAgent> = registry
        .agents
        .iter()
        .filter(|r| r.stopped_at.is_none() && !targets.iter().any(|t| t.name == r.name))
        .collect();
    extra.sort_by(|a, b| a.name.cmp(&b.name));
    for row in extra {
        let Some(token) = fallback.token.clone() else {
            warnings.push(format!(
                "warning: master `{}` (fleet registry): no token to reach it; add [defaults] \
                 token_file to the inventory",
                row.name
            ));
            continue;
        };
        let url = match reqwest::Url::parse(&row.url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => url,
            _ => {
                warnings.push(format!(
                    "warning: master `{}` (fleet registry): unusable URL `{}`; skipped",
                    row.name, row.url
                ));
                continue;
            }
        };
        targets.push(Target {
            name: row.name.clone(),
            url,
            token,
            standby: row.standby,
            ca_file: fallback.ca_file.clone(),
            source: TargetSource::Registry,
            registration: Some(registration(row, registry)),
        });
    }
    (targets, warnings)
}

fn same_url(a: &str, b: &str) -> bool {
    let norm = |u: &str| match reqwest::Url::parse(u) {
        Ok(url) => url.as_str().trim_end_matches('/').to_string(),
        Err(_) => u.trim_end_matches('/').to_string(),
    };
    norm(a) == norm(b)
}

#[cfg(test)]
#[path = "discovery_tests.rs"]
mod tests;
