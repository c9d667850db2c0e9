//! Unit tests of configuration parsing: defaults, overrides, and errors naming the setting.

use super::*;

const MINIMAL: &str = r#"
name = "master-1"
state_dir = "/tmp/bbctl-test-state"
token = "0123456789abcdef"
[master]
basedir = "/tmp/bbctl-test-master"
buildbot = "/opt/bb/bin/buildbot"
rest_url = "http://127.0.0.1:8011"
[master.vars]
www_port = 8011
"#;

fn parse(text: &str) -> Result<AgentConfig, ConfigError> {
    let table: toml::Table = text.parse().unwrap();
    AgentConfig::from_table(&table, Path::new("/etc"))
}

#[test]
fn minimal_config_gets_defaults() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
    assert_eq!(
        c.state_db_url,
        "sqlite:///tmp/bbctl-test-state/agent.sqlite3"
    );
    assert_eq!(c.master.rest_url, "http://127.0.0.1:8011/");
    assert_eq!(c.master.start_timeout, Duration::from_secs(60));
    assert_eq!(c.poll_interval, Duration::from_secs(1));
    assert_eq!(c.master.vars["www_port"], serde_json::json!(8011));
    assert!(c.wamp.is_none());
    assert_eq!(c.load_balancer, LbConfig::None);
}

#[test]
fn errors_name_the_setting() {
    let cases: &[(&str, &str)] = &[
        ("name = \"master-1\"\n", "state_dir"),
        (
            &MINIMAL.replace("name = \"master-1\"", "name = \"Bad Name\""),
            "`name`",
        ),
        (
            &MINIMAL.replace(
                "rest_url = \"http://127.0.0.1:8011\"",
                "rest_url = \"ftp://x\"",
            ),
            "master.rest_url",
        ),
        (
            &MINIMAL.replace("token = \"0123456789abcdef\"", ""),
            "token",
        ),
        (
            &format!("{MINIMAL}\n[wamp]\nrouter_url = \"http://x\"\n"),
            "wamp.router_url",
        ),
        (&format!("typo_key = 1\n{MINIMAL}"), "typo_key"),
        (
            &MINIMAL.replace("[master.vars]", "bogus = 1\n[master.vars]"),
            "master.bogus",
        ),
        (&format!("listen = \"nope\"\n{MINIMAL}"), "`listen`"),
        (
            &format!("poll_interval_secs = \"fast\"\n{MINIMAL}"),
            "poll_interval_secs",
        ),
        (
            &format!("{MINIMAL}\n[load_balancer]\nkind = \"nginx\"\n"),
            "load_balancer.kind",
        ),
        (
            &format!("{MINIMAL}\n[load_balancer]\nkind = \"relay\"\nlisten = \"127.0.0.1:1\"\n"),
            "load_balancer.target",
        ),
        (
            &format!("{MINIMAL}\n[load_balancer]\nkind = \"none\"\nservers = \"x\"\n"),
            "load_balancer.servers",
        ),
        (
            &format!("{MINIMAL}\n[load_balancer]\nkind = \"haproxy\"\nbackend = 1\n"),
            "load_balancer.backend",
        ),
    ];
    for (text, key) in cases {
        let err = parse(text).unwrap_err().to_string();
        assert!(err.contains(key), "expected `{key}` in: {err}");
        assert!(!err.contains('\n'), "not one line: {err}");
    }
}

#[test]
fn the_load_balancer_is_parsed_once_into_its_typed_config() {
    let c = parse(&format!(
        "{MINIMAL}\n[load_balancer]\nkind = \"relay\"\nlisten = \"127.0.0.1:9989\"\n\
         target = \"127.0.0.1:19989\"\n"
    ))
    .unwrap();
    assert_eq!(
        c.load_balancer,
        LbConfig::Relay {
            listen: "127.0.0.1:9989".parse().unwrap(),
            target: "127.0.0.1:19989".parse().unwrap(),
        }
    );
}

#[test]
fn token_never_in_errors_or_debug() {
    let c = parse(MINIMAL).unwrap();
    assert!(!format!("{c:?}").contains("0123456789abcdef"));
}

#[test]
fn relative_paths_resolve_against_the_config_dir() {
    let c = parse(&MINIMAL.replace("/tmp/bbctl-test-master", "masters/m1")).unwrap();
    assert_eq!(c.master.basedir, Path::new("/etc/masters/m1"));
}

/// `MINIMAL` plus a `[master.rest_auth]` section whose secret files live in `dir`.
fn with_rest_auth(dir: &Path, section: &str) -> Result<AgentConfig, ConfigError> {
    let text = format!("{MINIMAL}\n[master.rest_auth]\n{section}\n");
    let table: toml::Table = text.parse().unwrap();
    AgentConfig::from_table(&table, dir)
}

