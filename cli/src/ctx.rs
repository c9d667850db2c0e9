//! What every command gets: the output format, the terminal facts, and the agents to talk to
//! (the inventory joined with the fleet registry: [`Ctx::discover`], [`crate::discovery`]; with a
//! concurrent fan-out, name resolution, and the warning for an inventory name that is not its
//! agent's own name: [`crate::names`]).

use std::collections::HashMap;
use std::future::Future;
use std::io::IsTerminal;
use std::path::PathBuf;

use bbctl_api::MasterInfo;
use futures_util::StreamExt;

use crate::cli::OutputFormat;
use crate::client::{AgentClient, ApiError};
use crate::discovery::{self, Fallback, RegistryView};
use crate::exit::Failure;
use crate::inventory::{Inventory, Target};
use crate::names;

/// How many agents are talked to at once: enough to finish a thousand-agent fan-out within a
/// second, few enough to stay far below the usual file-descriptor limit.
const FAN_OUT: usize = 256;

/// Facts about the process's standard streams.
#[derive(Debug, Clone, Copy)]
pub struct Terminal {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

impl Terminal {
    pub fn detect() -> Self {
        Terminal {
            stdin: std::io::stdin().is_terminal(),
            stdout: std::io::stdout().is_terminal(),
            stderr: std::io::stderr().is_terminal(),
        }
    }
}

/// The command context.
pub struct Ctx {
    pub format: OutputFormat,
    pub terminal: Terminal,
    inventory: Inventory,
    http: reqwest::Client,
    /// One client per distinct CA file of the targets (`https://` agents with `ca_file`).
    http_by_ca: HashMap<PathBuf, reqwest::Client>,
    /// Inventory names already warned about for answering as another agent name.
    warned: names::Warned,
    /// The lease epoch every client of this command sends on mutating calls, once set.
    fence: crate::client::Fence,
    /// The fleet registry as read by [`Ctx::discover`], when an agent answered it.
    registry: Option<RegistryView>,
}

impl Ctx {
    pub fn new(
        format: OutputFormat,
        terminal: Terminal,
        inventory: Inventory,
        http: reqwest::Client,
    ) -> Self {
        Ctx {
            format,
            terminal,
            inventory,
            http,
            http_by_ca: HashMap::new(),
            warned: names::Warned::default(),
            fence: crate::client::Fence::default(),
            registry: None,
        }
    }

    /// Builds one HTTP client per distinct CA file of the targets (so each agent is verified
    /// against its own CA only). A bad CA file is a usage error, before anything is done.
    pub fn with_ca_clients(mut self) -> anyhow::Result<Self> {
        for target in self.inventory.targets.iter().chain(&self.inventory.seeds) {
            if let Some(ca) = &target.ca_file
                && !self.http_by_ca.contains_key(ca)
            {
                let client = crate::client::http_client_with_ca(Some(ca))?;
                self.http_by_ca.insert(ca.clone(), client);
            }
        }
        Ok(self)
    }

    /// Joins the inventory with the fleet registry (`GET /v1/fleet/agents` from the first seed,
    /// then inventory agent, that answers; [`discovery`]). Warnings go to stderr. Nothing is
    /// asked for `--agent` targets. An inventory of seeds only fails when no seed answers.
    pub async fn discover(mut self) -> anyhow::Result<Self> {
        if !self.inventory.named {
            return Ok(self);
        }
        let candidates: Vec<Target> = self
            .inventory
            .seeds
            .iter()
            .chain(&self.inventory.targets)
            .cloned()
            .collect();
        match discovery::read_registry(&candidates, |t| self.client(t)).await {
            // A registry in one agent's own SQLite store names that agent only: the inventory's
            // [[masters]] say more (an inventory of seeds only takes it as it is).
            Ok((_, view)) if view.is_local() && !self.inventory.targets.is_empty() => Ok(self),
            Ok((answered, view)) => {
                let fallback = Fallback {
                    token: self
                        .inventory
                        .default_token
                        .clone()
                        .or(Some(answered.token)),
                    ca_file: self.inventory.default_ca_file.clone().or(answered.ca_file),
                };
                let targets = std::mem::take(&mut self.inventory.targets);
                let (targets, warnings) = discovery::merge(targets, &view.agents, &fallback);
                for warning in warnings {
                    eprintln!("{warning}");
                }
                self.inventory.targets = targets;
                self.registry = Some(view);
                self.with_ca_clients()
            }
            // No seeds: an inventory of agents without a registry (or too old for one).
            Err(_) if self.inventory.seeds.is_empty() => Ok(self),
            Err(none) => {
                let err = none.first();
                if self.inventory.targets.is_empty()
                    && let Some(err) = err
                {
                    // The inventory has seeds only: without the registry there is no agent.
                    return Err(anyhow::Error::new(err).context(
                        "no seed answered GET /v1/fleet/agents (the inventory has only [[seeds]])",
                    ));
                }
                if let Some(err) = err {
                    eprintln!(
                        "warning: the fleet registry could not be read ({err}): using the \
                         inventory's [[masters]] only"
                    );
                }
                Ok(self)
            }
        }
    }

    /// `--no-registry`: the inventory's `[[masters]]` as they are; refused for an inventory of
    /// `[[seeds]]` only, which names no agent without the registry.
    pub fn static_only(self) -> anyhow::Result<Self> {
        if self.inventory.named && self.inventory.targets.is_empty() {
            return Err(Failure::usage(
                "--no-registry: the inventory has only [[seeds]], which name no master without \
                 the fleet registry",
            )
            .into());
        }
        Ok(self)
    }

