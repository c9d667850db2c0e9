//! The binary: a bad or missing setting exits 2 with one line naming it.

use std::process::Command;

fn run_with(config: &str, envs: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bbctl-agent"));
    cmd.arg("--config")
        .arg(&path)
        .env_remove("BBCTL_AGENT_CONFIG");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const OK: &str = r#"
name = "m1"
listen = "127.0.0.1:0"
state_dir = "/nonexistent/state"
token = "0123456789abcdef"
[master]
basedir = "/tmp/m"
buildbot = "/bin/false"
rest_url = "http://127.0.0.1:9/"
"#;

/// A config file, environment overrides, and what the error line must name.
type Case = (String, Vec<(&'static str, &'static str)>, &'static str);

#[test]
fn bad_settings_exit_2_with_one_line_naming_them() {
    let cases: Vec<Case> = vec![
        (OK.replace("name = \"m1\"", ""), vec![], "`name`"),
        (
            OK.replace("rest_url = \"http://127.0.0.1:9/\"", "rest_url = 3"),
            vec![],
            "master.rest_url",
        ),
        (
            OK.to_owned(),
            vec![("BBCTL_AGENT_LISTEN", "not-an-address")],
            "`listen`",
        ),
        (
            OK.to_owned(),
            vec![("BBCTL_AGENT_MASTER__START_TIMEOUT_SECS", "soon")],
            "master.start_timeout_secs",
        ),
        (
            format!("{OK}\n[wamp]\nrealm = \"x\"\nrouter = \"ws://x\"\n"),
            vec![],
            "wamp.router",
        ),
        ("name = [".to_owned(), vec![], "config file"),
    ];
    for (config, envs, needle) in cases {
        let (code, stderr) = run_with(&config, &envs);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains(needle), "expected {needle} in {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(!stderr.contains("0123456789abcdef"));
    }
}

#[test]
fn a_corrupt_state_db_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("agent.sqlite3"), vec![7u8; 4096]).unwrap();
    let config = OK.replace("/nonexistent/state", state.to_str().unwrap());
    let (code, stderr) = run_with(&config, &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("corrupt"), "{stderr}");
}
