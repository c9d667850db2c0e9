//! A real HAProxy (Debian 2.6, `/usr/sbin/haproxy`) for the hook tests, started from a generated
//! config in the foreground (`-db`) and killed when dropped: frontend `workers` in front of
//! backend `masters` with servers `s1` and `s2`, health-checked, runtime API on a unix socket
//! (`level admin`), over TCP (`ipv4@127.0.0.1:PORT level admin`) and on a second unix socket at
//! `level operator`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::HaproxySocket;
use super::haproxy::RuntimeClient;

/// A private HAProxy: `-db` in the foreground, killed when dropped.
pub(crate) struct Haproxy {
    child: Child,
    pub dir: tempfile::TempDir,
    pub frontend: SocketAddr,
    pub tcp_api: SocketAddr,
}

fn haproxy_binary() -> PathBuf {
    let candidates = [
        PathBuf::from("/usr/sbin/haproxy"),
        PathBuf::from("/usr/local/sbin/haproxy"),
    ];
    candidates
        .into_iter()
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!("haproxy not found (/usr/sbin/haproxy): run scripts/install-deps")
        })
}

fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

impl Haproxy {
    pub async fn start(s1: SocketAddr, s2: SocketAddr) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (frontend, tcp_api) = (free_port(), free_port());
        let cfg = format!(
            "global\n\
             \x20   stats socket {sock} level admin\n\
             \x20   stats socket ipv4@{tcp_api} level admin\n\
             \x20   stats socket {oper} level operator\n\
             \x20   nbthread 1\n\
             defaults\n\
             \x20   mode tcp\n\
             \x20   timeout connect 2s\n\
             \x20   timeout client 15m\n\
             \x20   timeout server 15m\n\
             frontend workers\n\
             \x20   bind {frontend}\n\
             \x20   default_backend masters\n\
             backend masters\n\
             \x20   balance roundrobin\n\
             \x20   server s1 {s1} check inter 1s fall 2 rise 2\n\
             \x20   server s2 {s2} check inter 1s fall 2 rise 2\n",
            sock = dir.path().join("admin.sock").display(),
            oper = dir.path().join("operator.sock").display(),
        );
        let cfg_path = dir.path().join("haproxy.cfg");
        std::fs::write(&cfg_path, cfg).unwrap();
        let log = std::fs::File::create(dir.path().join("haproxy.log")).unwrap();
        let child = Command::new(haproxy_binary())
            .arg("-db")
            .arg("-f")
            .arg(&cfg_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn haproxy");
        let mut haproxy = Haproxy {
            child,
            dir,
            frontend,
            tcp_api,
        };
        haproxy.wait_until_up(&["s1", "s2"]).await;
        haproxy
    }

    pub fn socket(&self) -> HaproxySocket {
        HaproxySocket::Unix(self.dir.path().join("admin.sock"))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("haproxy.log")).unwrap_or_default()
    }

    /// Waits until the servers are up by HAProxy's own account (health checks passed).
    pub async fn wait_until_up(&mut self, servers: &[&str]) {
        let client = RuntimeClient::new(self.socket());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("haproxy exited ({status}):\n{}", self.log());
            }
            let mut up = 0;
            for s in servers {
                if client
                    .server_state("masters", s)
                    .await
                    .is_ok_and(|st| st.is_up())
                {
                    up += 1;
                }
            }
            if up == servers.len() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "servers not up in 10 s:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Haproxy {
    /// The TCP runtime API, as the agent's settings name it.
    pub fn tcp_socket(&self) -> HaproxySocket {
        HaproxySocket::Tcp(self.tcp_api.to_string())
    }

    /// Kills it now (a load balancer that went away); dropping it later is harmless.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
