//! Second "installs" of Buildbot for the `--buildbot` tests: a venv directory whose
//! `bin/buildbot` is a shell wrapper around the fleet's real one. It records each subcommand in
//! `<dir>/calls` (so a test sees which executable the agent ran), and can be made to fail `start`
//! the way a venv missing a module at runtime does while `--version` and `checkconfig` still pass,
//! or fail `upgrade-master` (the `migrate` strategy's failing migrations). Also where
//! scripts/install-deps puts each real Buildbot ([`buildbot_venv`]).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The Buildbot venvs scripts/install-deps installs, complete (master, www, worker, psycopg2):
/// the default of a fleet and the older one a fleet can start on (`--buildbot-version`).
pub const BUILDBOT_NEW: &str = "4.3.0";
pub const BUILDBOT_OLD: &str = "4.2.1";

/// `$BBCTL_CACHE/buildbot-VERSION` (default `~/.cache/bbctl/buildbot-VERSION`); panics when it
/// holds no `bin/buildbot`.
pub fn buildbot_venv(version: &str) -> PathBuf {
    let cache = std::env::var_os("BBCTL_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/bbctl")
        });
    let venv = cache.join(format!("buildbot-{version}"));
    assert!(
        venv.join("bin/buildbot").is_file(),
        "{} is missing: run scripts/install-deps",
        venv.display()
    );
    venv
}

/// How a [`failing_migration_venv`]'s `upgrade-master` fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrationFailure {
    /// Exits 1 before touching anything: the DB stays at the old head.
    NotApplied,
    /// Runs the real `upgrade-master` (the migration is committed), then exits 1 anyway.
    AppliedThenFailed,
}

/// `<dir>/venv`: a Buildbot install whose every subcommand is `real_venv`'s, except
/// `upgrade-master`, which fails as `how` says. Its `bin/python3` runs `real_venv`'s python, so
/// the agent (which asks the python next to the executable) finds the real code's schema head.
/// Each subcommand is recorded in `<dir>/calls`.
pub fn failing_migration_venv(dir: &Path, real_venv: &Path, how: MigrationFailure) -> PathBuf {
    let real = real_venv.join("bin/buildbot");
    let failing = match how {
        MigrationFailure::NotApplied => {
            "echo 'upgrade-master: simulated failure before the DB step' >&2\n  exit 1".to_owned()
        }
        MigrationFailure::AppliedThenFailed => format!(
            "'{}' \"$@\"\n  echo \"upgrade-master: simulated failure after the migration (real exit $?)\" >&2\n  exit 1",
            real.display()
        ),
    };
    let venv = write_wrapper(
        dir,
        &real,
        &format!("if [ \"$1\" = upgrade-master ]; then\n  {failing}\nfi\n"),
    );
    write_exe(
        &venv.join("bin/python3"),
        &format!(
            "#!/bin/sh\nexec '{}' \"$@\"\n",
            real_venv.join("bin/python3").display()
        ),
    );
    venv
}

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
    write_exe(&exe, &script);
    dir.join("venv")
}

fn write_exe(path: &Path, script: &str) {
    std::fs::write(path, script).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}
