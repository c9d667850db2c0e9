//! Issue 17, the Debian packages and the systemd unit, on a real fleet (1 master, 2 workers):
//! - `scripts/package --profile dev --bin-dir …` builds `bbctl` and `bbctl-agent` packages with
//!   their binaries, man pages, completions, the unit and the example config, and the agent's
//!   `Depends` names the packages of the libraries it links;
//! - `dpkg -i` installs them (the postinst creates the user `bbctl`), and `systemd-analyze verify`
//!   accepts the installed unit `bbctl-agent@master-1.service`;
//! - the installed agent replaces the fleet's one: started with `$NOTIFY_SOCKET` it sends
//!   `READY=1` once it answers, and the installed `bbctl masters list` sees the master running;
//! - the unit's restart semantics, reproduced without systemd (no systemd runs here): the agent
//!   runs in a cgroup of its own (the unit's control group); the master it starts lands in that
//!   cgroup too — so systemd's default `KillMode=control-group` would kill it on `systemctl
//!   restart` — and the installed unit says `KillMode=process`; a restart as systemd does it for
//!   that mode (`KillSignal` to the main process only, then the unit's command again in the same
//!   cgroup) leaves the master with its pid and its running build ends SUCCESS exactly once.
//!
//! Needs root (dpkg, cgroups); the packages are purged at the end, whatever happens.

use std::io::Read;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bbctl_e2e::{Fleet, FleetOptions, repo_root, wait_until};

