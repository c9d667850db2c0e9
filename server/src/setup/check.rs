//! `bbctl-agent check-config FILE`: what the agent would meet if it started with this config,
//! without starting it. The file is loaded with [`AgentConfig::load`] (environment overrides
//! included), so a setting the agent refuses is the one problem reported; then each probe
//! ([`super::check_probes`]) adds `ok`, `problem` or `note` lines. The probes change nothing:
//! no directory is created, no state DB opened, no migration applied, no signal sent.

use std::path::Path;

use super::check_probes as probes;
use super::{Kind, Line};
use crate::config::AgentConfig;

/// The outcome of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// The file does not load: the loader's one line (`bad setting `…`: …`).
    NotLoaded(String),
    /// It loads; what each probe found, in a fixed order.
    Probed(Vec<Line>),
}

impl Checked {
    /// Whether any line is a problem (a config that does not load is one).
    pub fn has_problem(&self) -> bool {
        match self {
            Checked::NotLoaded(_) => true,
            Checked::Probed(lines) => lines.iter().any(|l| l.kind == Kind::Problem),
        }
    }
}

/// Loads `path` and probes what it names.
pub async fn check_config(path: &Path) -> Checked {
    let config = match AgentConfig::load(Some(path)) {
        Ok(c) => c,
        Err(e) => return Checked::NotLoaded(e.to_string()),
    };
    Checked::Probed(probe(&config, path).await)
}

/// The probes of a loaded config.
pub async fn probe(config: &AgentConfig, path: &Path) -> Vec<Line> {
    let mut lines = vec![Line::new(
        Kind::Ok,
        format!("{} loads (agent `{}`)", path.display(), config.name),
    )];
    lines.push(probes::basedir(config));
    lines.push(probes::executable(config));
    lines.push(probes::state_dir(config));
    lines.push(probes::listen("listen", config.listen));
    let (rest, lb, fleet) = tokio::join!(
        probes::rest(config),
        probes::load_balancer(config),
        probes::fleet_store(config)
    );
    lines.push(rest);
    lines.extend(lb);
    lines.extend(fleet);
    lines
}
