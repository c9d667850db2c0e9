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
    /// Several load balancers (each entry like `runtime_socket`); exclusive with it.
    pub runtime_sockets: Option<Vec<String>>,
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
    /// One HAProxy per entry of `runtime_sockets` (one entry for `runtime_socket`), never
    /// empty and without duplicates; every one has this master as `server` in `backend`.
    Haproxy {
        runtime_sockets: Vec<HaproxySocket>,
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
                let (key, sockets) = sockets(&s)?;
                (
                    if key == "runtime_socket" {
                        &["runtime_socket", "backend", "server"]
                    } else {
                        &["runtime_sockets", "backend", "server"]
                    },
                    LbConfig::Haproxy {
                        runtime_sockets: sockets,
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
        if s.runtime_sockets.is_some() && !used.contains(&"runtime_sockets") {
            return Err(bad(
                "runtime_sockets",
                &format!("is not used by kind `{kind}`"),
            ));
        }
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

/// `runtime_socket` (one) or `runtime_sockets` (a non-empty list without duplicates), never
/// both; returns which key was given and the sockets.
fn sockets(s: &LbSettings) -> Result<(&'static str, Vec<HaproxySocket>), LbConfigError> {
    match (&s.runtime_socket, &s.runtime_sockets) {
        (Some(_), Some(_)) => Err(bad(
            "runtime_sockets",
            "give either runtime_socket (one load balancer) or runtime_sockets (several), not both",
        )),
        (None, Some(list)) => {
            if list.is_empty() {
                return Err(bad(
                    "runtime_sockets",
                    "is empty; list at least one HAProxy runtime API (or use runtime_socket)",
                ));
            }
            let mut sockets: Vec<HaproxySocket> = Vec::with_capacity(list.len());
            for value in list {
                let socket = parse_socket("runtime_sockets", value)?;
                if sockets.contains(&socket) {
                    return Err(bad(
                        "runtime_sockets",
                        &format!("`{value}` is listed twice"),
                    ));
                }
                sockets.push(socket);
            }
            Ok(("runtime_sockets", sockets))
        }
        (socket, None) => {
            let value = required("runtime_socket", socket)?;
            Ok((
                "runtime_socket",
                vec![parse_socket("runtime_socket", value)?],
            ))
        }
    }
}

fn parse_socket(key: &str, value: &str) -> Result<HaproxySocket, LbConfigError> {
    match value.strip_prefix("tcp:") {
        Some(hostport) => match hostport.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                Ok(HaproxySocket::Tcp(hostport.to_owned()))
            }
            _ => Err(bad(key, &format!("`{value}` is not tcp:HOST:PORT"))),
        },
        None if value.starts_with('/') => Ok(HaproxySocket::Unix(PathBuf::from(value))),
        None => Err(bad(
            key,
            &format!("`{value}` is not an absolute unix socket path or tcp:HOST:PORT"),
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
        let list = table.get("runtime_sockets").map(|v| {
            v.as_array()
                .unwrap()
                .iter()
                .map(|e| e.as_str().unwrap().to_owned())
                .collect()
        });
        LbConfig::try_from(LbSettings {
            kind: get("kind"),
            runtime_socket: get("runtime_socket"),
            runtime_sockets: list,
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
                runtime_sockets: vec![HaproxySocket::Unix("/run/haproxy/admin.sock".into())],
                backend: "masters".into(),
                server: "master-1".into(),
            }
        );
        let t = "kind = \"haproxy\"\nruntime_socket = \"tcp:127.0.0.1:9999\"\n\
                 backend = \"b\"\nserver = \"s\"";
        assert!(matches!(
            parse(t).unwrap(),
            LbConfig::Haproxy { runtime_sockets: s, .. }
                if s == [HaproxySocket::Tcp("127.0.0.1:9999".into())]
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
            (
                "kind = \"relay\"\nlisten = \"127.0.0.1:1\"\ntarget = \"127.0.0.1:2\"\n\
                 runtime_sockets = [\"/s\"]",
                "load_balancer.runtime_sockets",
            ),
        ];
        for (text, key) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.contains(key), "{text:?} gave {err}");
        }
    }

    const HAPROXY: &str = "kind = \"haproxy\"\nbackend = \"masters\"\nserver = \"master-1\"\n";

    #[test]
    fn runtime_sockets_lists_several_load_balancers() {
        let cfg = parse(&format!(
            "{HAPROXY}runtime_sockets = [\"tcp:10.77.0.21:9999\", \"tcp:10.77.0.22:9999\", \
             \"/run/haproxy/admin.sock\"]"
        ))
        .unwrap();
        assert_eq!(
            cfg,
            LbConfig::Haproxy {
                runtime_sockets: vec![
                    HaproxySocket::Tcp("10.77.0.21:9999".into()),
                    HaproxySocket::Tcp("10.77.0.22:9999".into()),
                    HaproxySocket::Unix("/run/haproxy/admin.sock".into()),
                ],
                backend: "masters".into(),
                server: "master-1".into(),
            }
        );
        // A list of one is the same as runtime_socket.
        assert_eq!(
            parse(&format!(
                "{HAPROXY}runtime_sockets = [\"tcp:127.0.0.1:9999\"]"
            ))
            .unwrap(),
            parse(&format!("{HAPROXY}runtime_socket = \"tcp:127.0.0.1:9999\"")).unwrap(),
        );
    }

    #[test]
    fn runtime_sockets_refuses_both_keys_an_empty_list_duplicates_and_bad_entries() {
        let cases = [
            (
                "runtime_socket = \"/s\"\nruntime_sockets = [\"tcp:127.0.0.1:1\"]",
                "not both",
            ),
            ("runtime_sockets = []", "is empty"),
            (
                "runtime_sockets = [\"tcp:127.0.0.1:1\", \"tcp:127.0.0.1:1\"]",
                "`tcp:127.0.0.1:1` is listed twice",
            ),
            (
                "runtime_sockets = [\"tcp:127.0.0.1:1\", \"tcp:nope\"]",
                "`tcp:nope` is not tcp:HOST:PORT",
            ),
            (
                "runtime_sockets = [\"relative.sock\"]",
                "`relative.sock` is not an absolute unix socket path",
            ),
        ];
        for (lines, message) in cases {
            let err = parse(&format!("{HAPROXY}{lines}")).unwrap_err();
            assert!(
                err.starts_with("bad setting `load_balancer.runtime_sockets`: "),
                "{lines:?} gave {err}"
            );
            assert!(err.contains(message), "{lines:?} gave {err}");
        }
    }
}
