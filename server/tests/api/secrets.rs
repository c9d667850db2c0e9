//! Secrets never leak: the API token, the password inside a `postgres://` URL
//! (`state_db_url`, `master.db_url`) and the Buildbot www password (`[master.rest_auth]`) stay out of `Debug` output of the config, error envelopes,
//! operation records, and the agent's own log at `RUST_LOG=debug` — through authenticated calls,
//! refused calls and a failing `create-master` that is handed the DB URL.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use bbctl_agent::config::AgentConfig;

use crate::helpers::free_port;

const TOKEN: &str = "tok-SECRET-5f1e2d3c4b5a";
const DB_PASSWORD: &str = "pw-SECRET-a1b2c3";
const MASTER_DB_PASSWORD: &str = "pw-SECRET-d4e5f6";
const WWW_PASSWORD: &str = "www-SECRET-0a9b8c";

fn assert_clean(what: &str, text: &str) {
    for secret in [
        TOKEN,
        DB_PASSWORD,
        MASTER_DB_PASSWORD,
        WWW_PASSWORD,
        "SECRET",
    ] {
        assert!(!text.contains(secret), "{what} leaks `{secret}`:\n{text}");
    }
}

/// The agent's TOML; writes the www password file it names into `dir`.
fn config(dir: &std::path::Path, port: u16, state_db_url: Option<&str>) -> String {
    let www_password = dir.join("www-password");
    std::fs::write(&www_password, format!("{WWW_PASSWORD}\n")).unwrap();
    let state_db = state_db_url.map_or(String::new(), |u| format!("state_db_url = \"{u}\"\n"));
    format!(
        r#"
name = "secret-agent"
listen = "127.0.0.1:{port}"
state_dir = "{state}"
{state_db}token = "{TOKEN}"
poll_interval_secs = 0.2
[master]
basedir = "{base}"
buildbot = "/bin/false"
rest_url = "http://127.0.0.1:9/"
db_url = "postgresql://bbctl:{MASTER_DB_PASSWORD}@127.0.0.1:5432/bbctl?sslmode=disable"
[master.rest_auth]
user = "bbctl-agent"
password_file = "{www}"
"#,
        www = www_password.display(),
        state = dir.join("state").display(),
        base = dir.join("master").display(),
    )
}

#[test]
fn config_debug_redacts_the_token_and_db_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("postgres://agent:{DB_PASSWORD}@127.0.0.1:5432/state");
    let table: toml::Table = config(dir.path(), 7700, Some(&url)).parse().unwrap();
    let cfg = AgentConfig::from_table(&table, dir.path()).unwrap();
    let debug = format!("{cfg:?} {cfg:#?}");
    assert_clean("Debug of AgentConfig", &debug);
    assert!(
        debug.contains("postgres://agent:***@127.0.0.1:5432/state"),
        "{debug}"
    );
    assert_clean(
        "Display of the DB URLs",
        &format!("{} {:?}", cfg.state_db_url, cfg.master.db_url),
    );
    // The values themselves are intact for the code that needs them.
    assert!(cfg.state_db_url.as_str().contains(DB_PASSWORD));
    assert!(cfg.token.matches(TOKEN.as_bytes()));
    assert!(matches!(
        &cfg.master.rest_auth,
        Some(bbctl_agent::buildbot::RestAuth::Password { password, .. })
            if password.expose() == WWW_PASSWORD
    ));
}

#[test]
fn an_unreachable_postgres_state_db_is_reported_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "postgres://agent:{DB_PASSWORD}@127.0.0.1:{}/state",
        free_port()
    );
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, config(dir.path(), free_port(), Some(&url))).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bbctl-agent"))
        .arg("--config")
        .arg(&path)
        .env_remove("BBCTL_AGENT_CONFIG")
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("agent:***@127.0.0.1"), "{stderr}");
    assert_clean("startup error", &stderr);
}

/// A blocking HTTP/1.1 request with `Connection: close`; returns the whole answer.
fn http(port: u16, method: &str, path: &str, token: Option<&str>, body: &str) -> String {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn the_agent_log_at_debug_level_never_shows_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, config(dir.path(), port, None)).unwrap();
    let log_path = dir.path().join("agent.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_bbctl-agent"))
        .arg("--config")
        .arg(&path)
        .env_remove("BBCTL_AGENT_CONFIG")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "agent did not listen");
        assert!(child.try_wait().unwrap().is_none(), "agent exited");
        std::thread::sleep(Duration::from_millis(50));
    }
    let wrong = format!("{TOKEN}x");
    let mut answers = Vec::new();
    for (method, path, token, body) in [
        ("GET", "/v1/version", Some(TOKEN), ""),
        ("GET", "/v1/master", Some(TOKEN), ""),
        ("GET", "/v1/fleet", Some(TOKEN), ""),
        ("GET", "/v1/version", Some(wrong.as_str()), ""),
        ("GET", "/v1/version", None, ""),
        ("POST", "/v1/master/start", Some(wrong.as_str()), "{}"),
        ("POST", "/v1/configs", Some(TOKEN), "{not json"),
        ("PUT", "/v1/lease", Some(TOKEN), "{\"holder\": 1}"),
        // Runs `/bin/false create-master -r --db <url> <basedir>`: fails, is recorded.
        (
            "POST",
            "/v1/master/create",
            Some(TOKEN),
            "{\"reason\": \"leak test\"}",
        ),
        ("GET", "/v1/operations", Some(TOKEN), ""),
        ("GET", "/v1/audit", Some(TOKEN), ""),
    ] {
        answers.push(http(port, method, path, token, body));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(status.success(), "{log}");
    let all = answers.join("\n----\n");
    assert!(all.contains("\"agent_name\":\"secret-agent\""), "{all}");
    assert!(all.contains("401 Unauthorized"), "{all}");
    assert!(
        all.contains("create"),
        "the create operation is recorded: {all}"
    );
    assert_clean("API answers", &all);
    // The log really is at debug level and saw the refused calls.
    assert!(log.contains("DEBUG"), "{log}");
    assert!(log.contains("rejected request"), "{log}");
    assert_clean("agent log", &log);
}
