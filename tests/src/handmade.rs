//! The "hand-made" fleet: an existing Buildbot fleet that bbctl did not build, for the adopt tests
//! (issue 12; test binary `adopt`, tests/tests/adopt/).
//!
//! `tests/handmade/fleet up` plays its operator: two Buildbot 4.3 masters made with `buildbot
//! create-master` and started with `buildbot start` from the operator's own
//! `tests/handmade/master.cfg` (per-master values from `<basedir>/local_settings.json`, not from
//! bbctl's vars file; builders `compile-linux`, `docs-html`, `integration-soak`; www with
//! `UserPasswordAuth` users `ops` and `bbctl-agent`, and an `authz` that refuses every anonymous
//! control call), HAProxy from the operator's `haproxy.cfg` (frontend `buildbot_pb`, backend
//! `bb_workers`, servers `bb-alpha` and `bb-bravo`, runtime API at `level admin`), three workers
//! `lnx-01..03` through HAProxy, and only then one bbctl agent per master from a TOML written by
//! hand (`agent.toml.in`: `[master.rest_auth]` as `bbctl-agent`, `[load_balancer] kind =
//! "haproxy"`), with the inventory `bbctl.toml` naming them `m1` and `m2`.
//!
//! | agent (inventory) | master (basedir name) | HAProxy server |
//! |---|---|---|
//! | `m1` | `alpha` | `bb-alpha` |
//! | `m2` | `bravo` | `bb-bravo` |
//!
//! How to use it (the crate is `bbctl_e2e`):
//!
//! ```no_run
//! use bbctl_e2e::handmade::{Handmade, HandmadeOptions};
//!
//! let _serial = bbctl_e2e::serial(); // one fleet at a time in a test binary
//! let fleet = Handmade::start().unwrap(); // or Handmade::start_with(HandmadeOptions { .. })
//! let out = fleet.bbctl(&["masters", "list", "-o", "json"]); // the real CLI, the inventory
//! let build = fleet.force("m1", "integration-soak", &[("soak_secs", "30")]).unwrap(); // as `ops`
//! let anonymous = fleet.buildbot("m1"); // REST without credentials: reads only
//! let ops = fleet.login("m1", "ops").unwrap(); // REST logged in (`ops` or `bbctl-agent`)
//! let state = fleet.lb_server_state("m2").unwrap(); // "UP", "MAINT", ... from the runtime socket
//! // An agent with an edited config: stop m2's agent, write a TOML, start it.
//! fleet.stop_agent("m2").unwrap();
//! let toml = fleet.agent_config_text("m2").replace("bb-bravo", "bb-bravvo");
//! let path = fleet.write_agent_config("m2-typo", &toml).unwrap();
//! let child = fleet.spawn_agent(&path, &[]).unwrap(); // stopped by `down` even if forgotten
//! // Or the fleet's own agent again, from its own TOML (waits for /healthz; returns its PID):
//! // fleet.start_agent("m2", &[]).unwrap();
//! ```
//!
//! [`Handmade::start`] takes well under a minute; the fleet is stopped on drop (its directory,
//! logs included, is kept when the test panics). [`shared_handmade`] is one fleet per test
//! binary for tests that leave it as they found it. Binaries come from `BBCTL_AGENT_BIN` /
//! `BBCTL_BIN`, else this target directory (`cargo build -p bbctl-agent -p bbctl` first).

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use tempfile::TempDir;

use crate::agent_client::AgentClient;
use crate::buildbot::{Buildbot, ForcedBuild};
use crate::fleet::{binaries, describe, repo_root, spawn_reaper};
use crate::procs::pid_alive;
use crate::wait::wait_until;

/// What to start. `Default`: three workers, agents with `[master.rest_auth]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandmadeOptions {
    /// Workers `lnx-01`, `lnx-02`, ... (1 to 6).
    pub workers: usize,
    /// Write `[master.rest_auth]` (user `bbctl-agent`) into the agent TOMLs. Without it the
    /// agents call the master's control endpoints anonymously, which its `authz` refuses.
    pub rest_auth: bool,
}

impl Default for HandmadeOptions {
    fn default() -> Self {
        Self {
            workers: 3,
            rest_auth: true,
        }
    }
}

