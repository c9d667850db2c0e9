//! The take/renew/release/take-over matrix; the epoch never goes down.

use axum::http::StatusCode;
use serde_json::json;

use super::{renew, take, wait_expired};
use crate::helpers::{TestAgent, assert_error};

const A: &str = "up-1/alice@h/1-aaaa";
const B: &str = "up-2/bob@h/2-bbbb";
const C: &str = "up-1/carol@h/3-cccc";

/// The whole matrix on `agent`'s store, which must be fresh.
pub async fn lease_matrix(agent: &TestAgent) {
    let (status, body) = agent.call("GET", "/v1/lease", None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");

    // Free → epoch 1, with the store's clock.
    let (status, a) = agent
        .call("PUT", "/v1/lease", Some(take(A, "up-1", 60.0, false)))
        .await;
    assert_eq!(status, StatusCode::OK, "{a}");
    assert_eq!(
        (a["epoch"].as_i64(), a["operation"].as_str()),
        (Some(1), Some("up-1"))
    );
    let remaining = a["expires_at"].as_f64().unwrap() - a["db_now"].as_f64().unwrap();
    assert!((59.0..=60.5).contains(&remaining), "{a}");

    // Held: another operation is refused, with or without take_over.
    for over in [false, true] {
        let (status, body) = agent
            .call("PUT", "/v1/lease", Some(take(B, "up-2", 60.0, over)))
            .await;
        assert_error(status, &body, StatusCode::CONFLICT, "conflict");
        assert_eq!(body["error"]["details"]["holder"], A, "{body}");
    }
    // The same operation without take_over is refused too.
    let (status, body) = agent
        .call("PUT", "/v1/lease", Some(take(C, "up-1", 60.0, false)))
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict");

    // Take-over of the same operation: epoch 2; the old holder is fenced off.
    let (status, c) = agent
        .call("PUT", "/v1/lease", Some(take(C, "up-1", 60.0, true)))
        .await;
    assert_eq!(
        (status, c["epoch"].as_i64()),
        (StatusCode::OK, Some(2)),
        "{c}"
    );
    let (status, body) = agent.call("PUT", "/v1/lease", Some(renew(A, 1))).await;
    assert_error(status, &body, StatusCode::CONFLICT, "stale_epoch");
    let details = &body["error"]["details"];
    assert_eq!(
        (details["presented"].as_i64(), details["current"].as_i64()),
        (Some(1), Some(2))
    );
    assert_eq!(details["holder"], C, "{body}");
    // The old holder cannot release the new holder's lease either.
    let (status, body) = agent
        .call(
            "DELETE",
            &format!("/v1/lease?holder={}&epoch=1", enc(A)),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict");

    // Renew keeps the epoch.
    let (status, renewed) = agent.call("PUT", "/v1/lease", Some(renew(C, 2))).await;
    assert_eq!(
        (status, renewed["epoch"].as_i64()),
        (StatusCode::OK, Some(2)),
        "{renewed}"
    );

    // Release keeps the row and its epoch; the next take gets epoch 3.
    let (status, body) = agent
        .call(
            "DELETE",
            &format!("/v1/lease?holder={}&epoch=2", enc(C)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, released) = agent.call("GET", "/v1/lease", None).await;
    assert_eq!(
        (status, released["epoch"].as_i64()),
        (StatusCode::OK, Some(2))
    );
    assert!(
        released["expires_at"].as_f64() <= released["db_now"].as_f64(),
        "{released}"
    );
    let (status, body) = agent
        .call(
            "DELETE",
            &format!("/v1/lease?holder={}&epoch=2", enc(C)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "a second release is fine: {body}");
    let (status, b) = agent
        .call("PUT", "/v1/lease", Some(take(B, "up-2", 1.0, false)))
        .await;
    assert_eq!(
        (status, b["epoch"].as_i64()),
        (StatusCode::OK, Some(3)),
        "{b}"
    );

    // Expiry: after it the same holder may still renew (nobody took it) …
    wait_expired(agent).await;
    let (status, body) = agent.call("PUT", "/v1/lease", Some(renew(B, 3))).await;
    assert_eq!(
        (status, body["epoch"].as_i64()),
        (StatusCode::OK, Some(3)),
        "{body}"
    );
    let (status, body) = agent
        .call(
            "PUT",
            "/v1/lease",
            Some(json!({"holder": B, "reason": "r", "ttl_secs": 1.0,
            "kind": "upgrade", "epoch": 3})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // … and once expired anyone takes it, one epoch up.
    wait_expired(agent).await;
    let (status, a) = agent
        .call("PUT", "/v1/lease", Some(take(A, "up-3", 60.0, false)))
        .await;
    assert_eq!(
        (status, a["epoch"].as_i64()),
        (StatusCode::OK, Some(4)),
        "{a}"
    );
    let (status, body) = agent.call("PUT", "/v1/lease", Some(renew(B, 3))).await;
    assert_error(status, &body, StatusCode::CONFLICT, "stale_epoch");

    // Bad input changes nothing.
    for bad in [
        take("a b", "up-1", 60.0, false),
        take(A, "up-1", 0.0, false),
    ] {
        let (status, body) = agent.call("PUT", "/v1/lease", Some(bad)).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    }
    let (_, lease) = agent.call("GET", "/v1/lease", None).await;
    assert_eq!(
        (lease["holder"].as_str(), lease["epoch"].as_i64()),
        (Some(A), Some(4))
    );
}

/// Percent-encodes a holder for a query string.
pub fn enc(s: &str) -> String {
    s.replace('/', "%2F").replace('@', "%40")
}

#[tokio::test]
async fn the_lease_matrix_in_sqlite_mode() {
    let agent = TestAgent::new();
    lease_matrix(&agent).await;
    let (status, info) = agent.call("GET", "/v1/fleet/store", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            &info["backend"],
            &info["store_key"],
            &info["reachable"],
            &info["fleet"]
        ),
        (
            &json!("sqlite"),
            &json!("sqlite:test-agent"),
            &json!(true),
            &json!("default")
        )
    );
}

#[tokio::test]
async fn the_epoch_survives_an_agent_restart_in_sqlite_mode() {
    let agent = TestAgent::new();
    let (_, a) = agent
        .call("PUT", "/v1/lease", Some(take(A, "up-1", 60.0, false)))
        .await;
    assert_eq!(a["epoch"], 1);
    // A new agent state over the same state dir: the same store file.
    let again = crate::helpers::TestAgent {
        state: bbctl_agent::AppState::with_rest(
            agent.state.config().clone(),
            bbctl_agent::db::Db::open(&agent.state.config().state_db_url).unwrap(),
            std::sync::Arc::new(agent.fake.clone()),
        ),
        dir: tempfile::tempdir().unwrap(),
        fake: agent.fake.clone(),
    };
    let (status, c) = again
        .call("PUT", "/v1/lease", Some(take(C, "up-1", 60.0, true)))
        .await;
    assert_eq!(
        (status, c["epoch"].as_i64()),
        (StatusCode::OK, Some(2)),
        "{c}"
    );
}

#[tokio::test]
async fn hidden_masters_are_remembered_once_per_row() {
    let agent = TestAgent::new();
    let store = agent.state.fleet_store();
    assert_eq!(store.hidden_masters().await.unwrap(), []);
    let rows = [(7, "old:/srv/m1".to_owned()), (3, "old:/srv/m2".to_owned())];
    store.hide_masters(&rows, Some("alice@host")).await.unwrap();
    store.hide_masters(&rows[..1], None).await.unwrap();
    assert_eq!(
        store.hidden_masters().await.unwrap(),
        [(3, "old:/srv/m2".to_owned()), (7, "old:/srv/m1".to_owned())]
    );
}

#[tokio::test]
async fn a_store_migrated_by_a_newer_agent_is_refused() {
    let agent = TestAgent::new();
    let (status, _) = agent.call("GET", "/v1/fleet/agents", None).await;
    assert_eq!(status, StatusCode::OK);
    let file = agent.state.config().state_dir.join("fleet.sqlite");
    let mut c =
        <diesel::sqlite::SqliteConnection as diesel::Connection>::establish(file.to_str().unwrap())
            .unwrap();
    diesel::RunQueryDsl::execute(
        diesel::sql_query(
            "INSERT INTO __diesel_schema_migrations (version) VALUES ('29991231000001')",
        ),
        &mut c,
    )
    .unwrap();
    let again = TestAgent {
        state: bbctl_agent::AppState::with_rest(
            agent.state.config().clone(),
            bbctl_agent::db::Db::open(&agent.state.config().state_db_url).unwrap(),
            std::sync::Arc::new(agent.fake.clone()),
        ),
        dir: tempfile::tempdir().unwrap(),
        fake: agent.fake.clone(),
    };
    let (status, body) = again
        .call("PUT", "/v1/lease", Some(take(A, "up-1", 60.0, false)))
        .await;
    assert_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("29991231000001"),
        "{body}"
    );
}

#[tokio::test]
async fn two_live_agents_under_one_name_are_noticed() {
    let agent = TestAgent::new();
    let store = agent.state.fleet_store();
    let me = bbctl_agent::startup::registration(agent.state.config());
    assert_eq!(store.heartbeat(&me, None, true).await.unwrap(), None);
    assert_eq!(
        store.heartbeat(&me, None, false).await.unwrap(),
        None,
        "itself"
    );
    let other = bbctl_agent::fleet_store::Registration {
        url: "http://10.0.0.9:7700".into(),
        ..me.clone()
    };
    let clash = store.heartbeat(&other, None, true).await.unwrap();
    assert_eq!(clash.as_deref(), Some(me.url.as_str()));
    store.stopped(&other.name).await.unwrap();
    assert_eq!(
        store.heartbeat(&me, None, true).await.unwrap(),
        None,
        "stopped is no clash"
    );
    let (_, agents) = agent.call("GET", "/v1/fleet/agents", None).await;
    assert_eq!(agents["agents"][0]["url"], me.url.as_str());
    assert_eq!(agents["agents"][0]["stopped_at"], serde_json::Value::Null);
}

#[tokio::test]
async fn an_expired_masters_silent_agent_is_retired_from_the_registry_a_live_one_is_not() {
    let agent = TestAgent::new();
    let store = agent.state.fleet_store();
    let me = bbctl_agent::startup::registration(agent.state.config());
    let bb = "host:/srv/m1".to_owned();
    store.heartbeat(&me, Some(bb.clone()), true).await.unwrap();
    assert_eq!(
        store.retire_silent(&bb).await.unwrap(),
        None,
        "a fresh heartbeat is a live agent"
    );
    // Its host is lost: the heartbeat stops (moved back past three intervals).
    let file = agent.state.config().state_dir.join("fleet.sqlite");
    let mut c =
        <diesel::sqlite::SqliteConnection as diesel::Connection>::establish(file.to_str().unwrap())
            .unwrap();
    diesel::RunQueryDsl::execute(
        diesel::sql_query("UPDATE agents SET heartbeat_at = heartbeat_at - 3600"),
        &mut c,
    )
    .unwrap();
    assert_eq!(store.retire_silent("other:/srv/m9").await.unwrap(), None);
    assert_eq!(
        store.retire_silent(&bb).await.unwrap().as_deref(),
        Some(me.name.as_str())
    );
    let (_, agents) = agent.call("GET", "/v1/fleet/agents", None).await;
    assert!(agents["agents"][0]["stopped_at"].is_f64(), "{agents}");
    assert_eq!(store.retire_silent(&bb).await.unwrap(), None, "once");
    // It comes back: registering again clears the mark.
    store.heartbeat(&me, Some(bb), false).await.unwrap();
    let (_, agents) = agent.call("GET", "/v1/fleet/agents", None).await;
    assert_eq!(agents["agents"][0]["stopped_at"], serde_json::Value::Null);
}
