//! The external programs the operations run (`pg_dump`, `pg_restore`, `psql`, `buildbot
//! upgrade-master`, the operator's backup command): where they are, their version, the
//! environment that connects them to Buildbot's database (password in `PGPASSWORD`, never in
//! argv), and running one with a timeout that ends in SIGKILL of its process group.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::url::DbTarget;

/// The configured path, else `name` on PATH, else the newest `/usr/lib/postgresql/*/bin/<name>`.
pub fn find(configured: Option<&Path>, name: &str) -> Option<PathBuf> {
    if let Some(p) = configured {
        return Some(p.to_path_buf());
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    on_path.or_else(|| {
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let v = e.file_name().to_str()?.parse().ok()?;
                let exe = e.path().join("bin").join(name);
                exe.is_file().then_some((v, exe))
            })
            .collect();
        versions.sort();
        versions.pop().map(|(_, p)| p)
    })
}

/// `pg_dump --version` → (`15.8`, 15).
pub async fn version(exe: &Path) -> Option<(String, u32)> {
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::process::Command::new(exe)
            .arg("--version")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .ok()?
    .ok()?;
    parse_version(&String::from_utf8_lossy(&out.stdout))
}

/// `pg_dump (PostgreSQL) 15.8 (Debian 15.8-1)` → (`15.8`, 15).
fn parse_version(text: &str) -> Option<(String, u32)> {
    let v = text
        .split_whitespace()
        .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))?;
    let major = v.split('.').next()?.parse().ok()?;
    Some((v.to_owned(), major))
}

/// The environment of a PostgreSQL tool run for bbctl: the password (if any) and the
/// application name the guard and the orphan clean-up recognise.
pub fn pg_env(target: &DbTarget, appname: &str) -> Vec<(String, String)> {
    let mut env = vec![("PGAPPNAME".to_owned(), appname.to_owned())];
    if let Some(p) = target.password() {
        env.push(("PGPASSWORD".to_owned(), p.to_owned()));
    }
    env
}

/// What a finished program left.
#[derive(Debug, Clone, Default)]
pub struct Finished {
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }

    /// stdout then stderr, one entry a line, `secret` (a password) replaced by `xxxx`.
    pub fn lines(&self, secret: Option<&str>) -> Vec<String> {
        self.stdout
            .lines()
            .chain(self.stderr.lines())
            .map(|l| match secret {
                Some(s) if !s.is_empty() => l.replace(s, "xxxx"),
                _ => l.to_owned(),
            })
            .collect()
    }
}

/// A started program whose output goes to files in a scratch directory (not pipes: a
/// daemon that inherits a pipe would keep us waiting for EOF).
pub struct Running {
    child: tokio::process::Child,
    out: Option<tempfile::NamedTempFile>,
    err: tempfile::NamedTempFile,
}

/// Starts `program args` in its own process group with `env` added; its stdout goes to
/// `stdout` when given (a dump file), else is captured.
pub fn spawn(
    program: &Path,
    args: &[&str],
    env: &[(String, String)],
    stdout: Option<std::fs::File>,
    scratch: &Path,
) -> std::io::Result<Running> {
    std::fs::create_dir_all(scratch)?;
    let err = tempfile::NamedTempFile::new_in(scratch)?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stderr(err.reopen()?)
        .process_group(0)
        .kill_on_drop(true);
    let out = match stdout {
        Some(f) => {
            cmd.stdout(f);
            None
        }
        None => {
            let out = tempfile::NamedTempFile::new_in(scratch)?;
            cmd.stdout(out.reopen()?);
            Some(out)
        }
    };
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot run {}: {e}", program.display()))
    })?;
    Ok(Running { child, out, err })
}

impl Running {
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Waits for the program; after `timeout` its whole process group gets SIGKILL
    /// (`upgrade-master` ignores every other signal).
    pub async fn wait(mut self, timeout: Option<Duration>) -> std::io::Result<Finished> {
        let pid = self.child.id();
        let waited = match timeout {
            Some(t) => tokio::time::timeout(t, self.child.wait()).await.ok(),
            None => Some(self.child.wait().await),
        };
        let (exit_code, timed_out) = match waited {
            Some(status) => (status?.code(), false),
            None => {
                if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
                    let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                }
                let _ = self.child.kill().await;
                (None, true)
            }
        };
        let read =
            |f: &tempfile::NamedTempFile| std::fs::read_to_string(f.path()).unwrap_or_default();
        Ok(Finished {
            exit_code,
            timed_out,
            stdout: self.out.as_ref().map(read).unwrap_or_default(),
            stderr: read(&self.err),
        })
    }
}

/// SIGKILL to the process group of `pid`, if `pid` is still alive and its command line
/// mentions `needle` (so that a recycled pid is left alone). Returns whether it was sent.
pub fn kill_group_if(pid: u32, needle: &str) -> bool {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    if !text.contains(needle) {
        return false;
    }
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    killpg(Pid::from_raw(raw), Signal::SIGKILL).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_the_banner() {
        assert_eq!(
            parse_version("pg_dump (PostgreSQL) 15.8 (Debian 15.8-1.pgdg120+1)\n"),
            Some(("15.8".into(), 15))
        );
        assert_eq!(
            parse_version("pg_dump (PostgreSQL) 17.2\n"),
            Some(("17.2".into(), 17))
        );
        assert_eq!(parse_version("nothing"), None);
    }

    #[test]
    fn output_lines_hide_the_password() {
        let f = Finished {
            stdout: "connecting with hunter2\nok\n".into(),
            stderr: "warning\n".into(),
            ..Default::default()
        };
        assert_eq!(
            f.lines(Some("hunter2")),
            ["connecting with xxxx", "ok", "warning"]
        );
    }

    #[tokio::test]
    async fn a_program_past_its_timeout_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        let r = spawn(
            Path::new("/bin/sh"),
            &["-c", "trap '' TERM; echo started; exec sleep 30"],
            &[],
            None,
            dir.path(),
        )
        .unwrap();
        let f = r.wait(Some(Duration::from_millis(300))).await.unwrap();
        assert!(f.timed_out && !f.success(), "{f:?}");
    }
}
