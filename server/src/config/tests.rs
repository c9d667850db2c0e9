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
