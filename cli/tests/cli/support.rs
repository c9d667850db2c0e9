//! Shared helpers: a fleet of fake agents with an inventory, and running the real binary.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use bbctl_api::MasterState;

use crate::fake_agent::{FakeAgent, TOKEN};

/// The result of one `bbctl` run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Fails with the whole output when the exit code is not `code`.
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        assert!(
            !self.stdout.contains(TOKEN) && !self.stderr.contains(TOKEN),
            "the token leaked"
        );
        self
    }

    pub fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

/// Fake agents plus an inventory file naming them, in a temporary directory.
pub struct Fleet {
    pub agents: Vec<FakeAgent>,
    pub dir: tempfile::TempDir,
}

impl Fleet {
    /// `master-1` running (masterid 1) and `master-2` running (masterid 2).
    pub fn two() -> Fleet {
        Fleet::new(&[
            ("master-1", MasterState::Running, false),
            ("master-2", MasterState::Running, false),
        ])
    }

    pub fn new(masters: &[(&str, MasterState, bool)]) -> Fleet {
        let agents: Vec<FakeAgent> = masters
            .iter()
            .enumerate()
            .map(|(i, (name, state, _))| FakeAgent::start(name, i as i64 + 1, *state))
            .collect();
        let urls: Vec<String> = agents.iter().map(FakeAgent::url).collect();
        let entries: Vec<(String, String, bool)> = masters
            .iter()
            .zip(urls)
            .map(|((n, _, s), u)| (n.to_string(), u, *s))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let fleet = Fleet { agents, dir };
        fleet.write_inventory(&entries);
        fleet
    }

    /// Writes `bbctl.toml` (token in a relative `token_file`).
    pub fn write_inventory(&self, entries: &[(String, String, bool)]) {
        std::fs::write(self.dir.path().join("token"), format!("{TOKEN}\n")).unwrap();
        let mut text = "[defaults]\ntoken_file = \"token\"\ntimeout_secs = 2\n".to_string();
        for (name, url, standby) in entries {
            text.push_str(&format!(
                "\n[[masters]]\nname = \"{name}\"\nurl = \"{url}\"\nstandby = {standby}\n"
            ));
        }
        std::fs::write(self.inventory(), text).unwrap();
    }

    pub fn inventory(&self) -> PathBuf {
        self.dir.path().join("bbctl.toml")
    }

    pub fn agent(&self, i: usize) -> &FakeAgent {
        &self.agents[i]
    }

    /// Runs `bbctl --inventory <this fleet's> ARGS…`.
    pub fn bbctl(&self, args: &[&str]) -> Run {
        let inventory = self.inventory();
        let mut all = vec!["--inventory", inventory.to_str().unwrap()];
        all.extend_from_slice(args);
        bbctl(&all)
    }
}

/// A base command: no inherited inventory or token, HOME in a fresh directory, stdin closed.
pub fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bbctl"));
    let home = std::env::temp_dir().join("bbctl-test-home-nonexistent");
    cmd.args(args)
        .env_remove("BBCTL_INVENTORY")
        .env_remove("BBCTL_TOKEN")
        .env_remove("XDG_CONFIG_HOME")
        .env("HOME", home)
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null());
    cmd
}

/// Runs the real binary with `args` and no terminal anywhere.
pub fn bbctl(args: &[&str]) -> Run {
    let output = command(args).output().expect("run bbctl");
    Run {
        code: output.status.code().expect("exited normally"),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// A loopback URL where nothing listens.
pub fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}
