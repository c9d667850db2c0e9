//! The real `bbctl-agent` binary as a child process: spawned with a config file, its output in a
//! log file, waited for until `/healthz` answers, killed on drop.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct AgentProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    pub log: PathBuf,
}

impl AgentProcess {
    /// Runs `bbctl-agent --config CONFIG` (which must listen on `127.0.0.1:port`), logging to
    /// `log`, with no `BBCTL_AGENT_*` variable inherited; returns once `/healthz` answers 200
    /// (the state DB is open and migrated, the port bound). Panics with the log if it never does.
    pub fn spawn(config: &Path, port: u16, log: &Path) -> AgentProcess {
        let file = std::fs::File::create(log).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bbctl-agent"));
        cmd.arg("--config")
            .arg(config)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("BBCTL_AGENT_") {
                cmd.env_remove(key);
            }
        }
        let mut agent = AgentProcess {
            child: cmd.spawn().unwrap(),
            url: format!("http://127.0.0.1:{port}"),
            log: log.to_owned(),
        };
        for _ in 0..1200 {
            if healthz(port) {
                return agent;
            }
            if let Ok(Some(status)) = agent.child.try_wait() {
                panic!(
                    "bbctl-agent exited ({status}); its log:\n{}",
                    agent.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "bbctl-agent never answered /healthz; its log:\n{}",
            agent.log_text()
        );
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit (after a signal the test sent).
    pub fn wait_exit(mut self) -> std::process::ExitStatus {
        self.child.wait().unwrap()
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `GET /healthz` on 127.0.0.1:`port` answers 200.
fn healthz(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if stream
        .write_all(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200")
}
