//! The fleet inventory (`bbctl.toml`): which agents exist, where, and with which token.
//!
//! Looked up in this order: `--inventory PATH` (or `$BBCTL_INVENTORY`, through clap), then
//! `./bbctl.toml`, then `$XDG_CONFIG_HOME/bbctl/bbctl.toml` (default `~/.config/bbctl/`).
//! `--agent URL` bypasses the file; its token comes from `--token-file` or `$BBCTL_TOKEN`.
//!
//! Besides its `[[masters]]`, a file may list `[[seeds]]`: agents asked for the fleet's registry
//! (`GET /v1/fleet/agents`, [`crate::discovery`]); a file with seeds only is valid. Agents the
//! registry adds use `[defaults]`' token and CA file (else those of the seed that answered).
//!
//! `https://` agents are verified against a CA file: `--ca-file` (or `$BBCTL_CA_FILE`) for every
//! agent, else the master's `ca_file`, else `[defaults] ca_file`; without one, the built-in
//! (webpki) roots. There is no way to turn verification off.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::exit::Failure;
use crate::secret::Secret;

/// The request timeout when neither the inventory nor `--timeout` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

pub use crate::client::TOKEN_ENV;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    defaults: Defaults,
    #[serde(default)]
    masters: Vec<MasterEntry>,
    #[serde(default)]
    seeds: Vec<SeedEntry>,
    #[serde(default)]
    pins: Vec<PinEntry>,
}

/// `[[pins]]`: workers matching `workers` (a name, or a pattern with `*`) stay on `masters`
/// (`bbctl workers rebalance`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PinEntry {
    workers: String,
    masters: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedEntry {
    url: String,
    token: Option<String>,
    token_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Defaults {
    token: Option<String>,
    token_file: Option<PathBuf>,
    timeout_secs: Option<f64>,
    ca_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MasterEntry {
    name: String,
    url: String,
    token: Option<String>,
    token_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    #[serde(default)]
    standby: bool,
    /// Its share of the workers in `bbctl workers rebalance` (default 1).
    weight: Option<f64>,
}

/// A pin of the inventory: the workers it names stay on its masters when rebalanced.
#[derive(Debug, Clone, PartialEq)]
pub struct Pin {
    /// A worker name, or a pattern where `*` stands for any run of characters.
    pub workers: String,
    /// Inventory names (checked against the fleet by the command that uses them).
    pub masters: Vec<String>,
}

impl Pin {
    /// Whether the pin names `worker`.
    pub fn matches(&self, worker: &str) -> bool {
        glob_match(&self.workers, worker)
    }
}

/// `pattern` against `text`, where `*` matches any run of characters (none included).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// One agent to talk to.
#[derive(Debug, Clone)]
pub struct Target {
    /// The name operators use (`master-2`); for `--agent` targets, the URL until the agent
    /// tells its own name.
    pub name: String,
    pub url: reqwest::Url,
    pub token: Secret,
    /// A standby slot: its master is expected not to run.
    pub standby: bool,
    /// The PEM file of the CA(s) that sign this agent's certificate (`https://` only); `None`
    /// means the built-in roots.
    pub ca_file: Option<PathBuf>,
    /// Where bbctl learned of this agent: the inventory file, the fleet's registry, or both.
    pub source: TargetSource,
    /// The agent's row in the fleet registry, when the registry was read and has it.
    pub registration: Option<Registration>,
}

/// Where a [`Target`] comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetSource {
    /// A `[[masters]]` entry (or `--agent`), not in the registry (or stopped there).
    Inventory,
    /// Only in the fleet's registry.
    Registry,
    /// Both: the inventory's URL and token are used.
    Both,
}

impl TargetSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetSource::Inventory => "inventory",
            TargetSource::Registry => "registry",
            TargetSource::Both => "both",
        }
    }
}

/// What the fleet registry says about an agent, judged by the store's clock.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    /// The URL the agent advertises.
    pub url: String,
    /// Seconds since its last heartbeat (store clock).
    pub heartbeat_age_secs: f64,
    /// Its heartbeat is older than the registry's `silent_after_secs`.
    pub silent: bool,
    /// It shut down cleanly (`stopped_at` set): not a target on its own.
    pub stopped: bool,
    /// Its master's name as Buildbot knows it (`host:basedir`), once known.
    pub buildbot_name: Option<String>,
}

