//! Starting, inspecting and stopping a fleet through `scripts/fleet`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::SystemTime;
use std::{env, fs};

use anyhow::{Context, Result, bail};
use tempfile::TempDir;

use crate::agent_client::AgentClient;
use crate::buildbot::Buildbot;
use crate::info::{FleetInfo, FleetStatus};

/// The size of a fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetOptions {
    pub masters: usize,
    pub standby: usize,
    pub workers: usize,
}

impl Default for FleetOptions {
    fn default() -> Self {
        Self {
            masters: 3,
            standby: 0,
            workers: 4,
        }
    }
}

/// A running fleet in a temporary directory. Dropping it runs `scripts/fleet down` (and keeps the
/// directory, logs included, when the test is panicking).
pub struct Fleet {
    pub info: FleetInfo,
    dir: Option<TempDir>,
    stopped: bool,
}

/// The repository root (this package lives in `<root>/tests`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn fleet_script() -> PathBuf {
    repo_root().join("scripts").join("fleet")
}

/// The newest modification time of the `.rs` files under `dir`.
fn newest_source_mtime(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    for entry in fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let mtime = if path.is_dir() {
            newest_source_mtime(&path)
        } else if path.extension().is_some_and(|e| e == "rs") {
            entry.metadata().ok().and_then(|m| m.modified().ok())
        } else {
            None
        };
        newest = newest.max(mtime);
    }
    newest
}

/// `bbctl-agent` and `bbctl` from BBCTL_AGENT_BIN / BBCTL_BIN, else from this test binary's
/// target directory. Warns when a binary is older than its sources (cargo may still consider it
/// fresh when the newer file is not part of the build, so this is not an error).
pub(crate) fn binaries() -> Result<(PathBuf, PathBuf)> {
    if let (Ok(agent), Ok(cli)) = (env::var("BBCTL_AGENT_BIN"), env::var("BBCTL_BIN")) {
        return Ok((agent.into(), cli.into()));
    }
    // <target>/<profile>/deps/<test binary>
    let exe = env::current_exe().context("failed to locate the test binary")?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("unexpected test binary location")?;
    let root = repo_root();
    let mut found = Vec::new();
    for (name, sources) in [
        ("bbctl-agent", vec!["server", "common"]),
        ("bbctl", vec!["cli", "common"]),
    ] {
        let bin = profile_dir.join(name);
        let built = fs::metadata(&bin).and_then(|m| m.modified()).with_context(|| {
            format!("{} is missing: run `cargo build -p bbctl-agent -p bbctl` first (scripts/test does)", bin.display())
        })?;
        let newest = sources
            .iter()
            .filter_map(|s| newest_source_mtime(&root.join(s)))
            .max();
        if newest.is_some_and(|n| n > built) {
            bail!(
                "{} is older than its sources: run `cargo build -p bbctl-agent -p bbctl` first",
                bin.display()
            );
        }
        found.push(bin);
    }
    let cli = found.pop().expect("two binaries");
    let agent = found.pop().expect("two binaries");
    Ok((agent, cli))
}

/// Runs `scripts/fleet`; only `up` needs (and checks) the binaries.
fn run_script(args: &[&str]) -> Result<Output> {
    let mut cmd = Command::new(fleet_script());
    let mut _booting = None;
    if args.first() == Some(&"up") {
        let (agent, cli) = binaries()?;
        cmd.env("BBCTL_AGENT_BIN", agent).env("BBCTL_BIN", cli);
        _booting = Some(boot_lock()?);
    }
    cmd.args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("failed to run scripts/fleet {}", args.join(" ")))
}

