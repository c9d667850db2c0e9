//! `[load_balancer] runtime_sockets` through the real binary, against two real HAProxy processes
//! (Debian 2.6, runtime API over TCP on 127.0.0.1 at `level admin`): the settings are checked on
//! each load balancer at start (a wrong one is exit 2 naming it), and `/readyz` and `GET
//! /v1/routing` name the one that does not answer.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::agent_process::AgentProcess;
use crate::helpers::{TOKEN, free_port};

/// An HAProxy in the foreground (`-db`), killed when dropped: backend `masters` with server
/// `master-1`, runtime API at `tcp:127.0.0.1:PORT`.
struct Haproxy {
    child: Child,
    runtime: String,
}

impl Haproxy {
    fn start(dir: &Path, name: &str) -> Haproxy {
        let port = free_port();
        let cfg = dir.join(format!("{name}.cfg"));
        std::fs::write(
            &cfg,
            format!(
                "global\n    stats socket ipv4@127.0.0.1:{port} level admin\n\
                 defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 1m\n    \
                 timeout server 1m\n\
                 frontend workers\n    bind 127.0.0.1:{front}\n    default_backend masters\n\
                 backend masters\n    server master-1 127.0.0.1:{master}\n",
                front = free_port(),
                master = free_port(),
            ),
        )
        .unwrap();
        let child = Command::new("/usr/sbin/haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy (/usr/sbin/haproxy): run scripts/install-deps");
        let haproxy = Haproxy {
            child,
            runtime: format!("tcp:127.0.0.1:{port}"),
        };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return haproxy;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "haproxy's runtime API never listened on {}",
            haproxy.runtime
        );
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        self.kill();
    }
}

fn config(dir: &Path, port: u16, load_balancer: &str) -> PathBuf {
    let path = dir.join("agent.toml");
    std::fs::write(
        &path,
        format!(
            r#"
name = "lb-agent"
listen = "127.0.0.1:{port}"
state_dir = "{state}"
token = "{TOKEN}"
[master]
basedir = "{base}"
buildbot = "/nonexistent/buildbot"
rest_url = "http://127.0.0.1:9/"
[load_balancer]
kind = "haproxy"
backend = "masters"
{load_balancer}
"#,
            state = dir.join("state").display(),
            base = dir.join("master").display(),
        ),
    )
    .unwrap();
    path
}

async fn get(agent: &AgentProcess, path: &str) -> Value {
    let text = reqwest::Client::new()
        .get(format!("{}{path}", agent.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
}

fn lb_reasons(readyz: &Value) -> Vec<String> {
    readyz["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .filter(|r| r.contains("load balancer"))
        .collect()
}

#[tokio::test]
async fn the_agent_checks_every_load_balancer_and_names_the_one_that_does_not_answer() {
    let dir = tempfile::tempdir().unwrap();
    let lb1 = Haproxy::start(dir.path(), "lb1");
    let mut lb2 = Haproxy::start(dir.path(), "lb2");
    let sockets = format!(
        "runtime_sockets = [\"{}\", \"{}\"]\nserver = \"master-1\"",
        lb1.runtime, lb2.runtime
    );
    let port = free_port();
    let path = config(dir.path(), port, &sockets);
    let agent = AgentProcess::spawn(&path, port, &dir.path().join("agent.log"));

    assert_eq!(
        lb_reasons(&get(&agent, "/readyz").await),
        Vec::<String>::new()
    );
    let routing = get(&agent, "/v1/routing").await;
    assert_eq!(routing["routing"], "ready", "{routing}");

    lb2.kill();
    let reasons = lb_reasons(&get(&agent, "/readyz").await);
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(
        reasons[0].starts_with("load balancer unavailable: ") && reasons[0].contains(&lb2.runtime),
        "{reasons:?}"
    );
    assert!(!reasons[0].contains(&lb1.runtime), "{reasons:?}");
    let routing = get(&agent, "/v1/routing").await;
    assert_eq!(routing["routing"], "unknown", "{routing}");
    let reason = routing["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("failed on {}", lb2.runtime))
            && reason.contains(&format!("worked on {} (ready)", lb1.runtime)),
        "{reason}"
    );
}

#[test]
fn a_wrong_setting_on_any_load_balancer_or_both_keys_stop_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let lb1 = Haproxy::start(dir.path(), "lb1");
    let lb2 = Haproxy::start(dir.path(), "lb2");
    let cases = [
        (
            format!(
                "runtime_sockets = [\"{}\", \"{}\"]\nserver = \"master-9\"",
                lb1.runtime, lb2.runtime
            ),
            "bad setting `load_balancer.server`: HAProxy backend `masters` has no server \
             `master-9` (it has: master-1)",
        ),
        (
            format!(
                "runtime_socket = \"{}\"\nruntime_sockets = [\"{}\"]\nserver = \"master-1\"",
                lb1.runtime, lb2.runtime
            ),
            "bad setting `load_balancer.runtime_sockets`: give either runtime_socket",
        ),
        (
            "runtime_sockets = []\nserver = \"master-1\"".to_owned(),
            "bad setting `load_balancer.runtime_sockets`: is empty",
        ),
    ];
    for (lines, want) in cases {
        let path = config(dir.path(), free_port(), &lines);
        let out = Command::new(env!("CARGO_BIN_EXE_bbctl-agent"))
            .arg("--config")
            .arg(&path)
            .env_remove("BBCTL_AGENT_CONFIG")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{lines}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(want), "{lines}: {stderr}");
        assert!(
            !dir.path().join("state/agent.sqlite3").exists(),
            "a refused start makes no state DB: {stderr}"
        );
    }
}
