//! The `haproxy` hook: drives HAProxy's runtime API (the `stats socket … level admin`).
//!
//! Only these commands are sent: `set server BACKEND/SERVER state maint|ready`, `show servers
//! state BACKEND`, `show cli level` (the settings check), `show sess all` and `shutdown session 0x…` for the one session whose backend
//! connection matches the peer the master logged. Never `shutdown sessions server` (it cuts busy
//! workers' builds) and never a reload (it orphans sessions in an old process and resets states).
//!
//! Each command uses its own connection (the non-interactive CLI mode): write the command line,
//! read until HAProxy closes. Commands that succeed silently answer an empty line; anything else
//! is HAProxy's error text.

mod parse;
#[cfg(test)]
mod real_tests;

use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::check::{LbCheckError, cli_level};
use super::{CloseOutcome, HaproxySocket, LbError, LoadBalancerHook, Routing, WorkerAttach};
pub use parse::{AdminState, ServerState, Session, parse_servers_state, parse_sessions};

/// How long one runtime-API command may take, connect to last byte.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// A client of HAProxy's runtime API.
#[derive(Debug, Clone)]
pub struct RuntimeClient {
    socket: HaproxySocket,
    timeout: Duration,
}

impl RuntimeClient {
    pub fn new(socket: HaproxySocket) -> Self {
        RuntimeClient {
            socket,
            timeout: COMMAND_TIMEOUT,
        }
    }

    /// Where this client talks to.
    pub fn socket(&self) -> &HaproxySocket {
        &self.socket
    }

    /// Sends one command and returns HAProxy's whole answer.
    pub async fn command(&self, command: &str) -> Result<String, LbError> {
        let what = format!("HAProxy runtime API at {} (`{command}`)", self.socket);
        let exchange = async {
            match &self.socket {
                HaproxySocket::Unix(path) => {
                    let stream = tokio::net::UnixStream::connect(path)
                        .await
                        .map_err(|e| LbError::io(what.clone(), e))?;
                    exchange(stream, command, &what).await
                }
                HaproxySocket::Tcp(addr) => {
                    let stream = tokio::net::TcpStream::connect(addr.as_str())
                        .await
                        .map_err(|e| LbError::io(what.clone(), e))?;
                    exchange(stream, command, &what).await
                }
            }
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| LbError::Timeout {
                what: what.clone(),
                secs: self.timeout.as_secs(),
            })?
    }

    /// A command that answers nothing on success (`set server`, `shutdown session`).
    async fn action(&self, command: &str) -> Result<(), LbError> {
        let reply = self.command(command).await?;
        let reply = reply.trim();
        if reply.is_empty() {
            Ok(())
        } else {
            Err(LbError::Rejected {
                command: command.into(),
                reply: reply.into(),
            })
        }
    }

    /// `set server BACKEND/SERVER state maint|ready|drain`.
    pub async fn set_server_state(
        &self,
        backend: &str,
        server: &str,
        state: AdminState,
    ) -> Result<(), LbError> {
        let word = match state {
            AdminState::Ready => "ready",
            AdminState::Drain => "drain",
            AdminState::Maint => "maint",
        };
        let command = format!("set server {backend}/{server} state {word}");
        self.action(&command)
            .await
            .map_err(|e| no_such_server(e, backend, server))
    }

    /// The server's row of `show servers state BACKEND`.
    pub async fn server_state(&self, backend: &str, server: &str) -> Result<ServerState, LbError> {
        let command = format!("show servers state {backend}");
        let reply = self.command(&command).await?;
        let rows = parse_servers_state(&command, &reply)
            .map_err(|e| no_such_server(e, backend, server))?;
        rows.into_iter()
            .find(|r| r.server == server)
            .ok_or_else(|| LbError::NoSuchServer {
                backend: backend.into(),
                server: server.into(),
            })
    }

    /// Every session of `show sess all`.
    pub async fn sessions(&self) -> Result<Vec<Session>, LbError> {
        let reply = self.command("show sess all").await?;
        parse_sessions(&reply).map_err(|message| LbError::Parse {
            command: "show sess all".into(),
            message,
        })
    }

