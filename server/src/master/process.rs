//! The master process as the operating system sees it: its pid (from `twistd.pid`), whether it
//! is alive (a zombie counts as dead), its uptime (from `/proc`), signals, and running the
//! `buildbot` executable.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// What `/proc` says about a pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcState {
    /// No such process (or it belongs to something other than this master).
    Absent,
    /// Exited but not reaped: treated as stopped.
    Zombie,
    Alive,
}

/// The pid written by twistd into `<basedir>/twistd.pid`, if the file holds one.
pub fn read_pid(basedir: &Path) -> Option<u32> {
    std::fs::read_to_string(basedir.join("twistd.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The state of `pid` from `/proc/<pid>/stat`.
pub fn proc_state(pid: u32) -> ProcState {
    match stat_fields(pid) {
        None => ProcState::Absent,
        Some(fields) if fields.first().map(String::as_str) == Some("Z") => ProcState::Zombie,
        Some(_) => ProcState::Alive,
    }
}

/// The fields of `/proc/<pid>/stat` after the command name, starting with the state letter.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    Some(after.split_whitespace().map(str::to_owned).collect())
}

/// The running master's pid: `twistd.pid` names a live, non-zombie process whose working
/// directory is the basedir (so a recycled pid is not mistaken for the master).
pub fn running_pid(basedir: &Path) -> Option<u32> {
    let pid = read_pid(basedir)?;
    if proc_state(pid) != ProcState::Alive {
        return None;
    }
    if let (Ok(cwd), Ok(base)) = (
        std::fs::read_link(format!("/proc/{pid}/cwd")),
        basedir.canonicalize(),
    ) && cwd != base
    {
        return None;
    }
    Some(pid)
}

/// Seconds since `pid` started, from `/proc/<pid>/stat` field 22 and `/proc/uptime`.
pub fn uptime_secs(pid: u32) -> Option<f64> {
    let fields = stat_fields(pid)?;
    // Field 3 of stat (state) is index 0 here, so field 22 (starttime) is index 19.
    let start_ticks: f64 = fields.get(19)?.parse().ok()?;
    let ticks_per_sec = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some((uptime - start_ticks / ticks_per_sec).max(0.0))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterSignal {
    /// Clean shutdown: finish running builds, then exit.
    CleanShutdown,
    /// Reconfig.
    Reconfig,
    /// Immediate stop.
    Terminate,
}

pub fn send_signal(pid: u32, sig: MasterSignal) -> std::io::Result<()> {
    let signal = match sig {
        MasterSignal::CleanShutdown => Signal::SIGUSR1,
        MasterSignal::Reconfig => Signal::SIGHUP,
        MasterSignal::Terminate => Signal::SIGTERM,
    };
    let pid = i32::try_from(pid).map_err(|_| std::io::Error::other("pid out of range"))?;
    kill(Pid::from_raw(pid), signal).map_err(std::io::Error::from)
}

/// Waits until `pid` is gone or a zombie; false on timeout (`None` = wait forever).
pub async fn wait_exit(pid: u32, timeout: Option<Duration>) -> bool {
    let start = tokio::time::Instant::now();
    loop {
        if proc_state(pid) != ProcState::Alive {
            return true;
        }
        if timeout.is_some_and(|t| start.elapsed() >= t) {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The outcome of one `buildbot …` command.
#[derive(Debug, Clone)]
pub struct CommandOutput {
    pub exit_code: Option<i32>,
    /// stdout then stderr, verbatim.
    pub output: String,
    pub timed_out: bool,
}

impl CommandOutput {
    pub fn success(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }
}

/// Runs `<buildbot> <args>` with extra environment `env`, stdout and stderr going to files in
/// `scratch` (not pipes: a daemon that inherits a pipe would keep us waiting for EOF).
pub async fn run_buildbot(
    buildbot: &Path,
    args: &[&str],
    env: &[(&str, PathBuf)],
    scratch: &Path,
    timeout: Duration,
) -> std::io::Result<CommandOutput> {
    std::fs::create_dir_all(scratch)?;
    let out = tempfile::NamedTempFile::new_in(scratch)?;
    let err = tempfile::NamedTempFile::new_in(scratch)?;
    let mut cmd = tokio::process::Command::new(buildbot);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(out.reopen()?)
        .stderr(err.reopen()?)
        .process_group(0)
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot run {}: {e}", buildbot.display()))
    })?;
    let (exit_code, timed_out) = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => (status?.code(), false),
        Err(_) => {
            let _ = child.kill().await;
            (None, true)
        }
    };
    let mut output = std::fs::read_to_string(out.path()).unwrap_or_default();
    output.push_str(&std::fs::read_to_string(err.path()).unwrap_or_default());
    Ok(CommandOutput {
        exit_code,
        output,
        timed_out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_with_uptime() {
        let pid = std::process::id();
        assert_eq!(proc_state(pid), ProcState::Alive);
        let up = uptime_secs(pid).unwrap();
        assert!((0.0..86_400.0 * 365.0).contains(&up));
    }

    #[test]
    fn missing_pid_file_or_dead_pid_is_not_running() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(running_pid(dir.path()), None);
        std::fs::write(dir.path().join("twistd.pid"), "999999999\n").unwrap();
        assert_eq!(read_pid(dir.path()), Some(999_999_999));
        assert_eq!(running_pid(dir.path()), None);
    }

    #[test]
    fn a_live_pid_in_another_directory_is_not_this_master() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("twistd.pid"),
            std::process::id().to_string(),
        )
        .unwrap();
        assert_eq!(running_pid(dir.path()), None);
    }

    #[tokio::test]
    async fn zombie_counts_as_exited() {
        // A child that exits and is not reaped is a zombie until we wait for it.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        assert!(wait_exit(pid, Some(Duration::from_secs(5))).await);
        assert_ne!(proc_state(pid), ProcState::Alive);
        child.wait().unwrap();
    }
}
