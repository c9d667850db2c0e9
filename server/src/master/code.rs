//! Which Buildbot ("code") a master runs. A configuration version may carry a venv or a
//! `buildbot` executable (`StageConfigRequest::buildbot`), resolved and validated when it is
//! staged; activating the version makes that executable the master's (recorded with the
//! activation in the state DB, so it survives a restart of the agent), and create, start and
//! checkconfig use it. A version staged without one runs with the agent's `master.buildbot`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::MasterRuntime;
use crate::db::configs::{self, ActiveRow, VersionRow};
use crate::db::{Db, DbError};

/// Why a `buildbot` given with a configuration version cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CodeError {
    #[error("buildbot {0:?} is not an absolute path")]
    NotAbsolute(String),
    #[error("buildbot {0}: no such venv directory or executable")]
    Missing(PathBuf),
    #[error("buildbot {0} is not an executable file")]
    NotExecutable(PathBuf),
    #[error("buildbot {0}: `buildbot --version` does not report a Buildbot version")]
    NoVersion(PathBuf),
}

/// Switching the executable of a running master is refused: new code needs a restart, and the
/// master would otherwise be reported with code it does not run.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error(
    "the master runs {} (pid {pid}); this version runs with {}: stop the master before \
     activating it (new code needs a restart)",
    active.display(),
    wanted.display()
)]
pub struct SwitchRefused {
    pub pid: u32,
    pub active: PathBuf,
    pub wanted: PathBuf,
}

/// A venv directory → its `bin/buildbot`; an executable → itself. Checks that the result is an
/// executable file; does not run it.
pub fn resolve_path(spec: &str) -> Result<PathBuf, CodeError> {
    let path = Path::new(spec);
    if !path.is_absolute() {
        return Err(CodeError::NotAbsolute(spec.to_owned()));
    }
    let exe = if path.is_dir() {
        path.join("bin").join("buildbot")
    } else {
        path.to_path_buf()
    };
    let meta = std::fs::metadata(&exe).map_err(|_| CodeError::Missing(exe.clone()))?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return Err(CodeError::NotExecutable(exe));
    }
    Ok(exe)
}

/// Which executable the master runs: the agent's `master.buildbot` unless a version or an
/// activation recorded another. Cheap to clone.
#[derive(Clone)]
pub struct Code {
    default: PathBuf,
    db: Db,
    runtime: Arc<MasterRuntime>,
}

impl Code {
    /// `default` is `master.buildbot`; `runtime` caches `buildbot --version` per executable.
    pub fn new(default: PathBuf, db: Db, runtime: Arc<MasterRuntime>) -> Self {
        Code {
            default,
            db,
            runtime,
        }
    }

    /// [`resolve_path`], then `buildbot --version` must report a version.
    pub async fn resolve(&self, spec: &str) -> Result<PathBuf, CodeError> {
        let exe = resolve_path(spec)?;
        match self.runtime.versions.get(&exe).await {
            Some(_) => Ok(exe),
            None => Err(CodeError::NoVersion(exe)),
        }
    }

    /// A recorded executable, or the agent's `master.buildbot` when none is.
    pub fn or_default(&self, recorded: Option<&str>) -> PathBuf {
        recorded.map_or_else(|| self.default.clone(), PathBuf::from)
    }

    /// The executable a staged version runs with.
    pub fn of_version(&self, row: &VersionRow) -> PathBuf {
        self.or_default(row.buildbot.as_deref())
    }

    /// The master's executable now: the one of the last activation, else the agent's default.
    pub async fn active(&self) -> Result<PathBuf, DbError> {
        let last = self.db.run(configs::active).await?;
        Ok(self.after(last.as_ref()))
    }

    /// [`Code::active`], with the last activation already read.
    pub fn after(&self, last: Option<&ActiveRow>) -> PathBuf {
        self.or_default(last.and_then(|a| a.buildbot.as_deref()))
    }

    /// Fills the version and schema-head caches of the master's executable. `GET /v1/master`
    /// reports both, and each costs a run of the install's Python the first time (more than
    /// 5 s, a client's default timeout, on a loaded host): the agent warms them at its start
    /// so that its first answer is as quick as the next ones.
    pub async fn warm(&self) {
        let Ok(exe) = self.active().await else {
            return;
        };
        tokio::join!(
            self.runtime.versions.get(&exe),
            self.runtime.schemas.get(&exe)
        );
    }
}

/// Refuses to switch the executable of a running master.
pub fn check_switch(
    running_pid: Option<u32>,
    active: &Path,
    wanted: &Path,
) -> Result<(), SwitchRefused> {
    match running_pid {
        Some(pid) if active != wanted => Err(SwitchRefused {
            pid,
            active: active.to_path_buf(),
            wanted: wanted.to_path_buf(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn executable(path: &Path, mode: u32) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "#!/bin/sh\necho 'Buildbot version: 4.3.0'\n").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_venv_resolves_to_its_bin_buildbot_and_an_executable_to_itself() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("venv/bin/buildbot");
        executable(&exe, 0o755);
        let venv = dir.path().join("venv");
        assert_eq!(resolve_path(venv.to_str().unwrap()), Ok(exe.clone()));
        assert_eq!(resolve_path(exe.to_str().unwrap()), Ok(exe));
    }

    #[test]
    fn refuses_relative_missing_and_non_executable_paths() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            resolve_path("venv/bin/buildbot"),
            Err(CodeError::NotAbsolute("venv/bin/buildbot".into()))
        );
        let missing = dir.path().join("nope");
        assert_eq!(
            resolve_path(missing.to_str().unwrap()),
            Err(CodeError::Missing(missing))
        );
        let empty_venv = dir.path().join("empty");
        std::fs::create_dir(&empty_venv).unwrap();
        assert_eq!(
            resolve_path(empty_venv.to_str().unwrap()),
            Err(CodeError::Missing(empty_venv.join("bin/buildbot")))
        );
        let plain = dir.path().join("plain");
        executable(&plain, 0o644);
        assert_eq!(
            resolve_path(plain.to_str().unwrap()),
            Err(CodeError::NotExecutable(plain))
        );
    }

    #[test]
    fn switching_code_is_refused_only_while_the_master_runs() {
        let (a, b) = (Path::new("/a/bin/buildbot"), Path::new("/b/bin/buildbot"));
        assert!(check_switch(None, a, b).is_ok());
        assert!(check_switch(Some(7), a, a).is_ok());
        let err = check_switch(Some(7), a, b).unwrap_err();
        assert!(err.to_string().contains("stop the master"), "{err}");
    }
}