    /// `shutdown session ID`; [`LbError::SessionNotFound`]-worthy answers come back as `Ok(false)`.
    pub async fn shutdown_session(&self, id: &str) -> Result<bool, LbError> {
        match self.action(&format!("shutdown session {id}")).await {
            Ok(()) => Ok(true),
            Err(LbError::Rejected { reply, .. }) if reply.starts_with("No such session") => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    command: &str,
    what: &str,
) -> Result<String, LbError> {
    stream
        .write_all(format!("{command}\n").as_bytes())
        .await
        .map_err(|e| LbError::io(what, e))?;
    let mut reply = Vec::new();
    stream
        .read_to_end(&mut reply)
        .await
        .map_err(|e| LbError::io(what, e))?;
    String::from_utf8(reply).map_err(|_| LbError::Parse {
        command: command.into(),
        message: "the answer is not UTF-8".into(),
    })
}

/// HAProxy's "No such backend." / "No such server." become a typed error.
fn no_such_server(e: LbError, backend: &str, server: &str) -> LbError {
    match e {
        LbError::Rejected { reply, .. }
            if reply.starts_with("No such") || reply.starts_with("Can't find backend") =>
        {
            LbError::NoSuchServer {
                backend: backend.into(),
                server: server.into(),
            }
        }
        other => other,
    }
}

/// The hook for kind `haproxy`: this master is `server` in `backend`.
#[derive(Debug, Clone)]
pub struct HaproxyHook {
    client: RuntimeClient,
    backend: String,
    server: String,
}

impl HaproxyHook {
    pub fn new(socket: HaproxySocket, backend: String, server: String) -> Self {
        HaproxyHook {
            client: RuntimeClient::new(socket),
            backend,
            server,
        }
    }

    pub fn client(&self) -> &RuntimeClient {
        &self.client
    }

    /// The session of this backend/server whose HAProxy-side address is the worker's logged peer.
    pub async fn find_session(&self, attach: &WorkerAttach) -> Result<Option<Session>, LbError> {
        let sessions = self.client.sessions().await?;
        Ok(sessions.into_iter().find(|s| {
            s.backend.as_deref() == Some(self.backend.as_str())
                && s.server.as_deref() == Some(self.server.as_str())
                && s.backend_addr.is_some_and(|a| {
                    a.port() == attach.peer_port && super::same_host(&attach.peer_host, a.ip())
                })
        }))
    }
}

impl HaproxyHook {
    /// The settings check (`super::check`): the runtime API answers at `level admin`, and
    /// `show servers state BACKEND` lists the server.
    pub(super) async fn check_settings(&self) -> Result<(), LbCheckError> {
        let socket = self.client.socket.to_string();
        let reply = self
            .client
            .command("show cli level")
            .await
            .map_err(LbCheckError::Unavailable)?;
        match cli_level(&reply) {
            Some("admin") | None => {}
            Some(level) => {
                return Err(LbCheckError::Setting {
                    key: "load_balancer.runtime_socket",
                    message: format!(
                        "HAProxy's runtime API at {socket} is at level `{level}`; the agent \
                         needs `level admin` (`stats socket ... level admin` in haproxy.cfg)"
                    ),
                });
            }
        }
        let command = format!("show servers state {}", self.backend);
        let reply = self
            .client
            .command(&command)
            .await
            .map_err(LbCheckError::Unavailable)?;
        if reply.trim_start().starts_with("Can't find backend") {
            return Err(LbCheckError::Setting {
                key: "load_balancer.backend",
                message: format!(
                    "HAProxy (runtime API at {socket}) has no backend `{}`",
                    self.backend
                ),
            });
        }
        let rows = parse_servers_state(&command, &reply).map_err(LbCheckError::Unavailable)?;
        if rows.iter().any(|r| r.server == self.server) {
            return Ok(());
        }
        let names: Vec<&str> = rows.iter().map(|r| r.server.as_str()).collect();
        Err(LbCheckError::Setting {
            key: "load_balancer.server",
            message: format!(
                "HAProxy backend `{}` has no server `{}` (it has: {})",
                self.backend,
                self.server,
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            ),
        })
    }
}

impl LoadBalancerHook for HaproxyHook {
    fn kind(&self) -> &'static str {
        "haproxy"
    }

    fn stop_routing(&self) -> BoxFuture<'_, Result<(), LbError>> {
        Box::pin(
            self.client
                .set_server_state(&self.backend, &self.server, AdminState::Maint),
        )
    }

    fn resume_routing(&self) -> BoxFuture<'_, Result<(), LbError>> {
        Box::pin(
            self.client
                .set_server_state(&self.backend, &self.server, AdminState::Ready),
        )
    }

    fn routing_state(&self) -> BoxFuture<'_, Result<Routing, LbError>> {
        Box::pin(async {
            let state = self
                .client
                .server_state(&self.backend, &self.server)
                .await?;
            Ok(match state.admin {
                AdminState::Maint => Routing::Maint,
                AdminState::Drain => Routing::Drain,
                AdminState::Ready => Routing::Ready,
            })
        })
    }

    fn check(&self) -> BoxFuture<'_, Result<(), LbCheckError>> {
        Box::pin(self.check_settings())
    }

    fn close_worker_session<'a>(
        &'a self,
        attach: &'a WorkerAttach,
    ) -> BoxFuture<'a, Result<CloseOutcome, LbError>> {
        Box::pin(async move {
            let not_found = || LbError::SessionNotFound {
                worker: attach.worker.clone(),
                peer_host: attach.peer_host.clone(),
                peer_port: attach.peer_port,
            };
            let session = self.find_session(attach).await?.ok_or_else(not_found)?;
            if self.client.shutdown_session(&session.id).await? {
                tracing::info!(worker = %attach.worker, session = %session.id, "closed the worker's HAProxy session");
                Ok(CloseOutcome::Closed {
                    session: session.id,
                })
            } else {
                Err(not_found())
            }
        })
    }
}
