//! Tests of `super::check`: configs in temporary directories, a fake www and a fake HAProxy
//! runtime API on a unix socket.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::check::{Checked, check_config};
use super::{Kind, Line};

/// A directory with a basedir holding buildbot.tac, an executable `buildbot` and a token.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("master");
        std::fs::create_dir(&base).unwrap();
        std::fs::write(base.join("buildbot.tac"), "configfile = 'master.cfg'\n").unwrap();
        let exe = dir.path().join("venv/bin/buildbot");
        std::fs::create_dir_all(exe.parent().unwrap()).unwrap();
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.path().join("token"), "0123456789abcdef\n").unwrap();
        Setup { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// A config naming this directory's files; `rest_port` for `master.rest_url`, `extra`
    /// appended.
    async fn check(&self, rest_port: u16, extra: &str) -> Vec<Line> {
        let text = format!(
            "name = \"m1\"\nlisten = \"127.0.0.1:0\"\nstate_dir = \"state\"\n\
             token_file = \"token\"\n[master]\nbasedir = \"master\"\n\
             buildbot = \"venv/bin/buildbot\"\nrest_url = \"http://127.0.0.1:{rest_port}/\"\n\
             {extra}"
        );
        let path = self.path("agent.toml");
        std::fs::write(&path, text).unwrap();
        match check_config(&path).await {
            Checked::Probed(lines) => lines,
            Checked::NotLoaded(e) => panic!("{e}"),
        }
    }
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn shown(lines: &[Line]) -> Vec<String> {
    lines.iter().map(ToString::to_string).collect()
}

#[tokio::test]
async fn a_config_that_does_not_load_is_its_one_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, "name = [").unwrap();
    let checked = check_config(&path).await;
    assert!(checked.has_problem());
    let Checked::NotLoaded(e) = checked else {
        panic!("{checked:?}")
    };
    assert!(e.starts_with("config file "), "{e}");
    std::fs::write(&path, "state_dir = \"/x\"\n").unwrap();
    assert_eq!(
        check_config(&path).await,
        Checked::NotLoaded("missing setting `name`".into())
    );
}

#[tokio::test]
async fn a_stopped_master_is_a_rest_problem_and_the_rest_is_ok() {
    let setup = Setup::new();
    let lines = setup.check(closed_port(), "").await;
    let d = |rel: &str| setup.path(rel).display().to_string();
    let text = shown(&lines);
    assert_eq!(
        text[0],
        format!("ok: {} loads (agent `m1`)", d("agent.toml"))
    );
    assert_eq!(
        text[1],
        format!("ok: master.basedir {} holds buildbot.tac", d("master"))
    );
    assert_eq!(
        text[2],
        format!(
            "ok: master.buildbot {} is an executable file",
            d("venv/bin/buildbot")
        )
    );
    assert_eq!(
        text[3],
        format!(
            "ok: state_dir {} does not exist yet; the agent can create it (in {})",
            d("state"),
            setup.dir.path().display()
        )
    );
    assert_eq!(text[4], "ok: listen 127.0.0.1:0 can be bound");
    assert!(
        text[5].starts_with("problem: master.rest_url: http://127.0.0.1:")
            && text[5].contains("Connection refused")
            && text[5].ends_with("; the master is not running (twistd.pid names no live process)"),
        "{text:?}"
    );
    assert!(text[6].starts_with("note: load_balancer: kind = \"none\": drains will be refused"));
    assert!(text[7].starts_with("note: fleet: no db_url"), "{text:?}");
    assert_eq!(text.len(), 8);
    assert!(Checked::Probed(lines).has_problem());
}

