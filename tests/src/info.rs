//! Typed views of what `scripts/fleet` writes: DIR/fleet.json and `scripts/fleet status --json`.
//! Field names are the scripts' public contract (docs/fleet.md).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// DIR/fleet.json.
#[derive(Debug, Clone, Deserialize)]
pub struct FleetInfo {
    pub dir: PathBuf,
    /// `starting`, `up`, `down` or `partly-down`.
    pub state: String,
    pub port_base: u16,
    pub token_file: PathBuf,
    /// DIR/bbctl.toml, the inventory `bbctl` reads.
    pub inventory: PathBuf,
    /// The Buildbot the masters and workers run (`up --buildbot-version`), and its venv.
    pub buildbot_version: String,
    pub buildbot_venv: PathBuf,
    /// The master.cfg copied into every slot (v1) and its v2 (one more builder).
    pub master_cfg: PathBuf,
    pub master_cfg_v2: PathBuf,
    pub agent_bin: PathBuf,
    pub bbctl_bin: PathBuf,
    pub realm: String,
    pub router_url: String,
    pub db_url: String,
    /// Where the agents keep the fleet's control state (`up --fleet-store`).
    #[serde(default)]
    pub fleet_store: Option<FleetStoreInfo>,
    pub postgres: PostgresInfo,
    pub router: RouterInfo,
    pub load_balancer: LoadBalancerInfo,
    /// Every slot: running masters first, then standby slots.
    pub masters: Vec<FleetMaster>,
    pub workers: Vec<FleetWorker>,
    /// `up --hosts` only (docs/fleet.md, "Multi-host fleet"): the fleet's private network.
    #[serde(default)]
    pub network: Option<NetworkInfo>,
    /// `up --hosts` only: host name (`db`, `ops`, `m1`, `lb1`, ...) -> its namespace and address.
    #[serde(default)]
    pub hosts: BTreeMap<String, HostInfo>,
    /// `up --hosts` only: lb1 and lb2.
    #[serde(default)]
    pub load_balancers: Vec<LoadBalancerHost>,
    /// `up --hosts` only: the fleet CA.
    #[serde(default)]
    pub tls: Option<TlsInfo>,
}

/// fleet.json's `network` (`up --hosts`).
#[derive(Debug, Clone, Deserialize)]
pub struct NetworkInfo {
    pub id: String,
    pub subnet: String,
    /// The namespace holding the bridge and every host's veth end `v-<host>`.
    pub netns: String,
    pub bridge: String,
}

/// One host of `up --hosts`: a network namespace with one address on the fleet's bridge.
#[derive(Debug, Clone, Deserialize)]
pub struct HostInfo {
    pub netns: String,
    pub address: String,
    #[serde(default)]
    pub runs: Vec<String>,
}

/// One load balancer of `up --hosts` (fleet.json `load_balancers`).
#[derive(Debug, Clone, Deserialize)]
pub struct LoadBalancerHost {
    /// `lb1`, `lb2`; also its host's name.
    pub name: String,
    pub address: String,
    pub netns: String,
    /// The workers' port on `address`.
    pub port: u16,
    /// The runtime API, `tcp:ADDR:PORT`.
    pub runtime: String,
    pub backend: String,
    #[serde(default)]
    pub pid: Option<u32>,
}

/// fleet.json's `tls` (`up --hosts`).
#[derive(Debug, Clone, Deserialize)]
pub struct TlsInfo {
    /// The fleet CA's certificate: the inventory's `ca_file`.
    pub ca_file: PathBuf,
}

/// fleet.json's `fleet_store`: the fleet store (`up --fleet-store postgres|sqlite`).
#[derive(Debug, Clone, Deserialize)]
pub struct FleetStoreInfo {
    /// `postgres` (the fleet's PostgreSQL, a `[fleet]` table in every agent.toml) or `sqlite`
    /// (no `[fleet]` table: each agent's own store).
    pub backend: String,
    /// `[fleet] name`.
    pub name: String,
    /// `postgres://bbctl@127.0.0.1:P/bbctl_fleet` (no password inside; postgres only).
    #[serde(default)]
    pub db_url: Option<String>,
    /// The role's password, mode 600 (postgres only).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PostgresInfo {
    pub pid: u32,
    pub port: u16,
    pub datadir: PathBuf,
    /// The server's log (`pg_ctl start -l`).
    pub log: PathBuf,
    /// The PostgreSQL binaries (`pg_ctl`) the fleet used.
    pub bindir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RouterInfo {
    pub pid: u32,
    pub port: u16,
    pub log: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LoadBalancerInfo {
    pub port: u16,
    pub runtime_socket: PathBuf,
    pub pid: u32,
    pub backend: String,
    pub config: PathBuf,
}

/// One master slot and its agent.
#[derive(Debug, Clone, Deserialize)]
pub struct FleetMaster {
    /// The agent's name, as `bbctl` and the HAProxy server use it.
    pub name: String,
    pub standby: bool,
    pub agent_url: String,
    pub agent_pid: u32,
    pub agent_config: PathBuf,
    pub agent_log: PathBuf,
    /// The Buildbot REST base, `http://127.0.0.1:P/`.
    pub rest_url: String,
    pub basedir: PathBuf,
    pub worker_port: u16,
    pub www_port: u16,
    /// The master's PID when `up` finished (None for standby slots); the live one is in
    /// `<basedir>/twistd.pid`.
    pub master_pid: Option<u32>,
    /// `up --hosts` only: the slot's host (`m1`, ...), its address and namespace.
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub netns: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FleetWorker {
    pub name: String,
    pub basedir: PathBuf,
    pub pid: u32,
    pub password: String,
    /// `up --hosts` only: the load balancer the worker connects through (`lb1`, `lb2`).
    #[serde(default)]
    pub load_balancer: Option<String>,
}

/// `scripts/fleet status --json`.
#[derive(Debug, Clone, Deserialize)]
pub struct FleetStatus {
    /// Every part alive, every non-standby master active, every worker connected.
    pub ok: bool,
    pub postgres: PartStatus,
    pub router: PartStatus,
    pub load_balancer: PartStatus,
    pub masters: Vec<MasterStatus>,
    pub workers: Vec<WorkerStatus>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PartStatus {
    pub pid: Option<u32>,
    pub alive: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MasterStatus {
    pub name: String,
    pub standby: bool,
    pub agent_alive: bool,
    pub master_pid: Option<u32>,
    pub master_alive: bool,
    pub active: bool,
    pub masterid: Option<i64>,
    /// HAProxy's view of this slot's server (`UP`, `DOWN`, `MAINT`, ...).
    pub lb_server: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WorkerStatus {
    pub name: String,
    pub pid: Option<u32>,
    pub alive: bool,
    /// Names of the slots whose master the worker is attached to.
    pub connected_to: Vec<String>,
}