    /// The inventory's `weight`s and `[[pins]]` (`workers rebalance`).
    pub fn balance_rules(
        &self,
    ) -> (
        &std::collections::BTreeMap<String, f64>,
        &[crate::inventory::Pin],
    ) {
        (&self.inventory.weights, &self.inventory.pins)
    }

    /// Every agent of the inventory (or of `--agent`), in inventory order, then those only the
    /// fleet registry names (by name).
    pub fn targets(&self) -> &[Target] {
        &self.inventory.targets
    }

    /// The inventory's `[[seeds]]` (named by their URL), in file order.
    pub fn seeds(&self) -> &[Target] {
        &self.inventory.seeds
    }

    /// The fleet registry, when [`Ctx::discover`] could read it.
    pub fn registry(&self) -> Option<&RegistryView> {
        self.registry.as_ref()
    }

    pub fn client(&self, target: &Target) -> AgentClient {
        let http = target
            .ca_file
            .as_ref()
            .and_then(|ca| self.http_by_ca.get(ca))
            .unwrap_or(&self.http);
        AgentClient::new(
            http.clone(),
            target.name.clone(),
            target.url.clone(),
            target.token.clone(),
            self.inventory.timeout,
        )
        .with_fence(self.fence.clone())
    }

    /// The fence cell shared by every client of this command: set it when the fleet lease is
    /// taken, so every later mutating call carries the epoch.
    pub fn fence(&self) -> &crate::client::Fence {
        &self.fence
    }

    /// Calls `op` on every agent concurrently; the answers come back in inventory order.
    pub async fn fan_out<T, F, Fut>(&self, op: F) -> Vec<(Target, Result<T, ApiError>)>
    where
        F: Fn(AgentClient) -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let calls = self.targets().iter().map(|target| {
            let call = op(self.client(target));
            async move { (target.clone(), call.await) }
        });
        futures_util::stream::iter(calls)
            .buffered(FAN_OUT)
            .collect()
            .await
    }

    /// Every agent's `GET /v1/master`, in inventory order; an agent that calls itself by another
    /// name than its inventory entry is warned about ([`Ctx::note_agent_name`]).
    pub async fn masters(&self) -> Vec<(Target, Result<MasterInfo, ApiError>)> {
        let answers = self
            .fan_out(|client| async move { client.master().await })
            .await;
        for (target, answer) in &answers {
            if let Ok(info) = answer {
                self.note_agent_name(target, &info.agent_name);
            }
        }
        answers
    }

    /// Warns (once per command, on stderr) when the agent of the inventory entry `target`
    /// answers under another name: bbctl goes on printing the inventory name. Agents given with
    /// `--agent` have no inventory name to differ from.
    pub fn note_agent_name(&self, target: &Target, agent_name: &str) {
        if self.inventory.named {
            self.warned.check(&target.name, agent_name);
        }
    }

    /// The name bbctl prints for the master of `target`, whose agent calls itself `agent_name`:
    /// the inventory name (warned about when they differ), or the agent's own name for an
    /// `--agent` target.
    pub fn name_for(&self, target: &Target, agent_name: &str) -> String {
        self.note_agent_name(target, agent_name);
        if self.inventory.named {
            target.name.clone()
        } else {
            agent_name.to_string()
        }
    }

    /// The agent of the master called `name`. An unknown name is a usage error that lists the
    /// known names. With `--agent`, the names are asked from the agents themselves.
    pub async fn resolve(&self, name: &str) -> anyhow::Result<AgentClient> {
        if self.inventory.named {
            if let Some(target) = self.targets().iter().find(|t| t.name == name) {
                return Ok(self.client(target));
            }
            let known: Vec<&str> = self.targets().iter().map(|t| t.name.as_str()).collect();
            return Err(unknown(name, &known));
        }
        let answers = self
            .fan_out(|client| async move { client.version().await })
            .await;
        let mut known = Vec::new();
        let mut failed = Vec::new();
        for (target, answer) in answers {
            match answer {
                Ok(version) if version.agent_name == name || target.name == name => {
                    let mut target = target;
                    target.name = version.agent_name;
                    return Ok(self.client(&target));
                }
                Ok(version) => known.push(version.agent_name),
                Err(err) if self.targets().len() == 1 => return Err(err.into()),
                Err(err) => failed.push(err),
            }
        }
        let known: Vec<&str> = known.iter().map(String::as_str).collect();
        match not_found_because(failed) {
            Some(err) => Err(anyhow::Error::new(err).context(format!(
                "cannot find master `{name}` (the agents that answered: {})",
                known.join(", ")
            ))),
            None => Err(unknown(name, &known)),
        }
    }

    /// Resolves several names, failing on the first unknown one before anything is done.
    pub async fn resolve_all(&self, names: &[String]) -> anyhow::Result<Vec<AgentClient>> {
        let mut clients = Vec::with_capacity(names.len());
        for name in names {
            clients.push(self.resolve(name).await?);
        }
        Ok(clients)
    }
}

/// Why a name asked of the `--agent` agents may not have been found: some agent did not say
/// its name. An agent that answered with an error (a refused token) is the error, before one
/// that could not be reached; the others are warnings. `None` when every agent answered.
fn not_found_because(mut failed: Vec<ApiError>) -> Option<ApiError> {
    let first = failed
        .iter()
        .position(|err| !err.is_unreachable())
        .unwrap_or(0);
    if failed.is_empty() {
        return None;
    }
    let err = failed.remove(first);
    for other in &failed {
        eprintln!("warning: {other}");
    }
    Some(err)
}

fn unknown(name: &str, known: &[&str]) -> anyhow::Error {
    Failure::usage(format!(
        "unknown master `{name}` (known: {})",
        known.join(", ")
    ))
    .into()
}