/// One fleet boots at a time on this machine, whichever test binary asks (`scripts/test` runs
/// two binaries side by side): starting masters is the busiest minute of a fleet, and two at once
/// on two cores make every start-up timing noisy. Held until `scripts/fleet up` returns.
fn boot_lock() -> Result<nix::fcntl::Flock<fs::File>> {
    let path = std::env::temp_dir().join("bbctl-e2e-fleet-boot.lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| anyhow::anyhow!("cannot lock {}: {e}", path.display()))
}

pub(crate) fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

impl Fleet {
    /// `scripts/fleet up` in a new temporary directory; returns when every master is active and
    /// every worker connected.
    pub fn up(opts: FleetOptions) -> Result<Fleet> {
        Self::up_with_args(opts, &[])
    }

    /// Like [`Fleet::up`], with masters and workers on the installed Buildbot `version`
    /// (`scripts/fleet up --buildbot-version`, e.g. [`crate::venv::BUILDBOT_OLD`]).
    pub fn up_on_buildbot(opts: FleetOptions, version: &str) -> Result<Fleet> {
        Self::up_with_args(opts, &["--buildbot-version", version])
    }

    /// Like [`Fleet::up`], with extra `scripts/fleet up` arguments (e.g. `["--lb-hook", "relay"]`).
    pub fn up_with_args(opts: FleetOptions, extra: &[&str]) -> Result<Fleet> {
        let dir = tempfile::Builder::new()
            .prefix("bbctl-e2e-")
            .tempdir()
            .context("failed to create a temp dir")?;
        // PostgreSQL runs as user `postgres` and must traverse the fleet directory.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))?;
        let path = dir
            .path()
            .to_str()
            .context("temp dir path is not UTF-8")?
            .to_owned();
        let (m, s, w) = (
            opts.masters.to_string(),
            opts.standby.to_string(),
            opts.workers.to_string(),
        );
        let mut args = vec![
            "up",
            "--dir",
            &path,
            "--masters",
            &m,
            "--standby",
            &s,
            "--workers",
            &w,
            "--no-build",
        ];
        args.extend_from_slice(extra);
        let output = run_script(&args)?;
        if !output.status.success() {
            let kept = dir.keep();
            bail!(
                "scripts/fleet up failed (fleet dir kept: {}): {}",
                kept.display(),
                describe(&output)
            );
        }
        let info = read_info(Path::new(&path))?;
        Ok(Fleet {
            info,
            dir: Some(dir),
            stopped: false,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.info.dir
    }

    /// The API token of the fleet's agents.
    pub fn token(&self) -> Result<String> {
        Ok(fs::read_to_string(&self.info.token_file)?.trim().to_owned())
    }

    /// fleet.json as it is now (scripts may have rewritten it).
    pub fn reload_info(&self) -> Result<FleetInfo> {
        read_info(self.dir())
    }

    /// `scripts/fleet status --json` (exit 0 and 1 both carry a status).
    pub fn status(&self) -> Result<FleetStatus> {
        let output = run_script(&["status", "--json", "--dir", &self.dir().to_string_lossy()])?;
        if !matches!(output.status.code(), Some(0 | 1)) {
            bail!("scripts/fleet status failed: {}", describe(&output));
        }
        serde_json::from_slice(&output.stdout)
            .with_context(|| format!("bad status JSON: {}", describe(&output)))
    }

    /// A REST client of the `index`-th slot's master.
    pub fn buildbot(&self, index: usize) -> Buildbot {
        Buildbot::new(&self.info.masters[index].rest_url)
    }

    /// A client of slot `index`'s agent, with the fleet's token.
    pub fn agent(&self, index: usize) -> AgentClient {
        AgentClient::new(&self.info.masters[index].agent_url, &self.token().unwrap())
    }

    /// Starts slot `i`'s agent (which must not be running) with its recorded binary and config,
    /// plus the environment `env` (e.g. `BBCTL_AGENT_MASTER__START_TIMEOUT_SECS`), appending to
    /// its log. Its PID goes into fleet.json, so `scripts/fleet down` (which stops exactly the
    /// PIDs recorded there) stops it too, even when the caller forgets the child.
    pub fn start_agent(&self, i: usize, env: &[(&str, &str)]) -> Result<Child> {
        let slot = &self.info.masters[i];
        let log = fs::OpenOptions::new()
            .append(true)
            .open(&slot.agent_log)
            .context("agent log")?;
        let child = Command::new(&self.info.agent_bin)
            .arg("--config")
            .arg(&slot.agent_config)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("start the agent")?;
        let path = self.dir().join("fleet.json");
        let mut doc: serde_json::Value = serde_json::from_str(&fs::read_to_string(&path)?)?;
        doc["masters"][i]["agent_pid"] = child.id().into();
        let tmp = path.with_extension("json.tmp");
        fs::write(&tmp, serde_json::to_string_pretty(&doc)? + "\n")?;
        fs::rename(&tmp, &path)?;
        Ok(child)
    }

    /// PIDs of every process of the fleet now: PostgreSQL, crossbar, HAProxy, agents, masters
    /// (from their twistd.pid) and workers, each with what it is.
    pub fn recorded_pids(&self) -> Vec<(String, u32)> {
        let i = &self.info;
        let mut pids = vec![
            ("postgres".to_owned(), i.postgres.pid),
            ("crossbar".to_owned(), i.router.pid),
            ("haproxy".to_owned(), i.load_balancer.pid),
        ];
        for m in &i.masters {
            pids.push((format!("agent {}", m.name), m.agent_pid));
            if let Some(pid) = read_pidfile(&m.basedir.join("twistd.pid")).or(m.master_pid) {
                pids.push((format!("master {}", m.name), pid));
            }
        }
        for w in &i.workers {
            let pid = read_pidfile(&w.basedir.join("twistd.pid")).unwrap_or(w.pid);
            pids.push((format!("worker {}", w.name), pid));
        }
        pids
    }

    /// `scripts/fleet down`; an error if it fails or leaves a process behind.
    pub fn down(&mut self) -> Result<()> {
        self.stopped = true;
        let output = run_script(&["down", "--dir", &self.dir().to_string_lossy()])?;
        if !output.status.success() {
            bail!("scripts/fleet down failed: {}", describe(&output));
        }
        Ok(())
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        if !self.stopped
            && let Err(e) = self.down()
        {
            eprintln!("warning: {e:#}");
        }
        if std::thread::panicking()
            && let Some(dir) = self.dir.take()
        {
            eprintln!(
                "fleet directory kept for inspection: {}",
                dir.keep().display()
            );
        }
    }
}

fn read_pidfile(path: &Path) -> Option<u32> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn read_info(dir: &Path) -> Result<FleetInfo> {
    let path = dir.join("fleet.json");
    let text =
        fs::read_to_string(&path).with_context(|| format!("failed to read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("failed to parse {}", path.display()))
}

/// One fleet (3 masters, 4 workers) shared by every test of this test binary that calls it.
/// It is started on first use and stopped by a watcher process once the test process exits
/// (statics are never dropped). Tests sharing it must leave it as they found it.
pub fn shared_fleet() -> &'static Fleet {
    static SHARED: OnceLock<Fleet> = OnceLock::new();
    SHARED.get_or_init(|| {
        let mut fleet =
            Fleet::up(FleetOptions::default()).expect("failed to start the shared fleet");
        let dir = fleet
            .dir
            .take()
            .expect("a new fleet owns its directory")
            .keep();
        spawn_reaper(&fleet_script(), &dir).expect("failed to start the shared fleet's reaper");
        // The reaper stops it; Drop must not.
        fleet.stopped = true;
        fleet
    })
}

/// Starts a detached shell that waits for this process to exit, then runs `<script> down --dir
/// <dir>` (`scripts/fleet`, `tests/handmade/fleet`) and removes the fleet directory.
pub(crate) fn spawn_reaper(fleet_script: &Path, dir: &Path) -> Result<()> {
    let script = r#"while kill -0 "$1" 2>/dev/null; do sleep 1; done; "$2" down --dir "$3" && rm -rf "$3" "$3.reaper.log""#;
    let log = fs::File::create(dir.with_extension("reaper.log"))?;
    // `setsid`: its own session, so that nothing aimed at the test's session or group stops it.
    Command::new("setsid")
        .arg("sh")
        .arg("-c")
        .arg(script)
        .arg("bbctl-fleet-reaper")
        .arg(std::process::id().to_string())
        .arg(fleet_script)
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("failed to spawn the reaper")?;
    Ok(())
}
