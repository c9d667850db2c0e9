//! Which Buildbot ("code") a master runs. A configuration version may carry a venv or a
//! `buildbot` executable (`StageConfigRequest::buildbot`), resolved and validated when it is
//! staged; activating the version makes that executable the master's (recorded with the
//! activation in the state DB, so it survives a restart of the agent), and create, start and
//! checkconfig use it. A version staged without one runs with the agent's `master.buildbot`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use bbctl_api::ErrorCode;

use crate::db::configs::{self, ActiveRow, VersionRow};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

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

impl From<CodeError> for AppError {
    fn from(e: CodeError) -> Self {
        AppError::new(ErrorCode::OperationFailed, e.to_string())
    }
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

/// [`resolve_path`], then `buildbot --version` must report a version.
pub async fn resolve(state: &AppState, spec: &str) -> Result<PathBuf, CodeError> {
    let exe = resolve_path(spec)?;
    match state.master().versions.get(&exe).await {
        Some(_) => Ok(exe),
        None => Err(CodeError::NoVersion(exe)),
    }
}

/// A recorded executable, or the agent's `master.buildbot` when none is.
pub fn or_default(state: &AppState, recorded: Option<&str>) -> PathBuf {
    recorded.map_or_else(|| state.config().master.buildbot.clone(), PathBuf::from)
}

/// The executable a staged version runs with.
pub fn of_version(state: &AppState, row: &VersionRow) -> PathBuf {
    or_default(state, row.buildbot.as_deref())
}

/// The master's executable now: the one of the last activation, else the agent's default.
pub async fn active_executable(state: &AppState) -> AppResult<PathBuf> {
    let last = state.db().run(configs::active).await?;
    Ok(executable_after(state, last.as_ref()))
}

/// [`active_executable`], with the last activation already read.
pub fn executable_after(state: &AppState, last: Option<&ActiveRow>) -> PathBuf {
    or_default(state, last.and_then(|a| a.buildbot.as_deref()))
}

/// Refuses (409) to switch the executable of a running master: new code needs a restart, and the
/// master would otherwise be reported with code it does not run.
pub fn check_switch(running_pid: Option<u32>, active: &Path, wanted: &Path) -> AppResult<()> {
    match running_pid {
        Some(pid) if active != wanted => Err(AppError::conflict(format!(
            "the master runs {} (pid {pid}); this version runs with {}: stop the master before \
             activating it (new code needs a restart)",
            active.display(),
            wanted.display()
        ))),
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