#[test]
fn rest_auth_takes_a_user_and_password_file_or_a_header_and_value_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("www-password"), "s3cret-pw\n").unwrap();
    std::fs::write(dir.path().join("www-header"), "bbctl-agent@example\r\n").unwrap();
    assert_eq!(parse(MINIMAL).unwrap().master.rest_auth, None);
    let c = with_rest_auth(
        dir.path(),
        "user = \"bbctl-agent\"\npassword_file = \"www-password\"",
    )
    .unwrap();
    assert_eq!(
        c.master.rest_auth,
        Some(RestAuth::Password {
            user: "bbctl-agent".into(),
            password: Secret::new("s3cret-pw"),
        })
    );
    assert!(!format!("{c:?}").contains("s3cret-pw"), "{c:?}");
    let c = with_rest_auth(
        dir.path(),
        "header = \"X-Remote-User\"\nheader_value_file = \"www-header\"",
    )
    .unwrap();
    assert_eq!(
        c.master.rest_auth,
        Some(RestAuth::Header {
            name: "X-Remote-User".into(),
            value: Secret::new("bbctl-agent@example"),
        })
    );
    assert!(!format!("{c:?}").contains("bbctl-agent@example"), "{c:?}");
}

#[test]
fn rest_auth_errors_name_the_key_and_never_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "s3cret-pw\n").unwrap();
    std::fs::write(dir.path().join("empty"), "\n").unwrap();
    std::fs::write(dir.path().join("two-lines"), "s3cret-pw\nmore\n").unwrap();
    let cases: &[(&str, &str)] = &[
        ("user = \"a\"", "master.rest_auth.password_file"),
        ("password_file = \"pw\"", "master.rest_auth.user"),
        (
            "header = \"X-Remote-User\"",
            "master.rest_auth.header_value_file",
        ),
        ("header_value_file = \"pw\"", "master.rest_auth.header"),
        (
            "user = \"a\"\npassword_file = \"pw\"\nheader = \"X-A\"\nheader_value_file = \"pw\"",
            "`master.rest_auth`",
        ),
        ("", "`master.rest_auth`"),
        (
            "user = \"a\"\npassword_file = \"missing\"",
            "master.rest_auth.password_file",
        ),
        (
            "user = \"a\"\npassword_file = \"empty\"",
            "master.rest_auth.password_file",
        ),
        (
            "user = \"a\"\npassword_file = \"two-lines\"",
            "master.rest_auth.password_file",
        ),
        (
            "user = \"a:b\"\npassword_file = \"pw\"",
            "master.rest_auth.user",
        ),
        (
            "user = \"\"\npassword_file = \"pw\"",
            "master.rest_auth.user",
        ),
        (
            "header = \"Bad Header\"\nheader_value_file = \"pw\"",
            "master.rest_auth.header",
        ),
        (
            "user = \"a\"\npassword = \"inline\"\npassword_file = \"pw\"",
            "master.rest_auth.password",
        ),
    ];
    for (section, key) in cases {
        let err = with_rest_auth(dir.path(), section).unwrap_err().to_string();
        assert!(err.contains(key), "expected `{key}` in: {err}");
        assert!(!err.contains('\n'), "not one line: {err}");
        assert!(!err.contains("s3cret-pw"), "secret in: {err}");
    }
}

#[test]
fn rest_auth_can_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "s3cret-pw").unwrap();
    let mut table: toml::Table = MINIMAL.parse().unwrap();
    source::apply_env(
        &mut table,
        [
            ("BBCTL_AGENT_MASTER__REST_AUTH__USER", "bbctl-agent"),
            ("BBCTL_AGENT_MASTER__REST_AUTH__PASSWORD_FILE", "pw"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    )
    .unwrap();
    let c = AgentConfig::from_table(&table, dir.path()).unwrap();
    assert!(matches!(
        c.master.rest_auth,
        Some(RestAuth::Password { ref user, .. }) if user == "bbctl-agent"
    ));
}

#[test]
fn fleet_defaults_to_a_sqlite_store_named_default() {
    let c = parse(MINIMAL).unwrap().fleet;
    assert_eq!(c.name, "default");
    assert!(c.db_url.is_none() && c.password.is_none());
    assert_eq!(c.advertise_url, format!("http://{DEFAULT_LISTEN}"));
    assert_eq!(c.heartbeat, Duration::from_secs(10));
    assert!(!c.standby);
}

#[test]
fn fleet_password_comes_from_its_file_and_never_shows() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("fleet.pw"), "fl33t-pw\n").unwrap();
    let mut table: toml::Table = MINIMAL.parse().unwrap();
    source::apply_env(
        &mut table,
        [
            ("BBCTL_AGENT_FLEET__NAME", "prod"),
            (
                "BBCTL_AGENT_FLEET__DB_URL",
                "postgres://bbctl@db.example:5432/bbctl_fleet?sslmode=require",
            ),
            ("BBCTL_AGENT_FLEET__PASSWORD_FILE", "fleet.pw"),
            ("BBCTL_AGENT_FLEET__HEARTBEAT_SECS", "2.5"),
            ("BBCTL_AGENT_FLEET__STANDBY", "true"),
            (
                "BBCTL_AGENT_FLEET__ADVERTISE_URL",
                "https://m1.example:7700/",
            ),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    )
    .unwrap();
    let c = AgentConfig::from_table(&table, dir.path()).unwrap();
    assert_eq!(c.fleet.name, "prod");
    assert_eq!(c.fleet.password.as_ref().unwrap().expose(), "fl33t-pw");
    assert_eq!(c.fleet.advertise_url, "https://m1.example:7700");
    assert_eq!(c.fleet.heartbeat, Duration::from_millis(2500));
    assert!(c.fleet.standby);
    assert!(!format!("{c:?}").contains("fl33t-pw"), "redacted in Debug");
}

