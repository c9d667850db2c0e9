//! Tests of `super::init` and its rendering, on temporary basedirs holding fake buildbot.tac,
//! master.cfg, twistd.pid and twistd.log files, fake venvs, and a fake master process.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::init::{self, InitError, InitOptions, Inspection, MasterProcess, PLACEHOLDER_BUILDBOT};
use super::init_render::{config_toml, report};
use super::{Kind, Line};
use crate::config::AgentConfig;

/// A basedir `<dir>/<name>` with buildbot.tac and, when given, master.cfg.
fn basedir(dir: &Path, name: &str, cfg: Option<&str>) -> PathBuf {
    let base = dir.join(name);
    std::fs::create_dir_all(&base).unwrap();
    std::fs::write(
        base.join("buildbot.tac"),
        "import os\nfrom twisted.application import service\nbasedir = '.'\n\
         rotateLength = 10000000\nconfigfile = 'master.cfg'\n",
    )
    .unwrap();
    if let Some(cfg) = cfg {
        std::fs::write(base.join("master.cfg"), cfg).unwrap();
    }
    base
}

fn executable(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Options for `base` that look nowhere outside the test's directory.
fn options(base: &Path, dir: &Path) -> InitOptions {
    InitOptions {
        basedir: base.to_path_buf(),
        listen: Some("127.0.0.1:0".parse().unwrap()),
        state_dir: Some(dir.join("state")),
        token_file: Some(dir.join("token")),
        output: Some(dir.join("out/agent.toml")),
        search_path: Some(OsString::new()),
        ..InitOptions::default()
    }
}

async fn inspect(base: &Path, dir: &Path) -> Inspection {
    init::inspect(&options(base, dir)).await.unwrap()
}

fn texts(lines: &[Line], kind: Kind) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.kind == kind)
        .map(|l| l.text.clone())
        .collect()
}

#[tokio::test]
async fn rest_url_from_every_style_of_master_cfg() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "c['www'] = dict(port=8011,\n    plugins=dict(console_view={}))\n",
            "http://127.0.0.1:8011/",
            "`port=8011` in c['www']",
        ),
        (
            "c[\"www\"] = {\"port\": \"tcp:8012:interface=10.0.0.5\", \"auth\": a}\n",
            "http://10.0.0.5:8012/",
            "`'port': \"tcp:8012:interface=10.0.0.5\"` in c['www']",
        ),
        (
            "c['www'] = dict(port=8013)\nc['buildbotURL'] = 'http://ci.example:8013/bb'\n",
            "http://ci.example:8013/bb/",
            "`c['buildbotURL']`",
        ),
    ];
    for (i, (cfg, url, form)) in cases.into_iter().enumerate() {
        let base = basedir(dir.path(), &format!("m{i}"), Some(cfg));
        let found = inspect(&base, dir.path()).await;
        assert_eq!(found.rest_url.value, url, "{cfg}");
        assert_eq!(
            found.rest_url.how,
            format!("from master.cfg: {form}"),
            "{cfg}"
        );
        assert_eq!(found.rest_url.check, None, "{cfg}");
    }
}

#[tokio::test]
async fn a_www_port_that_cannot_be_read_is_guessed_and_said_so() {
    let dir = tempfile::tempdir().unwrap();
    let computed = basedir(
        dir.path(),
        "computed",
        Some("c['www'] = {'port': f\"tcp:{LOCAL['www_port']}\"}\n"),
    );
    let none = basedir(dir.path(), "none", Some("c = BuildmasterConfig = {}\n"));
    let unreadable = basedir(dir.path(), "unreadable", None);
    std::fs::create_dir(unreadable.join("master.cfg")).unwrap();
    for (base, why) in [
        (
            computed,
            "master.cfg computes the www port: `f\"tcp:{LOCAL['www_port']}\"`",
        ),
        (none, "master.cfg gives no www port"),
        (unreadable, "cannot read "),
    ] {
        let found = inspect(&base, dir.path()).await;
        assert_eq!(found.rest_url.value, "http://127.0.0.1:8010/");
        assert!(found.rest_url.how.starts_with("guessed: 8010"), "{found:?}");
        let check = found.rest_url.check.clone().unwrap();
        assert!(check.contains(why), "{check}");
        assert!(
            check.ends_with("the master is not running, so it was not tried"),
            "{check}"
        );
        let lines = report(&found);
        assert!(
            texts(&lines, Kind::Check)
                .iter()
                .any(|c| c.starts_with("master.rest_url: confirm the port")),
            "{lines:?}"
        );
    }
}

