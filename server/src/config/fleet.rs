//! `[fleet]`: where the fleet's control state lives (docs/fleet-store.md) — the fleet's name,
//! its PostgreSQL store (`db_url` without a password, the password in `password_file`), the URL
//! this agent advertises in the registry and how often it says it is alive. Every key is
//! optional: without `db_url` the store is a SQLite file of this agent.

use std::path::Path;
use std::time::Duration;

use super::read::{Reader, bad};
use super::{ConfigError, TlsConfig, absolute, valid_name};
use crate::secret::{DbUrl, Secret};

/// The validated `[fleet]` table.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// The lease row's key: every agent of one fleet uses the same one (default `default`).
    pub name: String,
    /// `postgres://user@host:port/db?…` (never a password); `None`: the SQLite store
    /// `<state_dir>/fleet.sqlite`.
    pub db_url: Option<DbUrl>,
    /// Read from `password_file`; `Debug`/`Display` redact it.
    pub password: Option<Secret>,
    /// The URL other agents and bbctl reach this agent at (default: `http(s)://<listen>`).
    pub advertise_url: String,
    /// Registered as a standby slot (bbctl orders standby agents after the others).
    pub standby: bool,
    pub heartbeat: Duration,
}

pub const DEFAULT_FLEET: &str = "default";
pub const DEFAULT_HEARTBEAT_SECS: f64 = 10.0;

pub(super) fn read(
    r: &mut Reader<'_>,
    base: &Path,
    listen: std::net::SocketAddr,
    tls: Option<&TlsConfig>,
) -> Result<FleetConfig, ConfigError> {
    let name = r
        .opt_str("fleet.name")?
        .unwrap_or_else(|| DEFAULT_FLEET.into());
    if !valid_name(&name) {
        return Err(bad("fleet.name", "must match [a-z0-9][a-z0-9._-]{0,62}"));
    }
    let db_url = r
        .opt_str("fleet.db_url")?
        .map(|u| check_url(&u))
        .transpose()?;
    let password = match r.opt_str("fleet.password_file")? {
        None => None,
        Some(_) if db_url.is_none() => {
            return Err(bad("fleet.password_file", "needs `fleet.db_url`"));
        }
        Some(f) => {
            let path = absolute(base, &f);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                bad(
                    "fleet.password_file",
                    &format!("cannot read {}: {e}", path.display()),
                )
            })?;
            let password = text.trim_end_matches(['\n', '\r']).to_owned();
            if password.is_empty() {
                return Err(bad(
                    "fleet.password_file",
                    &format!("{} is empty", path.display()),
                ));
            }
            Some(Secret::new(password))
        }
    };
    let advertise_url = match r.opt_str("fleet.advertise_url")? {
        Some(u) => {
            let parsed =
                reqwest::Url::parse(&u).map_err(|e| bad("fleet.advertise_url", &e.to_string()))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(bad(
                    "fleet.advertise_url",
                    "must be an http:// or https:// URL",
                ));
            }
            u.trim_end_matches('/').to_owned()
        }
        None => {
            let scheme = if tls.is_some() { "https" } else { "http" };
            format!("{scheme}://{listen}")
        }
    };
    let heartbeat = r
        .opt_f64("fleet.heartbeat_secs")?
        .unwrap_or(DEFAULT_HEARTBEAT_SECS);
    if !(heartbeat.is_finite() && (0.1..=3600.0).contains(&heartbeat)) {
        return Err(bad("fleet.heartbeat_secs", "must be between 0.1 and 3600"));
    }
    let standby = r.opt_bool("fleet.standby")?.unwrap_or(false);
    Ok(FleetConfig {
        name,
        db_url,
        password,
        advertise_url,
        standby,
        heartbeat: Duration::from_secs_f64(heartbeat),
    })
}

/// A `postgres://` URL without a password: the password goes in `password_file` so that the
/// URL can be shown (and logged) as it is.
fn check_url(url: &str) -> Result<DbUrl, ConfigError> {
    let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    else {
        return Err(bad(
            "fleet.db_url",
            "must be a postgres:// URL (without it the store is a SQLite file of this agent)",
        ));
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let userinfo = authority.rsplit_once('@').map(|(u, _)| u);
    let query = rest.split_once('?').map_or("", |(_, q)| q);
    let password_param = query
        .split('&')
        .any(|p| p.split('=').next() == Some("password"));
    if userinfo.is_some_and(|u| u.contains(':')) || password_param {
        return Err(bad(
            "fleet.db_url",
            "must not hold a password: put it in `fleet.password_file`",
        ));
    }
    Ok(DbUrl::new(url))
}