#[test]
fn fleet_errors_name_the_setting_and_hide_the_password() {
    let cases: &[(&str, &str)] = &[
        (
            "db_url = \"postgres://bbctl:s3cret-pw@db/bbctl_fleet\"",
            "bad setting `fleet.db_url`: must not hold a password",
        ),
        (
            "db_url = \"postgres://bbctl@db/bbctl_fleet?password=s3cret-pw\"",
            "bad setting `fleet.db_url`: must not hold a password",
        ),
        (
            "db_url = \"sqlite:///tmp/x\"",
            "bad setting `fleet.db_url`: must be a postgres:// URL",
        ),
        (
            "db_url = \"postgres://bbctl@db/f\"\npassword_file = \"/nonexistent/pw\"",
            "bad setting `fleet.password_file`: cannot read /nonexistent/pw",
        ),
        (
            "password_file = \"/nonexistent/pw\"",
            "bad setting `fleet.password_file`: needs `fleet.db_url`",
        ),
        ("name = \"Prod Fleet\"", "bad setting `fleet.name`"),
        ("heartbeat_secs = 0", "bad setting `fleet.heartbeat_secs`"),
        (
            "standby = \"yes\"",
            "bad setting `fleet.standby`: must be true or false",
        ),
        (
            "advertise_url = \"ftp://x\"",
            "bad setting `fleet.advertise_url`",
        ),
        ("nme = \"x\"", "bad setting `fleet.nme`: unknown setting"),
    ];
    for (section, want) in cases {
        let err = parse(&format!("{MINIMAL}\n[fleet]\n{section}\n"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(want), "{section}: {err}");
        assert!(!err.contains('\n'), "not one line: {err}");
        assert!(!err.contains("s3cret-pw"), "secret in: {err}");
    }
}

#[test]
fn several_load_balancers_come_from_runtime_sockets_in_the_file_or_the_environment() {
    let haproxy = "[load_balancer]\nkind = \"haproxy\"\nbackend = \"masters\"\nserver = \"m1\"\n";
    let want = LbConfig::Haproxy {
        runtime_sockets: vec![
            crate::lb::HaproxySocket::Tcp("10.77.0.21:9999".into()),
            crate::lb::HaproxySocket::Tcp("10.77.0.22:9999".into()),
        ],
        backend: "masters".into(),
        server: "m1".into(),
    };
    let c = parse(&format!(
        "{MINIMAL}\n{haproxy}runtime_sockets = [\"tcp:10.77.0.21:9999\", \"tcp:10.77.0.22:9999\"]\n"
    ))
    .unwrap();
    assert_eq!(c.load_balancer, want);

    let mut table: toml::Table = format!("{MINIMAL}\n{haproxy}").parse().unwrap();
    source::apply_env(
        &mut table,
        [(
            "BBCTL_AGENT_LOAD_BALANCER__RUNTIME_SOCKETS".to_owned(),
            r#"["tcp:10.77.0.21:9999", "tcp:10.77.0.22:9999"]"#.to_owned(),
        )],
    )
    .unwrap();
    let c = AgentConfig::from_table(&table, Path::new("/etc")).unwrap();
    assert_eq!(c.load_balancer, want);

    for (lines, message) in [
        (
            "runtime_socket = \"/s\"\nruntime_sockets = [\"/t\"]\n",
            "not both",
        ),
        ("runtime_sockets = []\n", "is empty"),
        ("runtime_sockets = [\"/s\", \"/s\"]\n", "listed twice"),
        ("runtime_sockets = \"/s\"\n", "must be a list of strings"),
        (
            "runtime_sockets = [\"/s\", 1]\n",
            "entry 2 must be a string",
        ),
    ] {
        let err = parse(&format!("{MINIMAL}\n{haproxy}{lines}"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("bad setting `load_balancer.runtime_sockets`: "),
            "{lines:?}: {err}"
        );
        assert!(err.contains(message), "{lines:?}: {err}");
        assert!(!err.contains('\n'), "not one line: {err}");
    }
}
