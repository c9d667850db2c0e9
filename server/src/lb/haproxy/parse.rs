//! Parsers for the HAProxy 2.6 runtime-API answers the hook reads.
//!
//! `show sess all` prints one block per session. The block starts at column 0 with the session
//! pointer (the id `shutdown session` takes); indented lines follow. On HAProxy 2.6.12 (captured
//! with a Buildbot 4.3.0 worker attached through it, see `show_sess_all_ipv4.txt`):
//!
//! ```text
//! 0x557a05452420: [23/Nov/2026:13:47:04.222219] id=0 proto=tcpv4 source=127.0.0.1:40738
//!   frontend=workers (id=2 mode=tcp), listener=? (id=1) addr=127.0.0.1:27910
//!   backend=masters (id=3 mode=tcp) addr=127.0.0.1:34578
//!   server=m1 (id=1) addr=127.0.0.1:27911
//! ```
//!
//! `source=` is the worker, the frontend `addr=` HAProxy's listening address, the **backend
//! `addr=`** HAProxy's local address on the connection to the server — what the master logs as
//! the worker's peer (`port=34578`) — and the server `addr=` the master's PB port. IPv6
//! addresses are printed without brackets (`addr=::1:48060`): the port follows the last `:`.
//!
//! `show servers state BACKEND` prints a version line (`1`), a `# be_id be_name …` header and
//! one row per server; columns are looked up by header name.

use std::net::SocketAddr;

use crate::lb::LbError;

/// One session of `show sess all`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// `0x…`, the argument of `shutdown session`.
    pub id: String,
    /// The client (`source=`), `None` for non-IP clients such as the CLI's own session.
    pub source: Option<SocketAddr>,
    pub frontend: Option<String>,
    /// `None` for `<NONE>`.
    pub backend: Option<String>,
    /// HAProxy's local address on the server-side connection, once connected.
    pub backend_addr: Option<SocketAddr>,
    pub server: Option<String>,
    pub server_addr: Option<SocketAddr>,
}

/// Parses `show sess all`. Errors when the answer is not a session dump at all.
pub fn parse_sessions(text: &str) -> Result<Vec<Session>, String> {
    let mut sessions: Vec<Session> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            let Some((id, rest)) = line.split_once(": ").filter(|(id, _)| id.starts_with("0x"))
            else {
                return Err(format!("unexpected line `{line}`"));
            };
            sessions.push(Session {
                id: id.to_owned(),
                source: field(rest, "source=").and_then(socket_addr),
                frontend: None,
                backend: None,
                backend_addr: None,
                server: None,
                server_addr: None,
            });
            continue;
        }
        let Some(session) = sessions.last_mut() else {
            return Err(format!("indented line before any session: `{line}`"));
        };
        let line = line.trim_start();
        if let Some(rest) = line.strip_prefix("frontend=") {
            session.frontend = name(rest);
        } else if let Some(rest) = line.strip_prefix("backend=") {
            session.backend = name(rest);
            session.backend_addr = field(rest, "addr=").and_then(socket_addr);
        } else if let Some(rest) = line.strip_prefix("server=") {
            session.server = name(rest);
            session.server_addr = field(rest, "addr=").and_then(socket_addr);
        }
    }
    Ok(sessions)
}

/// The first word, unless it is `<NONE>`.
fn name(rest: &str) -> Option<String> {
    let word = rest.split_whitespace().next()?.trim_end_matches(',');
    (!word.starts_with('<')).then(|| word.to_owned())
}

/// The value of ` key` (a whole word) up to the next space.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line
        .match_indices(key)
        .find(|(i, _)| *i == 0 || line.as_bytes()[i - 1] == b' ')
        .map(|(i, _)| i + key.len())?;
    line[start..].split_whitespace().next()
}

/// `127.0.0.1:34578`, `::1:48060` or `[::1]:48060`; `None` for `unix:1` and the like.
fn socket_addr(text: &str) -> Option<SocketAddr> {
    let (host, port) = text.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some(SocketAddr::new(host.parse().ok()?, port.parse().ok()?))
}

/// A server's administrative state as the hook sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminState {
    Ready,
    Drain,
    Maint,
}

/// Maintenance flags of `srv_admin_state` (HAProxy `enum srv_admin`): forced (`set server …
/// state maint`, 0x01), inherited (0x02), from the configuration (0x04), resolution (0x20).
const ADMIN_MAINT_MASK: u32 = 0x01 | 0x02 | 0x04 | 0x20;
/// Drain flags: forced (0x08), inherited (0x10).
const ADMIN_DRAIN_MASK: u32 = 0x08 | 0x10;

/// One row of `show servers state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerState {
    pub backend: String,
    pub server: String,
    /// `srv_op_state`: 0 stopped, 1 starting, 2 running, 3 stopping.
    pub op_state: u32,
    /// `srv_admin_state` as printed (a bit field).
    pub admin_bits: u32,
    pub admin: AdminState,
}

impl ServerState {
    /// Running as far as health checks go (a server in maint reports 0).
    pub fn is_up(&self) -> bool {
        self.op_state == 2
    }
}