/// DIR/handmade.json, written by `tests/handmade/fleet up`.
#[derive(Debug, Clone, Deserialize)]
pub struct HandmadeInfo {
    pub dir: PathBuf,
    /// `starting`, `up`, `down` or `partly-down`.
    pub state: String,
    pub buildbot_venv: PathBuf,
    pub agent_bin: PathBuf,
    pub bbctl_bin: PathBuf,
    /// The operator's master.cfg (copied into each basedir).
    pub master_cfg: PathBuf,
    /// The agents' API token (one for the fleet).
    pub token_file: PathBuf,
    /// The operator's bbctl inventory (`m1`, `m2`).
    pub inventory: PathBuf,
    /// Whether the agent TOMLs hold `[master.rest_auth]`.
    pub rest_auth: bool,
    /// www users and their passwords: `ops` (admins: everything) and `bbctl-agent` (worker
    /// control only).
    pub www_users: BTreeMap<String, String>,
    /// The file holding each www user's password (`[master.rest_auth] password_file`).
    pub www_password_files: BTreeMap<String, PathBuf>,
    /// Builder name → the force scheduler that builds it.
    pub builders: BTreeMap<String, String>,
    pub db_url: String,
    pub router_url: String,
    pub realm: String,
    pub haproxy: HandmadeHaproxy,
    /// Two free ports of the fleet's block, for agents a test adds.
    pub spare_agent_ports: Vec<u16>,
    pub masters: Vec<HandmadeMaster>,
    pub workers: Vec<HandmadeWorker>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HandmadeHaproxy {
    /// The workers' address: `127.0.0.1:<port>`.
    pub port: u16,
    pub frontend: String,
    pub backend: String,
    pub config: PathBuf,
    pub runtime_socket: PathBuf,
    pub log: PathBuf,
    pub pid: u32,
}

/// One master and the agent beside it.
#[derive(Debug, Clone, Deserialize)]
pub struct HandmadeMaster {
    /// The operator's short name of the master (`alpha`), its basedir's last component.
    pub name: String,
    /// The agent's name, as the inventory and every bbctl output use it (`m1`).
    pub agent: String,
    /// This master's server in HAProxy's backend (`bb-alpha`).
    pub lb_server: String,
    pub basedir: PathBuf,
    pub local_settings: PathBuf,
    pub twistd_log: PathBuf,
    pub www_port: u16,
    pub pb_port: u16,
    /// The master's www base, `http://127.0.0.1:P/`.
    pub rest_url: String,
    pub agent_port: u16,
    pub agent_url: String,
    /// The hand-written agent TOML.
    pub agent_config: PathBuf,
    pub agent_state_dir: PathBuf,
    pub agent_log: PathBuf,
    /// The agent's PID as last recorded (by `up`, or [`Handmade::start_agent`]).
    pub agent_pid: Option<u32>,
    /// The master's PID when `up` finished; the live one is in `<basedir>/twistd.pid`.
    pub master_pid: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HandmadeWorker {
    pub name: String,
    pub basedir: PathBuf,
    pub password: String,
    pub pid: Option<u32>,
}

/// A running hand-made fleet in a temporary directory; `tests/handmade/fleet down` on drop.
pub struct Handmade {
    pub info: HandmadeInfo,
    dir: Option<TempDir>,
    stopped: bool,
    /// Agents restarted by [`Handmade::start_agent`]: `down` stops them by PID, drop reaps them.
    children: Mutex<Vec<Child>>,
}

fn driver() -> PathBuf {
    repo_root().join("tests").join("handmade").join("fleet")
}

fn run_driver(args: &[&str]) -> Result<Output> {
    let mut cmd = Command::new(driver());
    if args.first() == Some(&"up") {
        let (agent, cli) = binaries()?;
        cmd.env("BBCTL_AGENT_BIN", agent).env("BBCTL_BIN", cli);
    }
    cmd.args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("failed to run tests/handmade/fleet {}", args.join(" ")))
}

fn read_info(dir: &Path) -> Result<HandmadeInfo> {
    let path = dir.join("handmade.json");
    let text =
        fs::read_to_string(&path).with_context(|| format!("failed to read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("failed to parse {}", path.display()))
}

fn read_json(path: &Path) -> Result<serde_json::Value> {
    Ok(serde_json::from_str(&fs::read_to_string(path)?)?)
}

fn write_json(path: &Path, doc: &serde_json::Value) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    fs::write(&tmp, serde_json::to_string_pretty(doc)? + "\n")?;
    fs::rename(&tmp, path)?;
    Ok(())
}

impl Handmade {
    /// The default hand-made fleet: two masters, three workers, agents with REST credentials.
    pub fn start() -> Result<Handmade> {
        Self::start_with(HandmadeOptions::default())
    }

    /// `tests/handmade/fleet up` in a new temporary directory; returns when both masters are
    /// active, every worker is connected and both agents answer `/healthz`.
    pub fn start_with(opts: HandmadeOptions) -> Result<Handmade> {
        let dir = tempfile::Builder::new()
            .prefix("bbctl-handmade-")
            .tempdir()
            .context("failed to create a temp dir")?;
        // PostgreSQL runs as user `postgres` and must traverse the fleet directory.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))?;
        let path = dir.path().to_str().context("temp dir path is not UTF-8")?;
        let workers = opts.workers.to_string();
        let mut args = vec!["up", "--dir", path, "--workers", &workers];
        if !opts.rest_auth {
            args.push("--no-rest-auth");
        }
        let output = run_driver(&args)?;
        if !output.status.success() {
            let kept = dir.keep();
            bail!(
                "tests/handmade/fleet up failed (fleet dir kept: {}): {}",
                kept.display(),
                describe(&output)
            );
        }
        let info = read_info(dir.path())?;
        let mut fleet = Handmade {
            info,
            dir: Some(dir),
            stopped: false,
            children: Mutex::new(Vec::new()),
        };
        if let Err(e) = fleet.warm_up() {
            let down = fleet.down();
            let kept = fleet
                .dir
                .take()
                .expect("a new fleet owns its directory")
                .keep();
            bail!(
                "{e:#} (fleet stopped: {down:?}; its directory, logs included, kept: {})",
                kept.display()
            );
        }
        Ok(fleet)
    }

    /// Waits until each agent describes its master once (`GET /v1/master`): the first answer
    /// runs the master's Buildbot to learn its version, which on a loaded machine can take
    /// longer than the CLI's 5 s per-agent timeout.
    fn warm_up(&self) -> Result<()> {
        for m in &self.info.masters {
            let agent = self.agent(&m.agent);
            wait_until(
                &format!("agent {} to describe its master", m.agent),
                Duration::from_secs(60),
                || {
                    let (status, body) = agent.request(reqwest::Method::GET, "/v1/master", None)?;
                    Ok((status == 200 && body["state"] == "running").then_some(()))
                },
            )?;
        }
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        &self.info.dir
    }

    /// handmade.json as it is now (agents started since are recorded in it).
    pub fn reload_info(&self) -> Result<HandmadeInfo> {
        read_info(self.dir())
    }

    /// The agents' API token.
    pub fn token(&self) -> String {
        fs::read_to_string(&self.info.token_file)
            .expect("the token file is readable")
            .trim()
            .to_owned()
    }

    /// The master whose agent is `agent` (`m1`, `m2`).
    pub fn master(&self, agent: &str) -> &HandmadeMaster {
        self.info
            .masters
            .iter()
            .find(|m| m.agent == agent)
            .unwrap_or_else(|| panic!("no agent {agent} in the hand-made fleet (m1, m2)"))
    }

    fn master_index(&self, agent: &str) -> usize {
        self.info
            .masters
            .iter()
            .position(|m| m.agent == agent)
            .unwrap_or_else(|| panic!("no agent {agent} in the hand-made fleet (m1, m2)"))
    }

    /// A client of `agent`'s API with the fleet's token.
    pub fn agent(&self, agent: &str) -> AgentClient {
        AgentClient::new(&self.master(agent).agent_url, &self.token())
    }

    /// The REST API of `agent`'s master, anonymous (reads only: its authz refuses control).
    pub fn buildbot(&self, agent: &str) -> Buildbot {
        Buildbot::new(&self.master(agent).rest_url)
    }

    /// The REST API of `agent`'s master, logged in as www user `user` (`ops`, `bbctl-agent`).
    pub fn login(&self, agent: &str, user: &str) -> Result<Buildbot> {
        let password = self
            .info
            .www_users
            .get(user)
            .with_context(|| format!("no www user {user} (ops, bbctl-agent)"))?;
        Buildbot::login(&self.master(agent).rest_url, user, password)
    }

    /// Forces a build of `builder` (`compile-linux`, `docs-html`, `integration-soak` with
    /// `soak_secs`) on `agent`'s master, as `ops`, through the builder's force scheduler.
    pub fn force(
        &self,
        agent: &str,
        builder: &str,
        properties: &[(&str, &str)],
    ) -> Result<ForcedBuild> {
        let scheduler = self
            .info
            .builders
            .get(builder)
            .with_context(|| format!("no builder {builder} in tests/handmade/master.cfg"))?;
        self.login(agent, "ops")?
            .force_via(scheduler, builder, properties)
    }

    /// `bbctl --inventory <the operator's bbctl.toml> ARGS`, stdin closed.
    pub fn bbctl_cmd(&self, args: &[&str]) -> Command {
        crate::bbctl::command(&self.info.bbctl_bin, &self.info.inventory, args)
    }

    /// Runs `bbctl ARGS` to the end.
    pub fn bbctl(&self, args: &[&str]) -> Output {
        self.bbctl_cmd(args).output().expect("run bbctl")
    }

    /// One command on HAProxy's runtime API (`show stat`, `show servers state bb_workers`, ...).
    pub fn lb_command(&self, command: &str) -> Result<String> {
        let socket = &self.info.haproxy.runtime_socket;
        let mut stream = UnixStream::connect(socket)
            .with_context(|| format!("connect to {}", socket.display()))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(format!("{command}\n").as_bytes())?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok(answer)
    }

    /// `{server: status}` of the backend `bb_workers` from `show stat` (`UP`, `MAINT`, `DOWN`,
    /// `DRAIN`, `UP 1/2`, ...).
    pub fn lb_server_states(&self) -> Result<BTreeMap<String, String>> {
        let text = self.lb_command("show stat")?;
        let mut lines = text.lines();
        let header: Vec<&str> = lines
            .next()
            .context("empty `show stat`")?
            .trim_start_matches("# ")
            .split(',')
            .collect();
        let col = |name: &str| {
            header
                .iter()
                .position(|h| *h == name)
                .with_context(|| format!("`show stat` has no column {name}"))
        };
        let (px, sv, status) = (col("pxname")?, col("svname")?, col("status")?);
        let mut states = BTreeMap::new();
        for line in lines.filter(|l| !l.is_empty()) {
            let fields: Vec<&str> = line.split(',').collect();
            if fields.get(px) == Some(&self.info.haproxy.backend.as_str())
                && !matches!(fields.get(sv), Some(&"BACKEND" | &"FRONTEND"))
            {
                states.insert(fields[sv].to_owned(), fields[status].to_owned());
            }
        }
        Ok(states)
    }

    /// The HAProxy status of `agent`'s server (`m2` → `bb-bravo`).
    pub fn lb_server_state(&self, agent: &str) -> Result<String> {
        let server = &self.master(agent).lb_server;
        self.lb_server_states()?
            .remove(server)
            .with_context(|| format!("no server {server} in backend bb_workers"))
    }

    /// The hand-written TOML of `agent`.
    pub fn agent_config_path(&self, agent: &str) -> &Path {
        &self.master(agent).agent_config
    }

    /// Its text, to edit for an agent of a test's own.
    pub fn agent_config_text(&self, agent: &str) -> String {
        fs::read_to_string(self.agent_config_path(agent)).expect("the agent config is readable")
    }

    /// Writes `text` to `<dir>/agents/<name>.toml` (mode 600) and returns its path.
    pub fn write_agent_config(&self, name: &str, text: &str) -> Result<PathBuf> {
        let path = self.dir().join("agents").join(format!("{name}.toml"));
        fs::write(&path, text)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
        Ok(path)
    }

    /// Starts `bbctl-agent --config <config>` (plus `env`), its output in `<config>.log`. Its
    /// PID goes into handmade.json's `extra_agents`, so `down` stops it too. Does not wait.
    pub fn spawn_agent(&self, config: &Path, env: &[(&str, &str)]) -> Result<Child> {
        let child = self.spawn_agent_process(config, env)?;
        let path = self.dir().join("handmade.json");
        let mut doc = read_json(&path)?;
        doc["extra_agents"]
            .as_array_mut()
            .context("handmade.json has no extra_agents")?
            .push(serde_json::json!({"pid": child.id(), "config": config}));
        write_json(&path, &doc)?;
        Ok(child)
    }

    fn spawn_agent_process(&self, config: &Path, env: &[(&str, &str)]) -> Result<Child> {
        let log_path = config.with_extension("log");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("open {}", log_path.display()))?;
        Command::new(&self.info.agent_bin)
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("start bbctl-agent")
    }

    /// Stops `agent`'s running agent (SIGTERM, then waits until it is gone). Its master runs on.
    pub fn stop_agent(&self, agent: &str) -> Result<()> {
        let info = self.reload_info()?;
        let pid = info.masters[self.master_index(agent)]
            .agent_pid
            .with_context(|| format!("no recorded PID for agent {agent}"))?;
        if !pid_alive(pid) {
            return Ok(());
        }
        let status = Command::new("kill").arg(pid.to_string()).status()?;
        if !status.success() {
            bail!("kill {pid} (agent {agent}) failed");
        }
        wait_until(
            &format!("agent {agent} (PID {pid}) to exit"),
            Duration::from_secs(20),
            || Ok((!pid_alive(pid)).then_some(())),
        )
    }

    /// Starts `agent` again from its own TOML (after [`Handmade::stop_agent`]), appending to its
    /// log, records its PID (so [`Handmade::stop_agent`] and `down` stop it) and waits until it
    /// answers `/healthz`. Returns its PID; the fleet owns the process.
    pub fn start_agent(&self, agent: &str, env: &[(&str, &str)]) -> Result<u32> {
        let i = self.master_index(agent);
        let m = &self.info.masters[i];
        let log = fs::OpenOptions::new()
            .append(true)
            .open(&m.agent_log)
            .context("agent log")?;
        let child = Command::new(&self.info.agent_bin)
            .arg("--config")
            .arg(&m.agent_config)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("start bbctl-agent")?;
        let pid = child.id();
        self.children
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(child);
        let path = self.dir().join("handmade.json");
        let mut doc = read_json(&path)?;
        doc["masters"][i]["agent_pid"] = pid.into();
        write_json(&path, &doc)?;
        let health = format!("{}healthz", m.agent_url);
        wait_until(
            &format!("agent {agent} to answer {health}"),
            Duration::from_secs(30),
            || {
                Ok(reqwest::blocking::get(&health)?
                    .status()
                    .is_success()
                    .then_some(()))
            },
        )?;
        Ok(pid)
    }

    /// `tests/handmade/fleet down`; an error if it fails or leaves a process behind.
    pub fn down(&mut self) -> Result<()> {
        self.stopped = true;
        let output = run_driver(&["down", "--dir", &self.dir().to_string_lossy()])?;
        if !output.status.success() {
            bail!("tests/handmade/fleet down failed: {}", describe(&output));
        }
        Ok(())
    }
}

impl Drop for Handmade {
    fn drop(&mut self) {
        if !self.stopped
            && let Err(e) = self.down()
        {
            eprintln!("warning: {e:#}");
        }
        // `down` stopped them by PID; reap them (no zombies left in the test process).
        for mut child in self
            .children
            .get_mut()
            .map(std::mem::take)
            .unwrap_or_default()
        {
            let _ = child.try_wait();
        }
        if std::thread::panicking()
            && let Some(dir) = self.dir.take()
        {
            eprintln!(
                "hand-made fleet directory kept for inspection: {}",
                dir.keep().display()
            );
        }
    }
}

/// One hand-made fleet (default options) shared by every test of this test binary that calls
/// it; started on first use, stopped by a watcher process once the test process exits. Tests
/// sharing it must leave it as they found it.
pub fn shared_handmade() -> &'static Handmade {
    static SHARED: OnceLock<Handmade> = OnceLock::new();
    SHARED.get_or_init(|| {
        let mut fleet = Handmade::start().expect("failed to start the shared hand-made fleet");
        let dir = fleet
            .dir
            .take()
            .expect("a new fleet owns its directory")
            .keep();
        spawn_reaper(&driver(), &dir).expect("failed to start the hand-made fleet's reaper");
        fleet.stopped = true;
        fleet
    })
}
