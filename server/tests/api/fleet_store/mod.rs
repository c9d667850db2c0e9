//! The fleet store through the agent's API (docs/fleet-store.md): the lease with its fencing
//! epoch, the append-only journals, the registry and the fence, in SQLite mode (the default) and
//! against a real PostgreSQL (`pg_cluster`), including a PostgreSQL restart.

mod fence;
mod journal;
mod lease;
mod pgbouncer;
mod postgres;
mod setup;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::helpers::{AgentOptions, TOKEN, TestAgent};
use crate::pg_cluster::PgCluster;

/// An agent whose fleet store is `url` (PostgreSQL), fleet `prod`.
pub fn pg_agent(url: &str) -> TestAgent {
    TestAgent::with(AgentOptions {
        extra_toml: format!("[fleet]\nname = \"prod\"\ndb_url = {url:?}\nheartbeat_secs = 1\n"),
        ..AgentOptions::default()
    })
}

/// A private cluster with the fleet store's database, and its URL.
pub fn pg_store() -> (PgCluster, String) {
    let pg = PgCluster::start();
    let url = pg.create_database("bbctl_fleet");
    (pg, url)
}

/// One call through the router with extra headers.
pub async fn call_h(
    agent: &TestAgent,
    method: &str,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("x-bbctl-requested-by", "alice@host");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .unwrap();
    let resp = bbctl_agent::routes::router(agent.state.clone())
        .oneshot(req)
        .await
        .unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, json)
}

/// A take (`take_over` for a resume/abort of the same operation).
pub fn take(holder: &str, operation: &str, ttl: f64, take_over: bool) -> Value {
    json!({"holder": holder, "operation": operation, "reason": format!("by {holder}"),
           "ttl_secs": ttl, "kind": "upgrade", "take_over": take_over})
}

pub fn renew(holder: &str, epoch: i64) -> Value {
    json!({"holder": holder, "reason": "r", "ttl_secs": 60.0, "kind": "upgrade", "epoch": epoch})
}

/// Waits (on the store's clock, as the agent reports it) until the lease has expired.
pub async fn wait_expired(agent: &TestAgent) {
    for _ in 0..200 {
        let (_, lease) = agent.call("GET", "/v1/lease", None).await;
        if lease["expires_at"].as_f64().unwrap() <= lease["db_now"].as_f64().unwrap() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the lease never expired");
}
