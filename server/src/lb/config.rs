//! The `[load_balancer]` settings (`docs/agent-config.md`), validated into one variant per kind
//! so that a hook never sees a half-configured load balancer.
//!
//! [`LbSettings`] is the flat table as written (every key optional; `crate::config` reads it and
//! refuses unknown keys); [`LbConfig`] is what it means, parsed once when the agent's
//! configuration is loaded and handed as is to [`super::build`]. Errors name the key, e.g.
//! `load_balancer.backend`.

use std::net::SocketAddr;
use std::path::PathBuf;

/// The `[load_balancer]` table as written. Absent table = all `None` = kind `none`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LbSettings {
    pub kind: Option<String>,
    pub runtime_socket: Option<String>,
    pub backend: Option<String>,
    pub server: Option<String>,
    pub listen: Option<String>,
    pub target: Option<String>,
}

/// A validated load-balancer configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LbConfig {
    #[default]
    None,
    Haproxy {
        runtime_socket: HaproxySocket,
        backend: String,
        server: String,
    },
    Relay {
        listen: SocketAddr,
        target: SocketAddr,
    },
}

/// A `[load_balancer]` setting that cannot be used; `key` is its dotted name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad setting `{key}`: {message}")]
pub struct LbConfigError {
    pub key: String,
    pub message: String,
}

/// Where HAProxy's runtime API listens: `stats socket PATH level admin` or `ipv4@HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HaproxySocket {
    Unix(PathBuf),
    /// `HOST:PORT`, from the setting `tcp:HOST:PORT`.
    Tcp(String),
}

impl std::fmt::Display for HaproxySocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HaproxySocket::Unix(path) => write!(f, "{}", path.display()),
            HaproxySocket::Tcp(addr) => write!(f, "tcp:{addr}"),
        }
    }
}

impl TryFrom<LbSettings> for LbConfig {
    type Error = LbConfigError;

    fn try_from(s: LbSettings) -> Result<Self, LbConfigError> {
        let kind = s.kind.clone().unwrap_or_else(|| "none".into());
        let (used, cfg): (&[&str], LbConfig) = match kind.as_str() {
            "none" => (&[], LbConfig::None),
            "haproxy" => {
                let socket = required("runtime_socket", &s.runtime_socket)?;
                (
                    &["runtime_socket", "backend", "server"],
                    LbConfig::Haproxy {
                        runtime_socket: parse_socket(socket)?,
                        backend: name("backend", required("backend", &s.backend)?)?,
                        server: name("server", required("server", &s.server)?)?,
                    },
                )
            }
            "relay" => (
                &["listen", "target"],
                LbConfig::Relay {
                    listen: addr("listen", required("listen", &s.listen)?)?,
                    target: addr("target", required("target", &s.target)?)?,
                },
            ),
            other => return Err(bad("kind", &format!("`{other}` is not none|haproxy|relay"))),
        };
        let given = [
            ("runtime_socket", &s.runtime_socket),
            ("backend", &s.backend),
            ("server", &s.server),
            ("listen", &s.listen),
            ("target", &s.target),
        ];
        if let Some((key, _)) = given.iter().find(|(k, v)| v.is_some() && !used.contains(k)) {
            return Err(bad(key, &format!("is not used by kind `{kind}`")));
        }
        Ok(cfg)
    }
}

fn bad(key: &str, message: &str) -> LbConfigError {
    LbConfigError {
        key: format!("load_balancer.{key}"),
        message: message.into(),
    }
}

fn required<'a>(key: &str, value: &'a Option<String>) -> Result<&'a str, LbConfigError> {
    match value.as_deref() {
        Some(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(bad(key, "is required for this kind")),
    }
}

/// HAProxy backend and server names: no whitespace or `/` (they are spliced into commands).
fn name(key: &str, value: &str) -> Result<String, LbConfigError> {
    if value
        .chars()
        .any(|c| c.is_whitespace() || c == '/' || c == ';')
    {
        return Err(bad(key, "must not contain whitespace, `/` or `;`"));
    }
    Ok(value.to_owned())
}