/// Parses `show servers state`; an answer without the version line is HAProxy's error text.
pub fn parse_servers_state(command: &str, text: &str) -> Result<Vec<ServerState>, LbError> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let first = lines.next().unwrap_or("");
    if first.trim().parse::<u32>().is_err() {
        return Err(LbError::Rejected {
            command: command.into(),
            reply: text.trim().into(),
        });
    }
    let parse_err = |message: String| LbError::Parse {
        command: command.into(),
        message,
    };
    let header: Vec<&str> = lines
        .next()
        .and_then(|h| h.strip_prefix('#'))
        .ok_or_else(|| parse_err("no `#` header line".into()))?
        .split_whitespace()
        .collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| parse_err(format!("no column `{name}`")))
    };
    let (be, srv, op, admin) = (
        col("be_name")?,
        col("srv_name")?,
        col("srv_op_state")?,
        col("srv_admin_state")?,
    );
    lines
        .map(|line| {
            let cells: Vec<&str> = line.split_whitespace().collect();
            let cell = |i: usize| {
                cells
                    .get(i)
                    .copied()
                    .ok_or_else(|| parse_err(format!("short row `{line}`")))
            };
            let number = |i: usize| {
                cell(i)?
                    .parse::<u32>()
                    .map_err(|_| parse_err(format!("bad number in `{line}`")))
            };
            let admin_bits = number(admin)?;
            Ok(ServerState {
                backend: cell(be)?.to_owned(),
                server: cell(srv)?.to_owned(),
                op_state: number(op)?,
                admin_bits,
                admin: if admin_bits & ADMIN_MAINT_MASK != 0 {
                    AdminState::Maint
                } else if admin_bits & ADMIN_DRAIN_MASK != 0 {
                    AdminState::Drain
                } else {
                    AdminState::Ready
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Option<SocketAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn real_ipv4_dump_yields_the_backend_source_port() {
        let sessions = parse_sessions(include_str!("show_sess_all_ipv4.txt")).unwrap();
        assert_eq!(sessions.len(), 3);
        assert_eq!(
            sessions[0],
            Session {
                id: "0x557a05452420".into(),
                source: addr("127.0.0.1:40738"),
                frontend: Some("workers".into()),
                backend: Some("masters".into()),
                backend_addr: addr("127.0.0.1:34578"),
                server: Some("m1".into()),
                server_addr: addr("127.0.0.1:27911"),
            }
        );
        assert_eq!(sessions[1].id, "0x7f32e0039d80");
        assert_eq!(sessions[1].backend_addr, addr("127.0.0.1:34598"));
        // The CLI's own session: no IP source, no backend, no server.
        let cli = &sessions[2];
        assert_eq!(
            (cli.source, cli.frontend.as_deref()),
            (None, Some("GLOBAL"))
        );
        assert_eq!(
            (cli.backend.as_ref(), cli.server.as_ref(), cli.backend_addr),
            (None, None, None)
        );
    }

    #[test]
    fn real_ipv6_dump_has_unbracketed_addresses() {
        let sessions = parse_sessions(include_str!("show_sess_all_ipv6.txt")).unwrap();
        let worker = sessions.iter().find(|s| s.id == "0x55e6a54b1420").unwrap();
        assert_eq!(worker.backend_addr, addr("[::1]:48060"));
        assert_eq!(worker.server_addr, addr("[::1]:27911"));
        assert_eq!(worker.source, addr("127.0.0.1:39462"));
    }

    #[test]
    fn error_text_is_not_a_session_dump() {
        assert!(parse_sessions("Permission denied\n").is_err());
        assert_eq!(parse_sessions("\n").unwrap(), vec![]);
    }

    const STATE_HEADER: &str = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state \
        srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status \
        srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id \
        srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr \
        srv_agent_addr srv_agent_port\n";

    #[test]
    fn server_states_captured_from_haproxy_2_6() {
        // Rows as HAProxy 2.6.12 printed them: ready, after `state maint`, after `state drain`.
        let rows = [
            (
                "3 masters 1 m1 127.0.0.1 2 0 1 1 13 6 3 3 6 0 0 0 - 27911 - 0 0 - - 0",
                2,
                AdminState::Ready,
            ),
            (
                "3 masters 1 m1 127.0.0.1 0 1 1 1 0 6 3 0 14 0 0 0 - 27911 - 0 0 - - 0",
                0,
                AdminState::Maint,
            ),
            (
                "3 masters 1 m1 127.0.0.1 2 8 1 1 0 6 3 3 6 0 0 0 - 27911 - 0 0 - - 0",
                2,
                AdminState::Drain,
            ),
        ];
        for (row, op, admin) in rows {
            let text = format!("{STATE_HEADER}{row}\n\n");
            let states = parse_servers_state("show servers state masters", &text).unwrap();
            assert_eq!(states.len(), 1);
            assert_eq!(
                (states[0].backend.as_str(), states[0].server.as_str()),
                ("masters", "m1")
            );
            assert_eq!((states[0].op_state, states[0].admin), (op, admin), "{row}");
        }
    }

    #[test]
    fn server_state_errors_are_typed() {
        let err =
            parse_servers_state("show servers state nope", "Can't find backend.\n\n").unwrap_err();
        assert!(
            matches!(err, LbError::Rejected { ref reply, .. } if reply == "Can't find backend."),
            "{err}"
        );
        let err = parse_servers_state("c", "1\nno header\n").unwrap_err();
        assert!(matches!(err, LbError::Parse { .. }), "{err}");
        let err = parse_servers_state("c", &format!("{STATE_HEADER}3 masters\n")).unwrap_err();
        assert!(matches!(err, LbError::Parse { .. }), "{err}");
    }
}
