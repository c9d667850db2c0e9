//! Second "installs" of Buildbot for the `--buildbot` tests: a venv directory whose
//! `bin/buildbot` is a shell wrapper around the fleet's real one. It records each subcommand in
//! `<dir>/calls` (so a test sees which executable the agent ran), and can be made to fail `start`
//! the way a venv missing a module at runtime does while `--version` and `checkconfig` still pass.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// `<dir>/venv`: its `bin/buildbot` records each subcommand in `<dir>/calls`, then runs `real`.
pub fn wrapper_venv(dir: &Path, real: &Path) -> PathBuf {
    write_wrapper(dir, real, "")
}

/// Like [`wrapper_venv`], but `start` fails with a `ModuleNotFoundError`; `--version` and
/// `checkconfig` still run `real`.
pub fn unstartable_venv(dir: &Path, real: &Path) -> PathBuf {
    write_wrapper(
        dir,
        real,
        "if [ \"$1\" = start ]; then\n  \
         echo \"ModuleNotFoundError: No module named 'missing_plugin'\" >&2\n  exit 1\nfi\n",
    )
}

fn write_wrapper(dir: &Path, real: &Path, before_exec: &str) -> PathBuf {
    let bin = dir.join("venv/bin");
    std::fs::create_dir_all(&bin).unwrap();
    let exe = bin.join("buildbot");
    let script = format!(
        "#!/bin/sh\necho \"$1\" >> '{}'\n{before_exec}exec '{}' \"$@\"\n",
        dir.join("calls").display(),
        real.display()
    );
    std::fs::write(&exe, script).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir.join("venv")
}