#[tokio::test]
async fn a_basedir_executable_or_state_dir_that_does_not_fit() {
    let setup = Setup::new();
    std::fs::remove_file(setup.path("master/buildbot.tac")).unwrap();
    std::fs::set_permissions(
        setup.path("venv/bin/buildbot"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    std::fs::write(setup.path("state"), "a file").unwrap();
    let text = shown(&setup.check(closed_port(), "").await);
    assert!(
        text[1].ends_with("holds no buildbot.tac: not a Buildbot master basedir"),
        "{text:?}"
    );
    assert!(text[1].starts_with("problem: "));
    assert!(text[2].ends_with("is not an executable file"), "{text:?}");
    assert!(text[3].ends_with("is not a directory"), "{text:?}");
    std::fs::remove_dir_all(setup.path("master")).unwrap();
    let text = shown(&setup.check(closed_port(), "").await);
    assert!(
        text[1].starts_with("note: master.basedir ")
            && text[1].contains("does not exist: the agent creates the master there"),
        "{text:?}"
    );
}

#[tokio::test]
async fn a_www_that_answers_is_ok() {
    let app = axum::Router::new().route(
        "/api/v2/masters",
        axum::routing::get(|| async {
            axum::Json(serde_json::json!({"masters": [
                {"masterid": 1, "name": "h:/srv/m", "active": true, "last_active": 1}
            ], "meta": {"total": 1}}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let setup = Setup::new();
    let text = shown(&setup.check(port, "").await);
    assert_eq!(
        text[5],
        format!(
            "ok: master.rest_url http://127.0.0.1:{port}/ answers GET api/v2/masters (1 masters)"
        )
    );
}

/// A fake HAProxy runtime API on a unix socket: `server` is in backend `masters`.
fn fake_haproxy(path: &Path, server: &'static str) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::UnixListener::bind(path).unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let mut stream = BufReader::new(stream);
            let mut line = String::new();
            let _ = stream.read_line(&mut line).await;
            let reply = match line.trim() {
                "show info" => "Name: HAProxy\nVersion: 2.8.5-1\nPid: 7\n".to_owned(),
                "show cli level" => "admin\n".to_owned(),
                "show servers state masters" => format!(
                    "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state \
                     srv_admin_state\n3 masters 1 {server} 127.0.0.1 2 0\n\n"
                ),
                "show servers state other" => "Can't find backend.\n".to_owned(),
                other => format!("Unknown command: '{other}'\n"),
            };
            let _ = stream.get_mut().write_all(reply.as_bytes()).await;
            let _ = stream.get_mut().shutdown().await;
        }
    });
}

#[tokio::test]
async fn each_haproxy_answers_show_info_and_the_start_up_check() {
    let setup = Setup::new();
    let socket = setup.path("haproxy.sock");
    fake_haproxy(&socket, "m1");
    let lb = |sockets: &str, backend: &str| {
        format!(
            "[load_balancer]\nkind = \"haproxy\"\nruntime_sockets = {sockets}\n\
             backend = \"{backend}\"\nserver = \"m1\"\n"
        )
    };
    let one = format!("[\"{}\"]", socket.display());
    let text = shown(&setup.check(closed_port(), &lb(&one, "masters")).await);
    assert_eq!(
        text[6],
        format!(
            "ok: load_balancer: HAProxy runtime API at {} answers (HAProxy 2.8.5-1); backend \
             `masters` has server `m1`",
            socket.display()
        )
    );
    let text = shown(&setup.check(closed_port(), &lb(&one, "other")).await);
    assert!(
        text[6].starts_with("problem: bad setting `load_balancer.backend`: "),
        "{text:?}"
    );
    let missing = setup.path("missing.sock");
    let two = format!("[\"{}\", \"{}\"]", socket.display(), missing.display());
    let text = shown(&setup.check(closed_port(), &lb(&two, "masters")).await);
    assert!(text[6].starts_with("ok: load_balancer: "), "{text:?}");
    assert!(
        text[7].starts_with(&format!(
            "problem: load_balancer: HAProxy runtime API at {} (`show info`): ",
            missing.display()
        )),
        "{text:?}"
    );
}

#[tokio::test]
async fn a_relay_listen_address_in_use_is_a_note() {
    let setup = Setup::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let relay = format!(
        "[load_balancer]\nkind = \"relay\"\nlisten = \"{addr}\"\ntarget = \"127.0.0.1:1\"\n"
    );
    let text = shown(&setup.check(closed_port(), &relay).await);
    assert_eq!(
        text[6],
        format!(
            "note: load_balancer.listen {addr} is in use: by this agent if it runs, else the \
             agent cannot start"
        )
    );
    let problems: Vec<&String> = text.iter().filter(|l| l.starts_with("problem: ")).collect();
    assert_eq!(problems.len(), 1, "only the stopped master's www: {text:?}");
}

#[tokio::test]
async fn the_fleet_store_is_connected_without_migrations_or_refused() {
    let setup = Setup::new();
    let port = closed_port();
    let fleet = format!("[fleet]\ndb_url = \"postgres://bbctl@127.0.0.1:{port}/bbctl_fleet\"\n");
    let lines = setup.check(closed_port(), &fleet).await;
    let last = lines.last().unwrap();
    assert_eq!(last.kind, Kind::Problem);
    assert!(
        last.text.starts_with(&format!(
            "fleet.db_url: cannot connect to postgres://bbctl@127.0.0.1:{port}/bbctl_fleet: "
        )),
        "{last}"
    );
    let same = format!(
        "db_url = \"postgresql://bb:pw@127.0.0.1:{port}/bbctl_fleet\"\n\
         [fleet]\ndb_url = \"postgres://bbctl@127.0.0.1:{port}/bbctl_fleet\"\n"
    );
    let lines = setup.check(closed_port(), &same).await;
    let last = lines.last().unwrap().to_string();
    assert!(
        last.starts_with("problem: bad setting `fleet.db_url`: ")
            && last.contains("is Buildbot's own database")
            && !last.contains("pw@"),
        "{last}"
    );
}
