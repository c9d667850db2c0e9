//! Security defaults that must not drift: the agent listens on loopback unless told otherwise,
//! and it is a read-only WAMP client (the router has no authentication in Buildbot, so anything
//! published there would reach every master: the agent only subscribes).

use std::path::Path;

use bbctl_agent::config::{AgentConfig, DEFAULT_LISTEN};

#[test]
fn the_default_listen_address_is_loopback() {
    let text = r#"
name = "m1"
state_dir = "/tmp/bbctl-posture-state"
token = "0123456789abcdef"
[master]
basedir = "/tmp/m"
buildbot = "/bin/false"
rest_url = "http://127.0.0.1:9/"
"#;
    let table: toml::Table = text.parse().unwrap();
    let cfg = AgentConfig::from_table(&table, Path::new("/etc")).unwrap();
    assert!(cfg.listen.ip().is_loopback(), "{}", cfg.listen);
    assert_eq!(cfg.listen.to_string(), "127.0.0.1:7700");
    assert_eq!(DEFAULT_LISTEN, "127.0.0.1:7700");
    assert!(cfg.tls.is_none(), "TLS is opt-in");
}

/// Every use of the WAMP client in the agent's sources: only `subscribe` and session state,
/// never `publish`, `call` or `register`.
#[test]
fn the_agent_only_subscribes_to_the_wamp_router() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut users = Vec::new();
    let mut stack = vec![src];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                if text.contains("bbctl_wamp") {
                    users.push((path, text));
                }
            }
        }
    }
    assert!(
        !users.is_empty(),
        "no WAMP client use found: is the search broken?"
    );
    for (path, text) in users {
        assert!(text.contains(".subscribe("), "{}", path.display());
        for forbidden in [".call(", ".register("] {
            assert!(
                !text.contains(forbidden),
                "{} uses the WAMP client's {forbidden}",
                path.display()
            );
        }
        // `publish` here may only be the agent's own event hub (what SSE clients see).
        for line in text.lines().filter(|l| l.contains(".publish(")) {
            assert!(
                line.contains("hub.publish(") || line.contains("hub().publish("),
                "{}: publishes to WAMP? {line}",
                path.display()
            );
        }
    }
}
