//! The fleet store through PgBouncer in transaction pooling mode (docs/fleet-store.md): no named
//! prepared statements, no session state. PgBouncer is a test dependency like PostgreSQL's
//! server binaries (Debian package `pgbouncer`); without it this test fails, saying so.

use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};

use super::{pg_agent, pg_store};
use crate::helpers::free_port;
use crate::pg_cluster::PG_USER;

/// A PgBouncer in front of one database, killed on drop.
struct PgBouncer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl PgBouncer {
    fn start(pg_port: u16, databases: &[&str]) -> PgBouncer {
        let exe = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
            .into_iter()
            .find(|p| std::path::Path::new(p).is_file())
            .expect("pgbouncer is not installed (Debian package pgbouncer): the PgBouncer test cannot run");
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let port = free_port();
        let ini = dir.path().join("pgbouncer.ini");
        let users = dir.path().join("users.txt");
        std::fs::write(&users, format!("\"{PG_USER}\" \"\"\n")).unwrap();
        std::fs::write(
            &ini,
            format!(
                "[databases]\n{}\n\
                 [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n\
                 unix_socket_dir =\nauth_type = trust\nauth_file = {}\n\
                 pool_mode = transaction\ndefault_pool_size = 2\nmax_client_conn = 50\n\
                 ignore_startup_parameters = extra_float_digits,options\n",
                databases
                    .iter()
                    .map(|d| format!("{d} = host=127.0.0.1 port={pg_port} dbname={d}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
                users.display()
            ),
        )
        .unwrap();
        for f in [&ini, &users] {
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let as_root = std::fs::metadata("/proc/self")
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
            .unwrap();
        let mut cmd = if as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", PG_USER, "--", exe]);
            c
        } else {
            Command::new(exe)
        };
        let child = cmd
            .arg(&ini)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut bouncer = PgBouncer {
            child,
            port,
            _dir: dir,
        };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return bouncer;
            }
            if let Ok(Some(status)) = bouncer.child.try_wait() {
                panic!("pgbouncer exited ({status})");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("pgbouncer never listened on {port}");
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn the_matrices_through_pgbouncer_in_transaction_mode() {
    let (pg, _) = pg_store();
    pg.create_database("journals");
    let bouncer = PgBouncer::start(pg.port, &["bbctl_fleet", "journals"]);
    let url = |db: &str| format!("postgres://{PG_USER}@127.0.0.1:{}/{db}", bouncer.port);
    // Two agents, so that PgBouncer hands each statement whichever server connection is free.
    let (a, b) = (pg_agent(&url("bbctl_fleet")), pg_agent(&url("bbctl_fleet")));
    let (status, info) = b.call("GET", "/v1/fleet/store", None).await;
    assert_eq!(
        (status.as_u16(), &info["reachable"]),
        (200, &serde_json::json!(true)),
        "{info}"
    );
    super::lease::lease_matrix(&a).await;
    let (status, body) = b.call("GET", "/v1/lease", None).await;
    assert_eq!(
        (status.as_u16(), body["epoch"].as_i64()),
        (200, Some(4)),
        "{body}"
    );
    super::journal::journal_matrix(&pg_agent(&url("journals"))).await;
}
