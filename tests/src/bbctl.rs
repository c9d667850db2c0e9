//! Running the real `bbctl` binary against a fleet, the way an operator's script would: the
//! fleet's inventory, no terminal on stdin.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use crate::Fleet;

/// `BIN --inventory INVENTORY ARGS`, `$BBCTL_TOKEN` unset, stdin closed, ready to run or spawn.
pub fn command(bin: &Path, inventory: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin);
    cmd.arg("--inventory")
        .arg(inventory)
        .args(args)
        .env_remove("BBCTL_TOKEN")
        .stdin(Stdio::null());
    cmd
}

impl Fleet {
    /// `bbctl --inventory <fleet>/bbctl.toml ARGS`, stdin closed, ready to run or spawn.
    pub fn bbctl_cmd(&self, args: &[&str]) -> Command {
        command(&self.info.bbctl_bin, &self.info.inventory, args)
    }

    /// Runs `bbctl ARGS` to the end and returns what it printed and its exit status.
    pub fn bbctl(&self, args: &[&str]) -> Output {
        self.bbctl_cmd(args).output().expect("run bbctl")
    }

    /// Starts `bbctl ARGS` in the background with its output discarded.
    pub fn spawn_bbctl(&self, args: &[&str]) -> Child {
        self.bbctl_cmd(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn bbctl")
    }
}

/// A command's exit status, stdout and stderr as one text, for assertion messages.
pub fn output_text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
