//! The values `bbctl-agent init` finds beside the REST URL ([`super::init_rest`]): the agent's
//! name, the `buildbot` executable ([`super::executable`] in its order), Buildbot's database
//! URL, and the agent's own settings (given, else the defaults).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::executable::{self, ExeHit};
use super::init::{
    DEFAULT_STATE_ROOT, DEFAULT_TOKEN_FILE, InitOptions, MasterProcess, PLACEHOLDER_BUILDBOT,
    Setting, absolute, sure,
};
use super::master_cfg::{CfgFacts, Lookup};
use crate::secret::DbUrl;

/// The agent name rule of `crate::config` (`name`): `[a-z0-9][a-z0-9._-]{0,62}`.
pub fn is_agent_name(name: &str) -> bool {
    let b = name.as_bytes();
    (1..=63).contains(&b.len())
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(c))
}

/// `raw` made an agent name: lower case, other characters `-` (one per run), leading
/// punctuation dropped, at most 63 characters. `None` when nothing is left.
pub fn normalise_name(raw: &str) -> Option<String> {
    let mut name = String::new();
    for c in raw.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-') {
            name.push(c);
        } else if !name.ends_with('-') {
            name.push('-');
        }
    }
    let name: String = name
        .trim_start_matches(['.', '_', '-'])
        .chars()
        .take(63)
        .collect();
    let name = name.trim_end_matches(['.', '_', '-']).to_owned();
    is_agent_name(&name).then_some(name)
}

pub(super) fn derived_name(basedir: &Path) -> Setting<String> {
    let last = basedir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match normalise_name(&last) {
        Some(n) if n == last => sure(n, "from the basedir's last component"),
        Some(n) => sure(
            n,
            format!("from the basedir's last component `{last}`, normalised"),
        ),
        None => Setting {
            value: "master".into(),
            how: "a placeholder".into(),
            check: Some(format!(
                "the basedir's last component `{last}` makes no agent name: pass --name"
            )),
        },
    }
}

pub(super) fn buildbot_setting(
    basedir: &Path,
    process: &MasterProcess,
    tac: &str,
    cfg: Option<&str>,
    opts: &InitOptions,
) -> Setting<PathBuf> {
    let running = match process {
        MasterProcess::Running(view) => Some(view),
        _ => None,
    };
    let from_process = running.and_then(executable::from_process);
    let found = from_process.clone().or_else(|| {
        executable::from_log(basedir)
            .or_else(|| executable::from_text("buildbot.tac", tac))
            .or_else(|| cfg.and_then(|c| executable::from_text("master.cfg", c)))
            .or_else(|| executable::from_nearby_venv(basedir))
            .or_else(|| executable::from_path(opts.search_path.as_deref()))
    });
    match (found, running) {
        (Some(ExeHit { path, rule }), Some(view)) if from_process.is_none() => Setting {
            value: path,
            how: rule,
            check: Some(format!(
                "the running master's command line (pid {}: {}) names no `buildbot`: make sure \
                 this is the install it runs",
                view.pid,
                view.argv.join(" ")
            )),
        },
        (Some(ExeHit { path, rule }), _) => sure(path, rule),
        (None, _) => Setting {
            value: PLACEHOLDER_BUILDBOT.into(),
            how: "a placeholder".into(),
            check: Some(
                "no `buildbot` executable found (not in the running master's command line, \
                 twistd.log, buildbot.tac, master.cfg, a venv beside the basedir or PATH): set \
                 the `buildbot` of the master's install"
                    .into(),
            ),
        },
    }
}

pub(super) fn db_url_setting(
    facts: Result<&CfgFacts, &String>,
    cfg_name: &str,
) -> Result<Setting<DbUrl>, String> {
    let facts = facts.map_err(|e| format!("master.db_url left out: {e}"))?;
    match &facts.db_url {
        Lookup::Found { value, form } => {
            Ok(sure(DbUrl::new(value), format!("from {cfg_name}: {form}")))
        }
        Lookup::Computed(expr) => Err(format!(
            "master.db_url left out: {cfg_name} computes it (`{expr}`); it is needed only for \
             `bbctl upgrade --strategy migrate` and for creating a basedir (docs/agent-config.md)"
        )),
        Lookup::Absent => Err(format!(
            "master.db_url left out: {cfg_name} names no db_url (Buildbot's default is SQLite \
             in the basedir); it is needed only for `bbctl upgrade --strategy migrate` and for \
             creating a basedir"
        )),
    }
}

pub(super) fn agent_settings(
    opts: &InitOptions,
    name: &str,
) -> (Setting<SocketAddr>, Setting<PathBuf>, Setting<PathBuf>) {
    let listen = match opts.listen {
        Some(addr) => sure(addr, "given with --listen"),
        None => {
            let addr: SocketAddr = crate::config::DEFAULT_LISTEN
                .parse()
                .expect("the default listen address parses");
            let mut s = sure(addr, "the default");
            if std::net::TcpListener::bind(addr).is_err() {
                s.check = Some(format!(
                    "{addr} is in use on this host (another agent?): give each agent its own \
                     --listen"
                ));
            }
            s
        }
    };
    let state_dir = match &opts.state_dir {
        Some(d) => sure(absolute(d), "given with --state-dir"),
        None => sure(Path::new(DEFAULT_STATE_ROOT).join(name), "the default"),
    };
    let mut token_file = match &opts.token_file {
        Some(f) => sure(absolute(f), "given with --token-file"),
        None => sure(PathBuf::from(DEFAULT_TOKEN_FILE), "the default"),
    };
    if !token_file.value.is_file() {
        let f = token_file.value.display();
        token_file.check = Some(format!(
            "{f} does not exist: create it (`openssl rand -hex 32 > {f}; chmod 600 {f}`), the \
             same on every agent and in bbctl's inventory"
        ));
    }
    (listen, state_dir, token_file)
}
