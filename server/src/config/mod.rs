//! The agent's configuration: one TOML file plus `BBCTL_AGENT_*` environment overrides
//! (contract: `docs/agent-config.md`).
//!
//! Loading either yields a fully validated [`AgentConfig`] or a [`ConfigError`] whose one-line
//! message names the bad setting; `main` prints it and exits with status 2.

pub mod buildbot_db;
pub mod fleet;
mod read;
mod rest_auth;
mod source;
pub mod tls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use read::{Reader, bad};
pub use source::{ENV_CONFIG_PATH, ENV_PREFIX};

pub use buildbot_db::BuildbotDbConfig;
pub use fleet::FleetConfig;

use crate::buildbot::RestAuth;
use crate::lb::{LbConfig, LbSettings};
use crate::secret::{DbUrl, Secret};
pub use tls::TlsConfig;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {message}")]
    File { path: String, message: String },
    #[error("missing setting `{key}`")]
    Missing { key: String },
    #[error("bad setting `{key}`: {message}")]
    Setting { key: String, message: String },
}

impl From<tls::TlsError> for ConfigError {
    fn from(e: tls::TlsError) -> Self {
        ConfigError::Setting {
            key: e.key.into(),
            message: e.message,
        }
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub name: String,
    pub listen: SocketAddr,
    pub state_dir: PathBuf,
    /// Resolved: the configured URL or `sqlite://<state_dir>/agent.sqlite3`.
    pub state_db_url: DbUrl,
    pub token: Secret,
    pub poll_interval: Duration,
    pub master: MasterConfig,
    pub wamp: Option<WampConfig>,
    /// `[load_balancer]`, parsed once into what the hook is built from (`crate::lb::build`).
    pub load_balancer: LbConfig,
    /// `[tls]`: serve HTTPS with this certificate (checked at load time); `None` = plain HTTP.
    pub tls: Option<TlsConfig>,
    /// `[buildbot_db]`: tools and backups of the migrate strategy (every key has a default).
    pub buildbot_db: BuildbotDbConfig,
    /// `[fleet]`: the fleet store, its name and this agent's registry entry (every key has a
    /// default: without `db_url` the store is `<state_dir>/fleet.sqlite`).
    pub fleet: FleetConfig,
}

#[derive(Debug, Clone)]
pub struct MasterConfig {
    /// Absolute (not canonicalised: Buildbot names the master after `os.path.abspath`).
    pub basedir: PathBuf,
    pub buildbot: PathBuf,
    /// Always ends with `/`.
    pub rest_url: String,
    /// May hold a password: `Debug`/`Display` redact it.
    pub db_url: Option<DbUrl>,
    pub start_timeout: Duration,
    pub vars: serde_json::Map<String, serde_json::Value>,
    /// `[master.rest_auth]`: how the agent logs in to the master's www; `None` = anonymous.
    /// The secret is a `Secret` (redacted in `Debug`).
    pub rest_auth: Option<RestAuth>,
}

#[derive(Debug, Clone)]
pub struct WampConfig {
    pub router_url: String,
    pub realm: String,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:7700";

impl AgentConfig {
    /// Loads from `path` (or `$BBCTL_AGENT_CONFIG`) and the process environment.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let env_path = std::env::var_os(ENV_CONFIG_PATH).map(PathBuf::from);
        let path = path
            .map(Path::to_path_buf)
            .or(env_path)
            .ok_or(ConfigError::Missing {
                key: "--config (or BBCTL_AGENT_CONFIG)".into(),
            })?;
        let mut table = source::read_file(&path)?;
        source::apply_env(&mut table, std::env::vars())?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_table(&table, base)
    }

    /// Builds the configuration from a merged table; relative paths resolve against `base`.
    pub fn from_table(table: &toml::Table, base: &Path) -> Result<Self, ConfigError> {
        let mut r = Reader::new(table);
        let name = r.req_str("name")?;
        if !valid_name(&name) {
            return Err(bad("name", "must match [a-z0-9][a-z0-9._-]{0,62}"));
        }
        let listen_raw = r
            .opt_str("listen")?
            .unwrap_or_else(|| DEFAULT_LISTEN.into());
        let listen: SocketAddr = listen_raw.parse().map_err(|_| {
            bad(
                "listen",
                &format!("`{listen_raw}` is not an IP:port address"),
            )
        })?;
        let state_dir = absolute(base, &r.req_str("state_dir")?);
        let state_db_url = match r.opt_str("state_db_url")? {
            Some(url) => check_db_url(&url)?,
            None => DbUrl::new(format!(
                "sqlite://{}",
                state_dir.join("agent.sqlite3").display()
            )),
        };
        let token = read_token(&mut r, base)?;
        let poll = r.opt_f64("poll_interval_secs")?.unwrap_or(1.0);
        if !(0.05..=3600.0).contains(&poll) {
            return Err(bad("poll_interval_secs", "must be between 0.05 and 3600"));
        }
        let master = read_master(&mut r, base)?;
        let wamp = read_wamp(&mut r)?;
        let load_balancer = read_load_balancer(&mut r)?;
        let tls = read_tls(&mut r, base)?;
        let buildbot_db = buildbot_db::read(&mut r, base, &state_dir)?;
        let fleet = fleet::read(&mut r, base, listen, tls.as_ref())?;
        r.finish()?;
        Ok(AgentConfig {
            name,
            listen,
            state_dir,
            state_db_url,
            token,
            poll_interval: Duration::from_secs_f64(poll),
            master,
            wamp,
            load_balancer,
            tls,
            buildbot_db,
            fleet,
        })
    }