#[tokio::test]
async fn a_stale_twistd_pid_falls_back_to_the_path_and_then_to_a_placeholder() {
    let dir = tempfile::tempdir().unwrap();
    let base = basedir(dir.path(), "m1", Some("c['www'] = dict(port=8010)\n"));
    // This test process: alive, but its working directory is not the basedir.
    std::fs::write(base.join("twistd.pid"), std::process::id().to_string()).unwrap();
    let found = inspect(&base, dir.path()).await;
    assert_eq!(
        found.process,
        MasterProcess::Stale {
            pid: std::process::id()
        }
    );
    assert!(
        found.notes[0].contains("a stale twistd.pid"),
        "{:?}",
        found.notes
    );
    assert_eq!(found.buildbot.value, Path::new(PLACEHOLDER_BUILDBOT));
    let lines = report(&found);
    let checks = texts(&lines, Kind::Check);
    assert!(
        checks
            .iter()
            .any(|c| c.starts_with("master.buildbot: no `buildbot` executable found")),
        "{checks:?}"
    );
    assert!(
        !texts(&lines, Kind::Found)
            .iter()
            .any(|f| f.starts_with("master.buildbot")),
        "{lines:?}"
    );

    let bin = dir.path().join("pathbin");
    executable(&bin.join("buildbot"), "#!/bin/sh\n");
    let mut opts = options(&base, dir.path());
    opts.search_path = Some(std::env::join_paths([&bin]).unwrap());
    let found = init::inspect(&opts).await.unwrap();
    assert_eq!(found.buildbot.value, bin.join("buildbot"));
    assert_eq!(found.buildbot.how, "from `buildbot` on PATH");
    assert_eq!(found.buildbot.check, None);
}

#[tokio::test]
async fn the_interpreter_in_twistd_log_beats_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let base = basedir(dir.path(), "m1", None);
    let venv = dir.path().join("opt/bb-4.3/bin");
    executable(&venv.join("buildbot"), "#!/bin/sh\n");
    std::fs::write(
        base.join("twistd.log"),
        format!(
            "2026-12-01 10:00:00+0000 [-] Loading buildbot.tac...\n\
             2026-12-01 10:00:00+0000 [-] twistd 24.11.0 ({}/python3 3.11.2) starting up.\n",
            venv.display()
        ),
    )
    .unwrap();
    let mut opts = options(&base, dir.path());
    let elsewhere = dir.path().join("pathbin");
    executable(&elsewhere.join("buildbot"), "#!/bin/sh\n");
    opts.search_path = Some(std::env::join_paths([&elsewhere]).unwrap());
    let found = init::inspect(&opts).await.unwrap();
    assert_eq!(found.buildbot.value, venv.join("buildbot"));
    assert!(
        found.buildbot.how.contains("twistd.log"),
        "{:?}",
        found.buildbot
    );
}

/// A fake running master: `<venv>/bin/python3` (a link to /bin/sh) running
/// `<venv>/bin/buildbot start BASEDIR` in the basedir, until its stdin closes.
struct FakeMaster(Child);

impl FakeMaster {
    fn start(dir: &Path, base: &Path) -> (FakeMaster, PathBuf) {
        let bin = dir.join("venv/bin");
        executable(&bin.join("buildbot"), "#!/bin/sh\nread line\n");
        std::os::unix::fs::symlink("/bin/sh", bin.join("python3")).unwrap();
        let child = Command::new(bin.join("python3"))
            .arg(bin.join("buildbot"))
            .arg("start")
            .arg(base)
            .current_dir(base)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        std::fs::write(base.join("twistd.pid"), child.id().to_string()).unwrap();
        (FakeMaster(child), bin.join("buildbot"))
    }
}