fn addr(key: &str, value: &str) -> Result<SocketAddr, LbConfigError> {
    value
        .parse()
        .map_err(|_| bad(key, &format!("`{value}` is not an IP:port address")))
}

fn parse_socket(value: &str) -> Result<HaproxySocket, LbConfigError> {
    match value.strip_prefix("tcp:") {
        Some(hostport) => match hostport.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                Ok(HaproxySocket::Tcp(hostport.to_owned()))
            }
            _ => Err(bad(
                "runtime_socket",
                &format!("`{value}` is not tcp:HOST:PORT"),
            )),
        },
        None if value.starts_with('/') => Ok(HaproxySocket::Unix(PathBuf::from(value))),
        None => Err(bad(
            "runtime_socket",
            "must be an absolute unix socket path or tcp:HOST:PORT",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table `text` as `crate::config` reads it, then validated.
    fn parse(text: &str) -> Result<LbConfig, String> {
        let table: toml::Table = text.parse().unwrap();
        let get = |key: &str| table.get(key).map(|v| v.as_str().unwrap().to_owned());
        LbConfig::try_from(LbSettings {
            kind: get("kind"),
            runtime_socket: get("runtime_socket"),
            backend: get("backend"),
            server: get("server"),
            listen: get("listen"),
            target: get("target"),
        })
        .map_err(|e| e.to_string())
    }

    #[test]
    fn kinds_parse_into_their_variant() {
        assert_eq!(parse("").unwrap(), LbConfig::None);
        assert_eq!(parse("kind = \"none\"").unwrap(), LbConfig::None);
        let h = "kind = \"haproxy\"\nruntime_socket = \"/run/haproxy/admin.sock\"\n\
                 backend = \"masters\"\nserver = \"master-1\"";
        assert_eq!(
            parse(h).unwrap(),
            LbConfig::Haproxy {
                runtime_socket: HaproxySocket::Unix("/run/haproxy/admin.sock".into()),
                backend: "masters".into(),
                server: "master-1".into(),
            }
        );
        let t = "kind = \"haproxy\"\nruntime_socket = \"tcp:127.0.0.1:9999\"\n\
                 backend = \"b\"\nserver = \"s\"";
        assert!(matches!(
            parse(t).unwrap(),
            LbConfig::Haproxy { runtime_socket: HaproxySocket::Tcp(a), .. } if a == "127.0.0.1:9999"
        ));
        let r = "kind = \"relay\"\nlisten = \"127.0.0.1:9989\"\ntarget = \"127.0.0.1:19989\"";
        assert_eq!(
            parse(r).unwrap(),
            LbConfig::Relay {
                listen: "127.0.0.1:9989".parse().unwrap(),
                target: "127.0.0.1:19989".parse().unwrap(),
            }
        );
    }

    #[test]
    fn errors_name_the_setting() {
        let cases = [
            ("kind = \"nginx\"", "load_balancer.kind"),
            (
                "kind = \"relay\"\nlisten = \"127.0.0.1:1\"",
                "load_balancer.target",
            ),
            (
                "kind = \"relay\"\nlisten = \"x\"\ntarget = \"127.0.0.1:2\"",
                "load_balancer.listen",
            ),
            (
                "kind = \"haproxy\"\nbackend = \"b\"\nserver = \"s\"",
                "load_balancer.runtime_socket",
            ),
            (
                "kind = \"haproxy\"\nruntime_socket = \"tcp:nope\"\nbackend = \"b\"\nserver = \"s\"",
                "load_balancer.runtime_socket",
            ),
            (
                "kind = \"haproxy\"\nruntime_socket = \"/s\"\nbackend = \"b c\"\nserver = \"s\"",
                "load_balancer.backend",
            ),
            ("kind = \"none\"\nbackend = \"b\"", "load_balancer.backend"),
        ];
        for (text, key) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.contains(key), "{text:?} gave {err}");
        }
    }
}
