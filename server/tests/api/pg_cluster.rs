//! A private PostgreSQL cluster per test (initdb in a temp dir, 127.0.0.1 on a free port, run
//! as user `postgres` when the tests run as root, as `scripts/fleet` does), for the state-DB
//! tests on PostgreSQL (`postgres_state`) and the Buildbot-DB tests (`buildbot_db`).
//!
//! PostgreSQL's server binaries are a dependency of the test suite (`scripts/install-deps`
//! installs them): without them these tests fail, saying so; they never skip.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::Command;

use diesel::pg::PgConnection;
use diesel::prelude::*;

use crate::helpers::free_port;

/// The user PostgreSQL runs as when the tests run as root (it refuses to run as root).
pub const PG_USER: &str = "postgres";

/// A private PostgreSQL cluster on 127.0.0.1, stopped and deleted on drop.
pub struct PgCluster {
    bin: PathBuf,
    data: PathBuf,
    pub port: u16,
    as_root: bool,
    /// Removed after the server stopped.
    dir: tempfile::TempDir,
}

/// The newest `/usr/lib/postgresql/<version>/bin` with `initdb` (Debian's layout), else the
/// directory of `initdb` on PATH. Fails the test when neither exists.
fn bindir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file());
    on_path.unwrap_or_else(|| {
        panic!(
            "PostgreSQL server binaries (initdb, pg_ctl) are not in /usr/lib/postgresql/*/bin \
             nor on PATH: install them with scripts/install-deps (Debian package postgresql); \
             the state-DB tests on PostgreSQL cannot run without them"
        )
    })
}

impl PgCluster {
    pub fn start() -> PgCluster {
        let bin = bindir();
        let as_root = std::fs::metadata("/proc/self").unwrap().uid() == 0;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let run = dir.path().join("run");
        std::fs::create_dir(&data).unwrap();
        std::fs::create_dir(&run).unwrap();
        if as_root {
            // The server runs as `postgres`, which must reach its directories.
            std::fs::set_permissions(
                dir.path(),
                std::os::unix::fs::PermissionsExt::from_mode(0o755),
            )
            .unwrap();
            let chown = Command::new("chown")
                .arg(format!("{PG_USER}:"))
                .arg(&data)
                .arg(&run)
                .output()
                .unwrap();
            assert!(
                chown.status.success(),
                "chown {PG_USER}: {} (is the Debian package postgresql installed? \
                 scripts/install-deps)",
                String::from_utf8_lossy(&chown.stderr)
            );
        }
        let mut cluster = PgCluster {
            bin,
            data,
            port: 0,
            as_root,
            dir,
        };
        let data = cluster.data.display().to_string();
        cluster.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                PG_USER,
                "--no-locale",
                "-E",
                "UTF8",
                "--no-sync",
                "--auth=trust",
            ],
        );
        let conf = format!(
            "\n# bbctl-agent tests: a private, disposable cluster on loopback\n\
             listen_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             max_connections = 20\nshared_buffers = 16MB\nfsync = off\n\
             synchronous_commit = off\nfull_page_writes = off\n",
            run.display()
        );
        let mut text = std::fs::read_to_string(cluster.data.join("postgresql.conf")).unwrap();
        text.push_str(&conf);
        std::fs::write(cluster.data.join("postgresql.conf"), text).unwrap();
        // A free port can be taken before the server binds it: try a few.
        let log = run.join("postgres.log").display().to_string();
        for attempt in 1..=3 {
            cluster.port = free_port();
            let options = format!("-p {}", cluster.port);
            let ok = cluster.try_run(
                "pg_ctl",
                &[
                    "start", "-D", &data, "-l", &log, "-o", &options, "-w", "-t", "60",
                ],
            );
            if ok.is_ok() {
                return cluster;
            }
            if attempt == 3 {
                panic!(
                    "{}\nserver log:\n{}",
                    ok.unwrap_err(),
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        }
        unreachable!()
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let exe = self.bin.join(program);
        let mut cmd = if self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", PG_USER, "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        cmd.args(args).current_dir(self.dir.path());
        cmd
    }

    fn try_run(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let out = self
            .command(program, args)
            .output()
            .map_err(|e| format!("cannot run {program}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{program} {args:?} failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    pub fn run(&self, program: &str, args: &[&str]) {
        if let Err(e) = self.try_run(program, args) {
            panic!("{e}");
        }
    }

    /// Stops the server (fast shutdown: sessions are cut), keeping its data.
    pub fn stop(&self) {
        let data = self.data.display().to_string();
        self.run("pg_ctl", &["stop", "-D", &data, "-m", "fast", "-w"]);
    }

    /// Starts the stopped server again on the same port.
    pub fn start_again(&self) {
        let data = self.data.display().to_string();
        let log = self
            .dir
            .path()
            .join("run/postgres.log")
            .display()
            .to_string();
        let options = format!("-p {}", self.port);
        self.run(
            "pg_ctl",
            &[
                "start", "-D", &data, "-l", &log, "-o", &options, "-w", "-t", "60",
            ],
        );
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://{PG_USER}@127.0.0.1:{}/{database}", self.port)
    }

    /// A new, empty database; returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        let mut admin = PgConnection::establish(&self.url("postgres")).unwrap();
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .unwrap();
        self.url(name)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.data.display().to_string();
        let _ = self.try_run("pg_ctl", &["stop", "-D", &data, "-m", "immediate", "-w"]);
    }
}