impl Drop for FakeMaster {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

/// A www that answers `GET /api/v2/masters`; its port.
async fn fake_www() -> u16 {
    let app = axum::Router::new().route(
        "/api/v2/masters",
        axum::routing::get(|| async {
            axum::Json(serde_json::json!({"masters": [], "meta": {"total": 0}}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

#[tokio::test]
async fn a_running_master_gives_its_buildbot_and_confirms_its_www() {
    let dir = tempfile::tempdir().unwrap();
    let port = fake_www().await;
    let cfg = format!("WWW_PORT = {port}\nc['www'] = dict(port=WWW_PORT)\n");
    let base = basedir(dir.path(), "m1", Some(&cfg));
    let (_master, buildbot) = FakeMaster::start(dir.path(), &base);
    let found = inspect(&base, dir.path()).await;
    assert!(
        matches!(found.process, MasterProcess::Running(_)),
        "{found:?}"
    );
    assert_eq!(found.buildbot.value, buildbot);
    assert!(
        found
            .buildbot
            .how
            .starts_with("from the running master's command line (pid ")
    );
    assert_eq!(found.rest_url.value, format!("http://127.0.0.1:{port}/"));
    assert!(
        found
            .rest_url
            .how
            .ends_with("; the running master answered GET api/v2/masters there"),
        "{:?}",
        found.rest_url
    );
    assert_eq!(found.rest_url.check, None);
}

#[tokio::test]
async fn the_written_file_loads_and_holds_the_password_the_report_hides() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = "c['www'] = dict(port=8010)\n\
               c['db'] = {'db_url': \"postgresql://bb:s3cret@db.example/buildbot\"}\n";
    let base = basedir(dir.path(), "Master One", Some(cfg));
    executable(&dir.path().join("venv/bin/buildbot"), "#!/bin/sh\n");
    std::fs::write(dir.path().join("token"), "0123456789abcdef\n").unwrap();
    let found = inspect(&base, dir.path()).await;
    assert_eq!(found.name.value, "master-one");
    assert_eq!(found.token_file.check, None);
    let text = config_toml(&found);
    init::write(&found.output, &text, false).unwrap();
    let mode = std::fs::metadata(&found.output)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let config = AgentConfig::load(Some(&found.output)).unwrap();
    assert_eq!(config.name, "master-one");
    assert_eq!(config.master.basedir, base);
    assert_eq!(config.master.buildbot, dir.path().join("venv/bin/buildbot"));
    assert_eq!(config.master.rest_url, "http://127.0.0.1:8010/");
    assert_eq!(
        config.master.db_url.as_deref(),
        Some("postgresql://bb:s3cret@db.example/buildbot")
    );
    assert_eq!(config.state_dir, dir.path().join("state"));
    assert!(config.master.vars.is_empty());
    let shown: Vec<String> = report(&found).iter().map(ToString::to_string).collect();
    assert!(!shown.join("\n").contains("s3cret"), "{shown:?}");
    assert!(
        shown.contains(
            &"found: master.db_url = \"postgresql://bb:***@db.example/buildbot\" \
                         (from master.cfg: `db_url`)"
                .to_owned()
        ),
        "{shown:?}"
    );
    // Not again without --force; with it, replaced.
    let err = init::write(&found.output, "x = 1\n", false).unwrap_err();
    assert!(matches!(err, InitError::Exists(_)), "{err}");
    assert_eq!(std::fs::read_to_string(&found.output).unwrap(), text);
    let mut again = options(&base, dir.path());
    assert!(matches!(
        init::inspect(&again).await,
        Err(InitError::Exists(_))
    ));
    again.force = true;
    init::inspect(&again).await.unwrap();
    init::write(&found.output, "x = 1\n", true).unwrap();
    assert_eq!(std::fs::read_to_string(&found.output).unwrap(), "x = 1\n");
}

#[tokio::test]
async fn bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let err = init::inspect(&options(dir.path(), dir.path()))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} is not a Buildbot master basedir: no buildbot.tac",
            dir.path().display()
        )
    );
    let base = basedir(dir.path(), "m1", None);
    let mut opts = options(&base, dir.path());
    opts.name = Some("Bad Name".into());
    let err = init::inspect(&opts).await.unwrap_err();
    assert!(matches!(err, InitError::BadName(_)), "{err}");
}

#[test]
fn names_are_normalised_to_the_agent_rule() {
    for (raw, name) in [
        ("master-1", Some("master-1")),
        ("Alpha_Master", Some("alpha_master")),
        ("  bb master #2", Some("bb-master-2")),
        ("..hidden", Some("hidden")),
        ("ü", None),
        ("ünï", Some("n")),
        ("", None),
    ] {
        assert_eq!(init::normalise_name(raw).as_deref(), name, "{raw:?}");
    }
    let long = "x".repeat(80);
    assert_eq!(init::normalise_name(&long).unwrap().len(), 63);
}
