//! The probes of `bbctl-agent check-config` ([`super::check`]), one function per thing a config
//! names, each answering `ok`, `problem` or `note` lines. Network probes are bounded: the
//! master's REST API 5 s, each HAProxy runtime-API command 5 s (`lb::haproxy`), the fleet
//! store 5 s to connect.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use nix::unistd::{AccessFlags, access};

use super::executable::is_executable;
use super::{Kind, Line};
use crate::buildbot::{BuildbotApi, RestClient, RestError};
use crate::buildbot_db::url::DbTarget;
use crate::config::AgentConfig;
use crate::fleet_store::FleetStore;
use crate::lb::haproxy::{HaproxyHook, RuntimeClient};
use crate::lb::{HaproxySocket, LbCheckError, LbConfig, LoadBalancerHook};
use crate::master::process;

/// How long the master's www gets to answer `GET api/v2/masters`.
const REST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the fleet store gets, connecting included (libpq's `connect_timeout` is 5 s).
const STORE_TIMEOUT: Duration = Duration::from_secs(8);

fn ok(text: impl Into<String>) -> Line {
    Line::new(Kind::Ok, text)
}

fn problem(text: impl Into<String>) -> Line {
    Line::new(Kind::Problem, text)
}

fn note(text: impl Into<String>) -> Line {
    Line::new(Kind::Note, text)
}

/// `master.basedir` holds a master; a missing one is a note (the agent can create it).
pub fn basedir(config: &AgentConfig) -> Line {
    let dir = &config.master.basedir;
    let shown = dir.display();
    match std::fs::metadata(dir) {
        Err(_) if std::fs::symlink_metadata(dir).is_err() => note(format!(
            "master.basedir {shown} does not exist: the agent creates the master there on \
             POST /v1/master/create (buildbot create-master)"
        )),
        Err(e) => problem(format!("master.basedir {shown}: {e}")),
        Ok(m) if !m.is_dir() => problem(format!("master.basedir {shown} is not a directory")),
        Ok(_) if dir.join("buildbot.tac").is_file() => {
            ok(format!("master.basedir {shown} holds buildbot.tac"))
        }
        Ok(_) => problem(format!(
            "master.basedir {shown} holds no buildbot.tac: not a Buildbot master basedir"
        )),
    }
}

/// `master.buildbot` is an executable file.
pub fn executable(config: &AgentConfig) -> Line {
    let exe = &config.master.buildbot;
    let shown = exe.display();
    if is_executable(exe) {
        ok(format!("master.buildbot {shown} is an executable file"))
    } else if exe.exists() {
        problem(format!("master.buildbot {shown} is not an executable file"))
    } else {
        problem(format!("master.buildbot {shown} does not exist"))
    }
}

/// `state_dir` is a writable directory, or can be created (its nearest existing ancestor is).
pub fn state_dir(config: &AgentConfig) -> Line {
    let dir = &config.state_dir;
    let shown = dir.display();
    let writable = |p: &Path| access(p, AccessFlags::W_OK | AccessFlags::X_OK).is_ok();
    if dir.exists() {
        return if !dir.is_dir() {
            problem(format!("state_dir {shown} is not a directory"))
        } else if writable(dir) {
            ok(format!("state_dir {shown} is writable"))
        } else {
            problem(format!("state_dir {shown} is not writable by this user"))
        };
    }
    let Some(ancestor) = dir.ancestors().skip(1).find(|a| a.exists()) else {
        return problem(format!("state_dir {shown} cannot be created"));
    };
    if ancestor.is_dir() && writable(ancestor) {
        ok(format!(
            "state_dir {shown} does not exist yet; the agent can create it (in {})",
            ancestor.display()
        ))
    } else {
        problem(format!(
            "state_dir {shown} does not exist and cannot be created: {} is not writable by \
             this user",
            ancestor.display()
        ))
    }
}

/// A listen address (`key` names the setting) can be bound now; one in use is a note, since
/// the agent itself may hold it.
pub fn listen(key: &str, addr: SocketAddr) -> Line {
    match std::net::TcpListener::bind(addr) {
        Ok(_) => ok(format!("{key} {addr} can be bound")),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => note(format!(
            "{key} {addr} is in use: by this agent if it runs, else the agent cannot start"
        )),
        Err(e) => problem(format!("{key} {addr} cannot be bound: {e}")),
    }
}

/// `master.rest_url` answers `GET api/v2/masters` (in the session of `[master.rest_auth]`). When
/// nothing answers, the line says whether the master runs.
pub async fn rest(config: &AgentConfig) -> Line {
    let url = &config.master.rest_url;
    let client = RestClient::new(url, config.master.rest_auth.clone());
    let answer = tokio::time::timeout(REST_TIMEOUT, client.masters()).await;
    let failed = match answer {
        Ok(Ok(masters)) => {
            return ok(format!(
                "master.rest_url {url} answers GET api/v2/masters ({} masters)",
                masters.len()
            ));
        }
        Ok(Err(RestError::Transport { url: api, message })) => {
            let why = connect_error(url).await.unwrap_or(message);
            format!("{api}: {why}")
        }
        // It answered: the URL reaches a www; what it said names the setting to fix.
        Ok(Err(e)) => return problem(format!("master.rest_url: {e}")),
        Err(_) => format!(
            "{url}api/v2/masters did not answer within {} s",
            REST_TIMEOUT.as_secs()
        ),
    };
    let running = match process::running_pid(&config.master.basedir) {
        None => "the master is not running (twistd.pid names no live process)".to_owned(),
        Some(pid) => format!("the master runs (pid {pid}): is this its www?"),
    };
    problem(format!("master.rest_url: {failed}; {running}"))
}

/// Why a TCP connection to `url`'s host and port fails (`cannot connect to localhost:8011:
/// Connection refused`), for a REST error that only says "error sending request"; `None` when
/// it connects (the failure was elsewhere) or the URL has no host.
pub(super) async fn connect_error(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    let host = parsed
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = parsed.port_or_known_default()?;
    let connect = tokio::net::TcpStream::connect((host, port));
    match tokio::time::timeout(Duration::from_secs(2), connect).await {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(format!("cannot connect to {host}:{port}: {e}")),
        Err(_) => Some(format!(
            "cannot connect to {host}:{port}: no answer within 2 s"
        )),
    }
}

/// The load balancer the drains use.
pub async fn load_balancer(config: &AgentConfig) -> Vec<Line> {
    match &config.load_balancer {
        LbConfig::None => vec![note(
            "load_balancer: kind = \"none\": drains will be refused (no load-balancer hook); \
             see docs/agent-config.md, [load_balancer]",
        )],
        LbConfig::Relay { listen: addr, .. } => vec![listen("load_balancer.listen", *addr)],
        LbConfig::Haproxy {
            runtime_sockets,
            backend,
            server,
        } => {
            let probes = runtime_sockets
                .iter()
                .map(|socket| haproxy(socket, backend, server));
            futures_util::future::join_all(probes).await
        }
    }
}

/// One HAProxy: its runtime API answers `show info`, then the agent's start-up check (level
/// admin, the backend and the server).
async fn haproxy(socket: &HaproxySocket, backend: &str, server: &str) -> Line {
    let info = match RuntimeClient::new(socket.clone())
        .command("show info")
        .await
    {
        Ok(info) => info,
        Err(e) => return problem(format!("load_balancer: {e}")),
    };
    let version = info
        .lines()
        .find_map(|l| l.strip_prefix("Version:"))
        .map_or_else(
            || "version unknown".to_owned(),
            |v| format!("HAProxy {}", v.trim()),
        );
    let hook = HaproxyHook::new(socket.clone(), backend.to_owned(), server.to_owned());
    match hook.check().await {
        Ok(()) => ok(format!(
            "load_balancer: HAProxy runtime API at {socket} answers ({version}); backend \
             `{backend}` has server `{server}`"
        )),
        Err(e @ LbCheckError::Setting { .. }) => {
            problem(format!("{e} (HAProxy runtime API at {socket})"))
        }
        Err(e) => problem(format!("load_balancer: {e}")),
    }
}

/// `[fleet]`: settings the agent would refuse at start, then, with `db_url`, a connection
/// made as the agent makes it but without applying the store's migrations.
pub async fn fleet_store(config: &AgentConfig) -> Vec<Line> {
    if let Err(e) = FleetStore::check_config(config) {
        return vec![problem(e.to_string())];
    }
    let Some(url) = &config.fleet.db_url else {
        return vec![note(format!(
            "fleet: no db_url: the fleet store is this agent's SQLite file {} (not opened here)",
            config.state_dir.join("fleet.sqlite").display()
        ))];
    };
    let target = match DbTarget::parse(url) {
        Ok(t) => t,
        Err(e) => return vec![problem(format!("bad setting `fleet.db_url`: {e}"))],
    };
    let password = config.fleet.password.clone();
    let shown = target.to_string();
    let connect = tokio::task::spawn_blocking(move || connect_store(&target, password));
    let line = match tokio::time::timeout(STORE_TIMEOUT, connect).await {
        Ok(Ok(Ok(()))) => ok(format!(
            "fleet.db_url {shown} answers (connected; check-config applies no migration)"
        )),
        Ok(Ok(Err(e))) => problem(format!("fleet.db_url: cannot connect to {shown}: {e}")),
        Ok(Err(e)) => problem(format!("fleet.db_url: {e}")),
        Err(_) => problem(format!(
            "fleet.db_url: {shown} did not answer within {} s",
            STORE_TIMEOUT.as_secs()
        )),
    };
    vec![line]
}

/// `SELECT 1` over a connection with the agent's parameters (the password apart).
fn connect_store(target: &DbTarget, password: Option<crate::secret::Secret>) -> Result<(), String> {
    use diesel::{Connection, RunQueryDsl};
    let mut extra = vec![
        ("application_name", "bbctl-agent-check"),
        ("connect_timeout", "5"),
    ];
    if let Some(p) = &password {
        extra.push(("password", p.expose()));
    }
    let first_line = |e: &dyn std::fmt::Display| crate::fleet_store::conn::first_line(e);
    let mut conn = diesel::pg::PgConnection::establish(&target.conninfo(&extra))
        .map_err(|e| first_line(&e))?;
    diesel::sql_query("SELECT 1")
        .execute(&mut conn)
        .map_err(|e| first_line(&e))?;
    Ok(())
}