    /// `<state_dir>/configs`: staged configuration bundles.
    pub fn configs_dir(&self) -> PathBuf {
        self.state_dir.join("configs")
    }
}

fn read_token(r: &mut Reader<'_>, base: &Path) -> Result<Secret, ConfigError> {
    let inline = r.opt_str("token")?;
    let file = r.opt_str("token_file")?;
    let token = match (inline, file) {
        (Some(_), Some(_)) => {
            return Err(bad("token", "set either `token` or `token_file`, not both"));
        }
        (Some(t), None) => t,
        (None, Some(f)) => {
            let path = absolute(base, &f);
            std::fs::read_to_string(&path)
                .map_err(|e| {
                    bad(
                        "token_file",
                        &format!("cannot read {}: {e}", path.display()),
                    )
                })?
                .trim()
                .to_owned()
        }
        (None, None) => {
            return Err(ConfigError::Missing {
                key: "token (or token_file)".into(),
            });
        }
    };
    if token.len() < 8 {
        return Err(bad("token", "must be at least 8 characters"));
    }
    Ok(Secret::new(token))
}

fn read_master(r: &mut Reader<'_>, base: &Path) -> Result<MasterConfig, ConfigError> {
    let basedir = absolute(base, &r.req_str("master.basedir")?);
    let buildbot = absolute(base, &r.req_str("master.buildbot")?);
    let mut rest_url = r.req_str("master.rest_url")?;
    if !(rest_url.starts_with("http://") || rest_url.starts_with("https://")) {
        return Err(bad("master.rest_url", "must be an http:// or https:// URL"));
    }
    reqwest::Url::parse(&rest_url).map_err(|e| bad("master.rest_url", &e.to_string()))?;
    if !rest_url.ends_with('/') {
        rest_url.push('/');
    }
    let db_url = r.opt_str("master.db_url")?.map(DbUrl::new);
    let timeout = r.opt_f64("master.start_timeout_secs")?.unwrap_or(60.0);
    if !(timeout.is_finite() && timeout > 0.0 && timeout <= 3600.0) {
        return Err(bad(
            "master.start_timeout_secs",
            "must be between 0 and 3600",
        ));
    }
    let vars = r.opt_table_json("master.vars")?;
    let rest_auth = rest_auth::read(r, base)?;
    Ok(MasterConfig {
        basedir,
        buildbot,
        rest_url,
        db_url,
        start_timeout: Duration::from_secs_f64(timeout),
        vars,
        rest_auth,
    })
}

fn read_wamp(r: &mut Reader<'_>) -> Result<Option<WampConfig>, ConfigError> {
    let url = r.opt_str("wamp.router_url")?;
    let realm = r.opt_str("wamp.realm")?;
    match url {
        None => Ok(None),
        Some(u) if u.starts_with("ws://") || u.starts_with("wss://") => Ok(Some(WampConfig {
            router_url: u,
            realm: realm.unwrap_or_else(|| "buildbot".into()),
        })),
        Some(_) => Err(bad("wamp.router_url", "must be a ws:// or wss:// URL")),
    }
}

/// `[load_balancer]`: each key read as a string here (so that a wrong type or an unknown key is
/// refused like any other setting), then validated into the hook's typed configuration.
fn read_load_balancer(r: &mut Reader<'_>) -> Result<LbConfig, ConfigError> {
    let settings = LbSettings {
        kind: r.opt_str("load_balancer.kind")?,
        runtime_socket: r.opt_str("load_balancer.runtime_socket")?,
        runtime_sockets: r.opt_str_list("load_balancer.runtime_sockets")?,
        backend: r.opt_str("load_balancer.backend")?,
        server: r.opt_str("load_balancer.server")?,
        listen: r.opt_str("load_balancer.listen")?,
        target: r.opt_str("load_balancer.target")?,
    };
    LbConfig::try_from(settings).map_err(|e| bad(&e.key, &e.message))
}

/// `[tls]`: both files or neither; the files are loaded here so that a bad one stops the agent
/// at startup with the setting named.
fn read_tls(r: &mut Reader<'_>, base: &Path) -> Result<Option<TlsConfig>, ConfigError> {
    let cert = r.opt_str("tls.cert_file")?;
    let key = r.opt_str("tls.key_file")?;
    let tls = match (cert, key) {
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => TlsConfig {
            cert_file: absolute(base, &cert),
            key_file: absolute(base, &key),
        },
        (None, Some(_)) => {
            return Err(ConfigError::Missing {
                key: "tls.cert_file".into(),
            });
        }
        (Some(_), None) => {
            return Err(ConfigError::Missing {
                key: "tls.key_file".into(),
            });
        }
    };
    tls::server_config(&tls)?;
    Ok(Some(tls))
}

fn check_db_url(url: &str) -> Result<DbUrl, ConfigError> {
    if url.starts_with("sqlite://")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://")
    {
        Ok(DbUrl::new(url))
    } else {
        Err(bad(
            "state_db_url",
            "must start with sqlite:// or postgres://",
        ))
    }
}

fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(c))
}

fn absolute(base: &Path, value: &str) -> PathBuf {
    let p = Path::new(value);
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    };
    std::path::absolute(&joined).unwrap_or(joined)
}

#[cfg(test)]
mod tests;
