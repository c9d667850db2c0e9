//! `/v1/drain` without a load balancer or a running master: refused with the error envelope,
//! never half-started. (The drain itself is tested in `drain::engine` with fakes and end to end
//! in `tests/tests/drain.rs`.)

use axum::http::StatusCode;
use serde_json::json;

use crate::helpers::{TestAgent, assert_error};

#[tokio::test]
async fn no_drain_yet_is_404_for_status_and_cancel() {
    let agent = TestAgent::new();
    let (status, body) = agent.call("GET", "/v1/drain", None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = agent.call("DELETE", "/v1/drain", None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn a_drain_needs_a_load_balancer_hook_and_a_valid_deadline() {
    let agent = TestAgent::new();
    let (status, body) = agent
        .call("POST", "/v1/drain", Some(json!({"reason": "test"})))
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("load-balancer hook"),
        "{body}"
    );
    let (status, body) = agent
        .call("POST", "/v1/drain", Some(json!({"deadline_secs": -1})))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (status, body) = agent
        .call("POST", "/v1/drain", Some(json!({"nope": 1})))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    // Nothing was recorded.
    let (status, _) = agent.call("GET", "/v1/drain", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, metrics) = agent.call_with("GET", "/metrics", None, None).await;
    assert!(
        metrics.as_str().unwrap().contains("bbctl_agent_draining 0"),
        "{metrics}"
    );
}
