//! Starts a real crossbar.io router for the tests: a generated `config.json` (one router worker,
//! realm `buildbot`, anonymous role allowed everything on prefix `""`, a `ws` WebSocket path on
//! 127.0.0.1), run in its own process group so the whole node (controller and worker) can be
//! killed at once, and killed on Drop. The router shared by a test binary lives in a static, which
//! is never dropped: a small watchdog process kills it when the test process exits.

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const REALM: &str = "buildbot";

/// A running crossbar node.
pub struct Router {
    pub port: u16,
    cbdir: PathBuf,
    child: Option<Child>,
}

/// The crossbar executable from the project's dependency cache.
fn crossbar_exe() -> PathBuf {
    let cache = std::env::var_os("BBCTL_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/bbctl")
        });
    let exe = cache.join("crossbar/bin/crossbar");
    assert!(
        exe.is_file(),
        "crossbar is not installed at {}: run scripts/install-deps first",
        exe.display()
    );
    exe
}

/// Whether the router serves its websocket path. Crossbar listens on the transport's port before
/// it adds the transport's paths, so an accepted connection is not enough: until `/ws` is there
/// a client's handshake gets 404.
fn serves_ws(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let request = format!("GET /ws HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    // "HTTP/1.x NNN": anything answered but 404 means the path is there.
    stream.read_exact(&mut head).is_ok() && &head[9..12] != b"404"
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

fn write_config(cbdir: &Path, port: u16) {
    let config = serde_json::json!({
        "version": 2,
        "controller": {},
        "workers": [{
            "type": "router",
            "realms": [{
                "name": REALM,
                "roles": [{
                    "name": "anonymous",
                    "permissions": [{
                        "uri": "",
                        "match": "prefix",
                        "allow": {"call": true, "register": true, "publish": true, "subscribe": true},
                        "disclose": {"caller": false, "publisher": false},
                        "cache": true
                    }]
                }]
            }],
            // No "/" path: a nodeinfo page there would swallow "/ws".
            "transports": [{
                "type": "web",
                "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"},
                "paths": {"ws": {"type": "websocket"}}
            }]
        }]
    });
    std::fs::create_dir_all(cbdir).expect("create the crossbar directory");
    std::fs::write(
        cbdir.join("config.json"),
        serde_json::to_vec_pretty(&config).expect("json"),
    )
    .expect("write config.json");
}

impl Router {
    /// Starts a router on `port` with its node directory `cbdir` (reused on a restart).
    pub fn start(cbdir: &Path, port: u16) -> Router {
        write_config(cbdir, port);
        let log =
            std::fs::File::create(cbdir.join("crossbar.log")).expect("create the crossbar log");
        let child = Command::new(crossbar_exe())
            .arg("start")
            .arg("--cbdir")
            .arg(cbdir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("spawn crossbar");
        let mut router = Router {
            port,
            cbdir: cbdir.to_owned(),
            child: Some(child),
        };
        router.wait_ready();
        router
    }

    /// The WebSocket URL of the router.
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.cbdir.join("crossbar.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if serves_ws(self.port) {
                return;
            }
            let child = self.child.as_mut().expect("running");
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "crossbar exited ({status}) before listening on {}:\n{}",
                    self.port,
                    self.log_tail()
                );
            }
            assert!(
                Instant::now() < deadline,
                "crossbar did not listen on {} within 60 s:\n{}",
                self.port,
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills the whole node (SIGKILL to its process group) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_group(child.id());
            let _ = child.wait();
        }
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        self.kill();
    }
}

fn kill_group(pgid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status();
}

/// One router shared by every test of this binary, started on first use.
pub fn shared() -> &'static Router {
    static SHARED: OnceLock<(Router, tempfile::TempDir)> = OnceLock::new();
    let (router, _dir) = SHARED.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary directory");
        let router = Router::start(dir.path(), free_port());
        let pgid = router.child.as_ref().expect("running").id();
        spawn_watchdog(pgid, dir.path());
        (router, dir)
    });
    router
}

/// Kills process group `pgid` and removes `dir` once this test process has exited.
// The watchdog must outlive this process, so it is deliberately never waited for.
#[allow(clippy::zombie_processes)]
fn spawn_watchdog(pgid: u32, dir: &Path) {
    let script = format!(
        "while kill -0 {me} 2>/dev/null; do sleep 0.5; done; kill -9 -{pgid} 2>/dev/null; rm -rf '{dir}'",
        me = std::process::id(),
        dir = dir.display(),
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("spawn the crossbar watchdog");
}
