use bbctl_api::{FleetAgents, RegisteredAgent};

use super::{Fallback, merge};
use crate::inventory::{Target, TargetSource};
use crate::secret::Secret;

fn target(name: &str, url: &str, standby: bool) -> Target {
    Target {
        name: name.into(),
        url: reqwest::Url::parse(url).unwrap(),
        token: Secret::new("inventory-token"),
        standby,
        ca_file: None,
        source: TargetSource::Inventory,
        registration: None,
    }
}

fn row(name: &str, url: &str, heartbeat_at: f64, stopped: bool) -> RegisteredAgent {
    RegisteredAgent {
        name: name.into(),
        url: url.into(),
        standby: false,
        agent_version: "0.1.0".into(),
        api_version: "2".into(),
        buildbot_name: Some(format!("host:/srv/{name}")),
        host: "host".into(),
        started_at: 900.0,
        heartbeat_at,
        stopped_at: stopped.then_some(990.0),
    }
}

fn registry(agents: Vec<RegisteredAgent>) -> FleetAgents {
    FleetAgents {
        fleet: "prod".into(),
        db_now: 1000.0,
        silent_after_secs: 30.0,
        agents,
    }
}

fn fallback() -> Fallback {
    Fallback {
        token: Some(Secret::new("default-token")),
        ca_file: Some("/etc/ca.pem".into()),
    }
}

fn summary(targets: &[Target]) -> Vec<(String, &'static str, String)> {
    targets
        .iter()
        .map(|t| (t.name.clone(), t.source.as_str(), t.url.to_string()))
        .collect()
}

#[test]
fn joins_by_name_the_inventory_first_then_registry_only_agents_by_name() {
    let inventory = vec![
        target("m2", "http://10.0.0.2:7700/", false),
        target("m1", "http://10.0.0.1:7700", false),
    ];
    let reg = registry(vec![
        row("m4", "http://10.0.0.4:7700", 995.0, false),
        row("m1", "http://10.0.0.1:7700/", 995.0, false),
        row("m3", "http://10.0.0.3:7700", 995.0, false),
    ]);
    let (targets, warnings) = merge(inventory, &reg, &fallback());
    assert_eq!(
        summary(&targets),
        vec![
            ("m2".into(), "inventory", "http://10.0.0.2:7700/".into()),
            ("m1".into(), "both", "http://10.0.0.1:7700/".into()),
            ("m3".into(), "registry", "http://10.0.0.3:7700/".into()),
            ("m4".into(), "registry", "http://10.0.0.4:7700/".into()),
        ]
    );
    assert!(warnings.is_empty(), "{warnings:?}");
    let m3 = &targets[2];
    assert_eq!(m3.token.expose(), "default-token");
    assert_eq!(
        m3.ca_file.as_deref(),
        Some(std::path::Path::new("/etc/ca.pem"))
    );
    assert_eq!(
        m3.registration.as_ref().unwrap().buildbot_name.as_deref(),
        Some("host:/srv/m3")
    );
    assert!(targets[0].registration.is_none());
}

#[test]
fn the_inventory_wins_for_url_and_token_and_a_different_url_is_a_warning() {
    let inventory = vec![target("m1", "http://10.0.0.1:7700", true)];
    let reg = registry(vec![row("m1", "http://192.168.0.1:7700", 995.0, false)]);
    let (targets, warnings) = merge(inventory, &reg, &fallback());
    assert_eq!(targets[0].url.as_str(), "http://10.0.0.1:7700/");
    assert_eq!(targets[0].token.expose(), "inventory-token");
    assert_eq!(targets[0].source, TargetSource::Both);
    assert!(targets[0].standby, "the inventory's standby flag stays");
    assert_eq!(
        warnings,
        vec![
            "warning: master `m1`: the inventory says http://10.0.0.1:7700, the fleet registry \
             says http://192.168.0.1:7700 (the inventory's URL is used)"
                .to_string()
        ]
    );
}

#[test]
fn stopped_agents_are_no_targets_and_silent_ones_are() {
    let inventory = vec![target("m1", "http://10.0.0.1:7700", false)];
    let reg = registry(vec![
        row("m1", "http://10.0.0.1:7700", 980.0, true),
        row("m2", "http://10.0.0.2:7700", 900.0, true),
        row("m3", "http://10.0.0.3:7700", 955.0, false),
    ]);
    let (targets, warnings) = merge(inventory, &reg, &fallback());
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(
        summary(&targets)
            .into_iter()
            .map(|(n, s, _)| (n, s))
            .collect::<Vec<_>>(),
        vec![("m1".into(), "inventory"), ("m3".into(), "registry")]
    );
    let m1 = targets[0].registration.as_ref().unwrap();
    assert!(m1.stopped);
    let m3 = targets[1].registration.as_ref().unwrap();
    assert!(m3.silent && !m3.stopped);
    assert_eq!(m3.heartbeat_age_secs, 45.0);
}

#[test]
fn registry_only_agents_without_a_token_or_with_a_bad_url_are_skipped_with_a_warning() {
    let reg = registry(vec![
        row("m1", "http://10.0.0.1:7700", 995.0, false),
        row("m2", "ftp://10.0.0.2", 995.0, false),
    ]);
    let (targets, warnings) = merge(Vec::new(), &reg, &Fallback::default());
    assert!(targets.is_empty());
    assert_eq!(warnings.len(), 2);
    assert!(
        warnings[0].contains("`m1` (fleet registry): no token"),
        "{warnings:?}"
    );
    let (targets, warnings) = merge(Vec::new(), &reg, &fallback());
    assert_eq!(summary(&targets).len(), 1);
    assert!(
        warnings[0].contains("unusable URL `ftp://10.0.0.2`"),
        "{warnings:?}"
    );
}
