//! Issue 7, "Security", end to end with the real binaries but no fleet: a `bbctl-agent` beside a
//! fake master (`/bin/false`, a dead REST port) serving HTTPS with a throwaway CA, and the real
//! `bbctl` verifying it (`tls`); the token never shows up in `bbctl` output, its errors, or the
//! agent's debug log (`secrets`).

// The test CA and certificates are the agent API tests' own: one generator for both suites.
#[path = "../../../server/tests/api/pki.rs"]
mod pki;
mod secrets;
mod tls;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "tok-SECRET-7a6b5c4d3e2f";

/// `bbctl-agent` and `bbctl`: `$BBCTL_AGENT_BIN` / `$BBCTL_BIN` (scripts/test sets them), else
/// this target directory's (`cargo build -p bbctl-agent -p bbctl` first).
pub fn binaries() -> (PathBuf, PathBuf) {
    if let (Some(agent), Some(cli)) = (
        std::env::var_os("BBCTL_AGENT_BIN"),
        std::env::var_os("BBCTL_BIN"),
    ) {
        return (agent.into(), cli.into());
    }
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().and_then(Path::parent).unwrap();
    let (agent, cli) = (profile.join("bbctl-agent"), profile.join("bbctl"));
    for bin in [&agent, &cli] {
        assert!(
            bin.is_file(),
            "{} is missing: run `cargo build -p bbctl-agent -p bbctl` first (scripts/test does)",
            bin.display()
        );
    }
    (agent, cli)
}

/// A running `bbctl-agent` (killed on drop) with its stderr in `log`.
pub struct Agent {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub log: PathBuf,
    child: Child,
}

impl Agent {
    /// Starts an agent at `RUST_LOG=debug` whose config ends with `extra` (e.g. a `[tls]`
    /// section), and waits until it accepts connections.
    pub fn start(dir: tempfile::TempDir, extra: &str) -> Agent {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = format!(
            r#"
name = "sec-agent"
listen = "127.0.0.1:{port}"
state_dir = "{state}"
token = "{TOKEN}"
poll_interval_secs = 0.2
[master]
basedir = "{base}"
buildbot = "/bin/false"
rest_url = "http://127.0.0.1:9/"
{extra}
"#,
            state = dir.path().join("state").display(),
            base = dir.path().join("master").display(),
        );
        let path = dir.path().join("agent.toml");
        std::fs::write(&path, config).unwrap();
        std::fs::write(dir.path().join("token"), format!("{TOKEN}\n")).unwrap();
        let log = dir.path().join("agent.log");
        let mut child = Command::new(binaries().0)
            .arg("--config")
            .arg(&path)
            .env_remove("BBCTL_AGENT_CONFIG")
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "agent exited {status}: {}",
                    std::fs::read_to_string(&log).unwrap()
                );
            }
            assert!(Instant::now() < deadline, "the agent did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Agent {
            dir,
            port,
            log,
            child,
        }
    }

    pub fn token_file(&self) -> PathBuf {
        self.dir.path().join("token")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One `bbctl` run: exit code, stdout, stderr. The token must appear in neither stream.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn bbctl(args: &[&str], envs: &[(&str, &Path)]) -> Run {
    let mut cmd = Command::new(binaries().1);
    cmd.args(args)
        .env_remove("BBCTL_INVENTORY")
        .env_remove("BBCTL_TOKEN")
        .env_remove("BBCTL_CA_FILE")
        .stdin(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out: Output = cmd.output().unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN),
        "bbctl {args:?} leaked the token:\n{}\n{}",
        run.stdout,
        run.stderr
    );
    run
}
