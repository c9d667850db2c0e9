//! The binary's setup commands: `bbctl-agent init` writes a config for an existing basedir that
//! `bbctl-agent check-config` then loads and probes; their exit codes.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn agent(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bbctl-agent"))
        .args(args)
        .env_remove("BBCTL_AGENT_CONFIG")
        // `buildbot` is looked for on PATH last: none there, so the venv beside the basedir wins.
        .env("PATH", "")
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `<dir>/master`, a Buildbot basedir whose www is on `port`, with a venv at `<dir>/venv` and
/// a token file `<dir>/token`.
fn basedir(dir: &Path, port: u16) -> PathBuf {
    let base = dir.join("master");
    std::fs::create_dir(&base).unwrap();
    std::fs::write(base.join("buildbot.tac"), "configfile = 'master.cfg'\n").unwrap();
    std::fs::write(
        base.join("master.cfg"),
        format!("c = BuildmasterConfig = {{}}\nc['www'] = dict(port={port})\n"),
    )
    .unwrap();
    let exe = dir.join("venv/bin/buildbot");
    std::fs::create_dir_all(exe.parent().unwrap()).unwrap();
    std::fs::write(&exe, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(dir.join("token"), "0123456789abcdef\n").unwrap();
    base
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn init(dir: &Path, base: &Path, out: &Path) -> Output {
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    agent(&[
        "init",
        "--basedir",
        &s(base),
        "--output",
        &s(out),
        "--state-dir",
        &s(&dir.join("state")),
        "--token-file",
        &s(&dir.join("token")),
        "--listen",
        "127.0.0.1:0",
    ])
}

#[test]
fn init_writes_a_config_that_check_config_loads() {
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port();
    let base = basedir(dir.path(), port);
    let out_file = dir.path().join("agents/master.toml");
    let out = init(dir.path(), &base, &out_file);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], format!("wrote: {}", out_file.display()));
    assert!(lines.contains(&"found: name = \"master\" (from the basedir's last component)"));
    let venv = dir.path().join("venv/bin/buildbot");
    let expected = format!(
        "found: master.buildbot = \"{}\" (from a venv beside the basedir ({}))",
        venv.display(),
        dir.path().join("venv").display()
    );
    assert!(lines.contains(&expected.as_str()), "{text}");
    assert!(
        lines.contains(
            &format!(
                "found: master.rest_url = \"http://127.0.0.1:{port}/\" (from master.cfg: \
                 `port={port}` in c['www'])"
            )
            .as_str()
        ),
        "{text}"
    );
    assert!(lines.iter().all(|l| !l.starts_with("check: ")), "{text}");
    let mode = std::fs::metadata(&out_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    let check = agent(&["check-config", out_file.to_str().unwrap()]);
    let text = stdout(&check);
    assert_eq!(check.status.code(), Some(1), "{text}{}", stderr(&check));
    let problems: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("problem: "))
        .collect();
    assert_eq!(problems.len(), 1, "{text}");
    let prefix = format!(
        "problem: master.rest_url: http://127.0.0.1:{port}/api/v2/masters: cannot connect to \
         127.0.0.1:{port}: "
    );
    assert!(problems[0].starts_with(&prefix), "{text}");
    assert!(
        problems[0].ends_with("; the master is not running (twistd.pid names no live process)"),
        "{text}"
    );
    assert!(
        text.starts_with(&format!(
            "ok: {} loads (agent `master`)\n",
            out_file.display()
        )),
        "{text}"
    );
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let base = basedir(dir.path(), 8010);
    let out_file = dir.path().join("agent.toml");
    std::fs::write(&out_file, "# the operator's own\n").unwrap();
    let out = init(dir.path(), &base, &out_file);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        format!(
            "bbctl-agent: {} exists: not overwritten (--force replaces it)\n",
            out_file.display()
        )
    );
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap(),
        "# the operator's own\n"
    );
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let forced = agent(&[
        "init",
        "--basedir",
        &s(&base),
        "--output",
        &s(&out_file),
        "--force",
    ]);
    assert_eq!(forced.status.code(), Some(0), "{}", stderr(&forced));
    assert!(
        std::fs::read_to_string(&out_file)
            .unwrap()
            .contains("name = \"master\"")
    );
}

#[test]
fn init_on_a_directory_without_buildbot_tac_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("agent.toml");
    let out = init(dir.path(), dir.path(), &out_file);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!(
            "bbctl-agent: {} is not a Buildbot master basedir: no buildbot.tac\n",
            dir.path().display()
        )
    );
    assert!(!out_file.exists());
}

#[test]
fn check_config_on_a_bad_file_exits_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.toml");
    std::fs::write(
        &path,
        "name = \"m1\"\nstate_dir = \"s\"\ntoken = \"0123456789abcdef\"\n[master]\n\
         basedir = \"b\"\nbuildbot = \"x\"\nrest_url = \"ftp://h/\"\n",
    )
    .unwrap();
    let out = agent(&["check-config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stdout(&out),
        "problem: bad setting `master.rest_url`: must be an http:// or https:// URL\n"
    );
    assert!(!stdout(&out).contains("0123456789abcdef"));
}