const UNIT: &str = "/lib/systemd/system/bbctl-agent@.service";

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Purges both packages when dropped.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg")
            .args(["--purge", "bbctl", "bbctl-agent"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A cgroup (v1 `pids` hierarchy) standing for the unit's control group; removed when dropped.
struct Cgroup(PathBuf);

impl Cgroup {
    fn new() -> Cgroup {
        let path = PathBuf::from(format!(
            "/sys/fs/cgroup/pids/bbctl-agent-test-{}",
            std::process::id()
        ));
        std::fs::create_dir(&path)
            .unwrap_or_else(|e| panic!("cannot create the cgroup {}: {e}", path.display()));
        Cgroup(path)
    }

    fn pids(&self) -> Vec<u32> {
        std::fs::read_to_string(self.0.join("cgroup.procs"))
            .unwrap()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // Move what is left (the master, when the test failed half-way) to the root group.
        for pid in self.pids() {
            let _ = std::fs::write("/sys/fs/cgroup/pids/cgroup.procs", pid.to_string());
        }
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Starts the installed agent with `config`, inside `cgroup`, with `$NOTIFY_SOCKET` = `notify`,
/// its output appended to `log` — as systemd starts the unit's `ExecStart`.
fn start_installed_agent(cgroup: &Cgroup, config: &Path, notify: &Path, log: &Path) -> Child {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo $$ > {}/cgroup.procs && exec /usr/bin/bbctl-agent --config {}",
            cgroup.0.display(),
            config.display()
        ))
        .env("NOTIFY_SOCKET", notify)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap()
}

/// The next datagram the agent sent to its `$NOTIFY_SOCKET` (within 60 s).
fn next_notification(socket: &UnixDatagram) -> String {
    socket
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut buf = [0u8; 256];
    let n = socket.recv(&mut buf).expect("a datagram from the agent");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Waits for the agent's `READY=1` and checks it answers by then.
fn wait_ready(socket: &UnixDatagram, fleet: &Fleet) {
    assert_eq!(next_notification(socket), "READY=1");
    let health = fleet.agent(0).get::<serde_json::Value>("/healthz");
    assert!(
        health.is_ok(),
        "the agent answers once it said READY=1: {health:?}"
    );
}

/// The master's pid from its `twistd.pid`, while that process lives (read without the agent,
/// which is down at times here).
fn master_pid(fleet: &Fleet) -> Option<u32> {
    let text = std::fs::read_to_string(fleet.info.masters[0].basedir.join("twistd.pid")).ok()?;
    let pid: u32 = text.trim().parse().ok()?;
    bbctl_e2e::pid_alive(pid).then_some(pid)
}

fn unit_setting(unit: &str, key: &str) -> Option<String> {
    unit.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(str::to_owned)
}

#[test]
fn packages_install_and_the_installed_agent_restarts_without_touching_its_master() {
    let _serial = bbctl_e2e::serial();
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test installs packages and makes cgroups: run it as root (CI does)"
    );
    let fleet = Fleet::up(FleetOptions {
        masters: 1,
        standby: 0,
        workers: 2,
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();

    // Build the packages from the binaries under test.
    let bin_dir = fleet.info.agent_bin.parent().unwrap().to_owned();
    let out = run(Command::new(repo_root().join("scripts/package"))
        .args(["--profile", "dev", "--out"])
        .arg(dir.path())
        .arg("--bin-dir")
        .arg(&bin_dir)
        .stdin(Stdio::null()));
    let debs: Vec<&str> = out.lines().collect();
    assert_eq!(debs.len(), 2, "{out}");
    let (cli_deb, agent_deb) = (debs[0], debs[1]);
    assert!(
        cli_deb.contains("/bbctl_") && agent_deb.contains("/bbctl-agent_"),
        "{out}"
    );
    let cli_files = run(Command::new("dpkg-deb").args(["-c", cli_deb]));
    for f in [
        "./usr/bin/bbctl",
        "./usr/share/man/man1/bbctl.1.gz",
        "./usr/share/bash-completion/completions/bbctl",
        "./usr/share/zsh/vendor-completions/_bbctl",
        "./usr/share/fish/vendor_completions.d/bbctl.fish",
    ] {
        assert!(
            cli_files.contains(f),
            "{f} not in the bbctl package:\n{cli_files}"
        );
    }
    let agent_files = run(Command::new("dpkg-deb").args(["-c", agent_deb]));
    for f in [
        "./usr/bin/bbctl-agent",
        "./usr/share/man/man1/bbctl-agent.1.gz",
        "./lib/systemd/system/bbctl-agent@.service",
        "./usr/share/doc/bbctl-agent/examples/agent.toml",
        "./usr/share/doc/bbctl-agent/deploy.md",
        "./etc/bbctl/agents/",
    ] {
        assert!(
            agent_files.contains(f),
            "{f} not in the bbctl-agent package:\n{agent_files}"
        );
    }
    let depends = run(Command::new("dpkg-deb").args(["-f", agent_deb, "Depends"]));
    assert!(
        depends.contains("libc6") && depends.contains("libpq5") && depends.contains("adduser"),
        "{depends}"
    );

    // Install; the postinst makes the user; systemd-analyze accepts the unit.
    let _installed = Installed;
    run(Command::new("dpkg").args(["-i", cli_deb, agent_deb]));
    run(Command::new("id").arg("bbctl"));
    run(Command::new("systemd-analyze").args([
        "verify",
        "--man=no",
        "bbctl-agent@master-1.service",
    ]));
    let unit = std::fs::read_to_string(UNIT).unwrap();
    assert_eq!(unit_setting(&unit, "Type").as_deref(), Some("notify"));
    assert_eq!(unit_setting(&unit, "KillMode").as_deref(), Some("process"));
    assert_eq!(
        unit_setting(&unit, "Restart").as_deref(),
        Some("on-failure")
    );
    let kill_signal = unit_setting(&unit, "KillSignal").unwrap();
    assert_eq!(kill_signal, "SIGTERM");
    let help = run(Command::new("/usr/bin/bbctl-agent").arg("--help"));
    assert!(help.contains("--config"), "{help}");

    // The installed agent replaces the fleet's one, in the "unit's" cgroup.
    let slot = &fleet.info.masters[0];
    let old_agent = slot.agent_pid;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(old_agent as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    wait_until("the fleet's agent to exit", Duration::from_secs(30), || {
        Ok((!Path::new(&format!("/proc/{old_agent}")).exists()).then_some(()))
    })
    .unwrap();
    let before = master_pid(&fleet).expect("the master runs");
    let cgroup = Cgroup::new();
    let notify_path = dir.path().join("notify");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    let log = dir.path().join("agent.log");
    let mut agent = start_installed_agent(&cgroup, &slot.agent_config, &notify_path, &log);
    wait_ready(&notify, &fleet);
    assert_eq!(
        master_pid(&fleet),
        Some(before),
        "starting the agent left the master alone"
    );
    let cli = Command::new("/usr/bin/bbctl")
        .args(["--inventory"])
        .arg(&fleet.info.inventory)
        .args(["masters", "list", "-o", "json"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        cli.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(rows[0]["state"], "running", "{rows:#?}");

    // A master the agent starts is in the agent's cgroup: the unit's control group.
    let stop = fleet.bbctl(&["stop", "master-1", "--yes", "--reason", "e2e package"]);
    assert_eq!(
        stop.status.code(),
        Some(0),
        "{}",
        bbctl_e2e::output_text(&stop)
    );
    let start = fleet.bbctl(&["start", "master-1", "--reason", "e2e package"]);
    assert_eq!(
        start.status.code(),
        Some(0),
        "{}",
        bbctl_e2e::output_text(&start)
    );
    let master = master_pid(&fleet).expect("the master runs again");
    assert!(
        cgroup.pids().contains(&master),
        "the master ({master}) is in the agent's cgroup {:?}: KillMode=control-group would kill it",
        cgroup.pids()
    );
    let forced = fleet
        .buildbot(0)
        .force("sleep", &[("duration", "20")])
        .unwrap();
    let rest = fleet.buildbot(0);
    wait_until("the build to start", Duration::from_secs(60), || {
        let b = rest.list(
            &format!("builds?buildrequestid={}", forced.buildrequestid),
            "builds",
        )?;
        Ok((!b.is_empty()).then_some(()))
    })
    .unwrap();

    // `systemctl restart` with KillMode=process: KillSignal to the main process only, wait for
    // it (TimeoutStopSec), then ExecStart again in the same cgroup.
    let t0 = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(agent.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = agent.wait().unwrap();
    assert!(status.success(), "the agent exits 0 on SIGTERM: {status}");
    assert_eq!(next_notification(&notify), "STOPPING=1");
    assert!(
        t0.elapsed() < Duration::from_secs(30),
        "within TimeoutStopSec"
    );
    assert!(
        cgroup.pids().contains(&master),
        "the master outlived its agent in the cgroup"
    );
    let mut agent = start_installed_agent(&cgroup, &slot.agent_config, &notify_path, &log);
    wait_ready(&notify, &fleet);
    assert_eq!(master_pid(&fleet), Some(master), "the master kept its pid");
    let outcome = rest
        .wait_complete(forced.buildrequestid, Duration::from_secs(120))
        .unwrap();
    assert_eq!(outcome.results, 0, "{:?}", outcome.builds);
    assert_eq!(outcome.builds.len(), 1, "{:?}", outcome.builds);

    // Leave the fleet as `scripts/fleet down` expects: the agent stopped, its master stopped.
    let stop = fleet.bbctl(&["stop", "master-1", "--yes", "--reason", "e2e package done"]);
    assert_eq!(
        stop.status.code(),
        Some(0),
        "{}",
        bbctl_e2e::output_text(&stop)
    );
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(agent.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = agent.wait();
    let mut text = String::new();
    let _ = std::fs::File::open(&log).and_then(|mut f| f.read_to_string(&mut text));
    assert!(text.contains("told systemd the agent is ready"), "{text}");
}