/// The resolved inventory.
#[derive(Debug)]
pub struct Inventory {
    pub targets: Vec<Target>,
    /// Whether the names come from a file (`false` for `--agent`: names are learned from the
    /// agents themselves).
    pub named: bool,
    pub timeout: Duration,
    /// `[[seeds]]`, as targets named by their URL: asked first for the fleet's registry.
    pub seeds: Vec<Target>,
    /// `[defaults]`' token and CA file, for agents only the registry names.
    pub default_token: Option<Secret>,
    pub default_ca_file: Option<PathBuf>,
    /// `weight` of the `[[masters]]` that set one (by name); the others weigh 1.
    pub weights: std::collections::BTreeMap<String, f64>,
    /// `[[pins]]`, in file order.
    pub pins: Vec<Pin>,
}

/// Where the inventory comes from, as given on the command line.
pub struct Source<'a> {
    pub inventory: Option<&'a Path>,
    pub agents: &'a [String],
    pub token_file: Option<&'a Path>,
    /// `--ca-file` / `$BBCTL_CA_FILE`: overrides the inventory's `ca_file` for every agent.
    pub ca_file: Option<&'a Path>,
}

impl Inventory {
    pub fn load(source: Source<'_>) -> Result<Inventory, Failure> {
        let mut inventory = Self::load_targets(&source)?;
        if let Some(ca) = source.ca_file {
            for target in inventory.targets.iter_mut().chain(&mut inventory.seeds) {
                target.ca_file = Some(ca.to_path_buf());
            }
            inventory.default_ca_file = Some(ca.to_path_buf());
        }
        Ok(inventory)
    }

    fn load_targets(source: &Source<'_>) -> Result<Inventory, Failure> {
        if !source.agents.is_empty() {
            return Self::from_agents(source.agents, source.token_file);
        }
        let path = match source.inventory {
            Some(path) => path.to_path_buf(),
            None => default_path().ok_or_else(|| {
                Failure::usage(
                    "no inventory: pass --inventory PATH, set BBCTL_INVENTORY, create ./bbctl.toml \
                     or ~/.config/bbctl/bbctl.toml, or use --agent URL",
                )
            })?,
        };
        Self::from_file(&path)
    }

    fn from_agents(urls: &[String], token_file: Option<&Path>) -> Result<Inventory, Failure> {
        let token = match token_file {
            Some(path) => read_token(path)?,
            None => match std::env::var(TOKEN_ENV) {
                Ok(token) if !token.trim().is_empty() => Secret::new(token.trim()),
                _ => {
                    return Err(Failure::usage(format!(
                        "--agent needs a token: pass --token-file PATH or set {TOKEN_ENV}"
                    )));
                }
            },
        };
        let targets = urls
            .iter()
            .map(|url| {
                Ok(Target {
                    name: url.trim_end_matches('/').to_string(),
                    url: parse_url(url, "--agent")?,
                    token: token.clone(),
                    standby: false,
                    ca_file: None,
                    source: TargetSource::Inventory,
                    registration: None,
                })
            })
            .collect::<Result<_, Failure>>()?;
        Ok(Inventory {
            targets,
            named: false,
            timeout: DEFAULT_TIMEOUT,
            seeds: Vec::new(),
            default_token: None,
            default_ca_file: None,
            weights: Default::default(),
            pins: Vec::new(),
        })
    }

