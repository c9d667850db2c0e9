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
