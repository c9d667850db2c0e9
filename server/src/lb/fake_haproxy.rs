//! A fake HAProxy runtime API for the hook tests: a TCP listener on a loopback address that
//! answers the commands the hook sends (`show cli level`, `set server … state`, `show servers
//! state`, `show sess all`, `shutdown session`) in HAProxy 2.6's format, one command per
//! connection, from a state the test sets up and inspects. [`FakeHaproxy::stop`] makes it
//! refuse connections (a load balancer that is down) and [`FakeHaproxy::restart`] brings it back
//! on the same address with the state it had.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::HaproxySocket;
use super::haproxy::AdminState;

/// One session of `show sess all`: a worker's connection through this load balancer.
#[derive(Debug, Clone)]
pub(crate) struct FakeSession {
    pub id: String,
    pub server: String,
    /// HAProxy's end of the connection to the master: what the master logs as the peer.
    pub backend_addr: SocketAddr,
}

#[derive(Debug)]
struct State {
    level: String,
    backend: String,
    servers: Vec<(String, AdminState)>,
    sessions: Vec<FakeSession>,
    commands: Vec<String>,
    /// Connections accepted, answered or not.
    connections: usize,
    /// Accept connections and never answer (a load balancer that hangs).
    silent: bool,
}

pub(crate) struct FakeHaproxy {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: Option<JoinHandle<()>>,
}

impl FakeHaproxy {
    /// Listens on `ip` (any port), with `servers` in `backend`, all ready.
    pub async fn start(ip: &str, backend: &str, servers: &[&str]) -> Self {
        let state = Arc::new(Mutex::new(State {
            level: "admin".into(),
            backend: backend.into(),
            servers: servers
                .iter()
                .map(|s| (s.to_string(), AdminState::Ready))
                .collect(),
            sessions: Vec::new(),
            commands: Vec::new(),
            connections: 0,
            silent: false,
        }));
        let listener = TcpListener::bind((ip, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut fake = FakeHaproxy {
            addr,
            state,
            task: None,
        };
        fake.serve(listener);
        fake
    }

    fn serve(&mut self, listener: TcpListener) {
        let state = Arc::clone(&self.state);
        self.task = Some(tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(answer(stream, Arc::clone(&state)));
            }
        }));
    }

    /// Stops listening: connections are refused until [`Self::restart`].
    pub async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Listens again on the same address.
    pub async fn restart(&mut self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }

    /// `tcp:IP:PORT`, as the agent's settings name it.
    pub fn socket(&self) -> HaproxySocket {
        HaproxySocket::Tcp(self.addr.to_string())
    }

    pub fn name(&self) -> String {
        self.socket().to_string()
    }

    /// Accepts connections and never answers, until set back.
    pub fn set_silent(&self, silent: bool) {
        self.state.lock().unwrap().silent = silent;
    }

    /// How many connections it accepted.
    pub fn connections(&self) -> usize {
        self.state.lock().unwrap().connections
    }

    pub fn set_level(&self, level: &str) {
        self.state.lock().unwrap().level = level.into();
    }

    pub fn set_admin(&self, server: &str, admin: AdminState) {
        let mut state = self.state.lock().unwrap();
        let row = state.servers.iter_mut().find(|(s, _)| s == server).unwrap();
        row.1 = admin;
    }

    pub fn admin(&self, server: &str) -> AdminState {
        let state = self.state.lock().unwrap();
        state.servers.iter().find(|(s, _)| s == server).unwrap().1
    }

    pub fn add_session(&self, id: &str, server: &str, backend_addr: &str) {
        self.state.lock().unwrap().sessions.push(FakeSession {
            id: id.into(),
            server: server.into(),
            backend_addr: backend_addr.parse().unwrap(),
        });
    }

    pub fn session_ids(&self) -> Vec<String> {
        let state = self.state.lock().unwrap();
        state.sessions.iter().map(|s| s.id.clone()).collect()
    }

    /// Every command received, in order.
    pub fn commands(&self) -> Vec<String> {
        self.state.lock().unwrap().commands.clone()
    }
}

impl Drop for FakeHaproxy {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn answer(stream: TcpStream, state: Arc<Mutex<State>>) {
    let silent = {
        let mut state = state.lock().unwrap();
        state.connections += 1;
        state.silent
    };
    if silent {
        let _stream = stream;
        return std::future::pending().await;
    }
    let mut stream = BufReader::new(stream);
    let mut line = String::new();
    if stream.read_line(&mut line).await.is_err() {
        return;
    }
    let reply = reply(line.trim(), &mut state.lock().unwrap());
    let _ = stream.get_mut().write_all(reply.as_bytes()).await;
    let _ = stream.get_mut().shutdown().await;
}

fn reply(command: &str, state: &mut State) -> String {
    state.commands.push(command.to_owned());
    let words: Vec<&str> = command.split_whitespace().collect();
    match words.as_slice() {
        ["show", "cli", "level"] => format!("{}\n", state.level),
        _ if state.level != "admin" && words.first() != Some(&"show") => {
            "Permission denied\n".into()
        }
        ["set", "server", target, "state", word] => {
            let Some((backend, server)) = target.split_once('/') else {
                return "Require 'backend/server'.\n".into();
            };
            if backend != state.backend {
                return "No such backend.\n".into();
            }
            let Some(row) = state.servers.iter_mut().find(|(s, _)| s == server) else {
                return "No such server.\n".into();
            };
            row.1 = match *word {
                "ready" => AdminState::Ready,
                "drain" => AdminState::Drain,
                "maint" => AdminState::Maint,
                _ => return "unknown state\n".into(),
            };
            "\n".into()
        }
        ["show", "servers", "state", backend] => {
            if *backend != state.backend {
                return "Can't find backend.\n".into();
            }
            let mut out =
                "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state\n"
                    .to_owned();
            for (i, (server, admin)) in state.servers.iter().enumerate() {
                let (op, bits) = match admin {
                    AdminState::Ready => (2, 0),
                    AdminState::Drain => (2, 8),
                    AdminState::Maint => (0, 1),
                };
                out.push_str(&format!(
                    "3 {backend} {} {server} 127.0.0.1 {op} {bits}\n",
                    i + 1
                ));
            }
            out.push('\n');
            out
        }
        ["show", "sess", "all"] => {
            let mut out = String::new();
            for s in &state.sessions {
                out.push_str(&format!(
                    "{}: [02/Dec/2026:12:00:00.000000] id=1 proto=tcpv4 source=127.0.0.1:50000\n\
                     \x20 frontend=workers (id=2 mode=tcp), listener=? (id=1) addr=127.0.0.1:9989\n\
                     \x20 backend={} (id=3 mode=tcp) addr={}\n\
                     \x20 server={} (id=1) addr=127.0.0.1:9990\n",
                    s.id, state.backend, s.backend_addr, s.server
                ));
            }
            out.push('\n');
            out
        }
        ["shutdown", "session", id] => {
            let before = state.sessions.len();
            state.sessions.retain(|s| s.id != *id);
            if state.sessions.len() < before {
                "\n".into()
            } else {
                "No such session (use 'show sess').\n".into()
            }
        }
        _ => format!("Unknown command: '{command}'\n"),
    }
}