    fn from_file(path: &Path) -> Result<Inventory, Failure> {
        let bad = |why: String| Failure::usage(format!("bad inventory {}: {why}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|err| {
            Failure::usage(format!("cannot read inventory {}: {err}", path.display()))
        })?;
        let file: File = toml::from_str(&text).map_err(|err| bad(err.message().to_string()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let timeout = match file.defaults.timeout_secs {
            None => DEFAULT_TIMEOUT,
            Some(secs) if secs.is_finite() && secs > 0.0 => Duration::from_secs_f64(secs),
            Some(secs) => return Err(bad(format!("timeout_secs must be positive, not {secs}"))),
        };
        let default_token = token_from(file.defaults.token, file.defaults.token_file, dir)?;
        if file.masters.is_empty() && file.seeds.is_empty() {
            return Err(bad("no [[masters]] and no [[seeds]]".to_string()));
        }
        let default_ca_file = file.defaults.ca_file.clone().map(|f| dir.join(f));
        let mut seeds: Vec<Target> = Vec::with_capacity(file.seeds.len());
        for entry in file.seeds {
            let url = parse_url(&entry.url, "a seed").map_err(|f| bad(f.message))?;
            let name = entry.url.trim_end_matches('/').to_string();
            if seeds.iter().any(|s| s.url == url) {
                return Err(bad(format!("seed `{name}` appears twice")));
            }
            let token = token_from(entry.token, entry.token_file, dir)?
                .or_else(|| default_token.clone())
                .ok_or_else(|| bad(format!("seed `{name}` has no token or token_file")))?;
            seeds.push(Target {
                name,
                url,
                token,
                standby: false,
                ca_file: entry
                    .ca_file
                    .map(|f| dir.join(f))
                    .or_else(|| default_ca_file.clone()),
                source: TargetSource::Inventory,
                registration: None,
            });
        }
        let mut targets: Vec<Target> = Vec::with_capacity(file.masters.len());
        let mut weights = std::collections::BTreeMap::new();
        for entry in file.masters {
            if let Some(w) = entry.weight {
                if !(w.is_finite() && w >= 0.0) {
                    return Err(bad(format!(
                        "master `{}`: weight must be a number >= 0, not {w}",
                        entry.name
                    )));
                }
                weights.insert(entry.name.clone(), w);
            }
            if entry.name.trim().is_empty() {
                return Err(bad("a master has an empty name".to_string()));
            }
            if targets.iter().any(|t| t.name == entry.name) {
                return Err(bad(format!("master `{}` appears twice", entry.name)));
            }
            let token = token_from(entry.token, entry.token_file, dir)?
                .or_else(|| default_token.clone())
                .ok_or_else(|| {
                    bad(format!(
                        "master `{}` has no token or token_file",
                        entry.name
                    ))
                })?;
            let url = parse_url(&entry.url, &entry.name).map_err(|f| bad(f.message))?;
            targets.push(Target {
                name: entry.name,
                url,
                token,
                standby: entry.standby,
                ca_file: entry
                    .ca_file
                    .or_else(|| file.defaults.ca_file.clone())
                    .map(|f| dir.join(f)),
                source: TargetSource::Inventory,
                registration: None,
            });
        }
        let mut pins = Vec::with_capacity(file.pins.len());
        for pin in file.pins {
            if pin.workers.trim().is_empty() || pin.masters.is_empty() {
                return Err(bad(
                    "a [[pins]] entry needs `workers` (a name or a pattern with *) and at \
                     least one of `masters`"
                        .to_string(),
                ));
            }
            pins.push(Pin {
                workers: pin.workers,
                masters: pin.masters,
            });
        }
        Ok(Inventory {
            targets,
            named: true,
            timeout,
            seeds,
            default_token,
            default_ca_file,
            weights,
            pins,
        })
    }
}

fn default_path() -> Option<PathBuf> {
    let local = PathBuf::from("bbctl.toml");
    if local.is_file() {
        return Some(local);
    }
    let config_home = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    let path = config_home.join("bbctl").join("bbctl.toml");
    path.is_file().then_some(path)
}

fn token_from(
    token: Option<String>,
    token_file: Option<PathBuf>,
    dir: &Path,
) -> Result<Option<Secret>, Failure> {
    match (token, token_file) {
        (Some(token), _) => Ok(Some(Secret::new(token))),
        (None, Some(file)) => read_token(&dir.join(file)).map(Some),
        (None, None) => Ok(None),
    }
}

fn read_token(path: &Path) -> Result<Secret, Failure> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        Failure::usage(format!("cannot read token file {}: {err}", path.display()))
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(Failure::usage(format!(
            "token file {} is empty",
            path.display()
        )));
    }
    Ok(Secret::new(token))
}

fn parse_url(url: &str, whose: &str) -> Result<reqwest::Url, Failure> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|err| Failure::usage(format!("{whose}: bad URL `{url}`: {err}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Failure::usage(format!(
            "{whose}: URL `{url}` must be http or https"
        )));
    }
    Ok(parsed)
}

#[cfg(test)]
#[path = "inventory_tests.rs"]
mod tests;
