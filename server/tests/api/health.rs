//! `/healthz`, `/readyz`, `/metrics`: open, and truthful about a stopped master.

use axum::http::StatusCode;

use crate::helpers::{TestAgent, master};

#[tokio::test]
async fn healthz_is_open_and_reports_the_event_source() {
    let agent = TestAgent::new();
    let (status, json) = agent.call_with("GET", "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["status"], "ok");
    assert_eq!(json["event_source"], "polling");
    agent.state.hub().set_wamp_connected(true);
    let (_, json) = agent.call_with("GET", "/healthz", None, None).await;
    assert_eq!(json["event_source"], "wamp");
}

#[tokio::test]
async fn readyz_is_503_with_reasons_when_the_master_is_not_running() {
    let agent = TestAgent::new();
    agent
        .fake
        .set(|d| d.masters = vec![master(1, "h:/elsewhere", true)]);
    let (status, json) = agent.call_with("GET", "/readyz", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json["status"], "not_ready");
    assert!(
        json["reasons"][0].as_str().unwrap().contains("not running"),
        "{json}"
    );
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_route_counts() {
    let agent = TestAgent::new();
    agent.call("GET", "/v1/version", None).await;
    agent.call_with("GET", "/v1/version", None, None).await;
    let (status, text) = agent.call_with("GET", "/metrics", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let text = text.as_str().unwrap();
    for needle in [
        "bbctl_agent_master_state{state=\"stopped\"} 1",
        "bbctl_agent_builds_running 0",
        "bbctl_agent_workers_connected 0",
        "bbctl_agent_wamp_connected 0",
        "bbctl_agent_http_requests_total{method=\"GET\",route=\"/v1/version\",status=\"200\"} 1",
        "bbctl_agent_http_requests_total{method=\"GET\",route=\"/v1/version\",status=\"401\"} 1",
        "bbctl_agent_http_request_duration_seconds_count{method=\"GET\",route=\"/v1/version\"} 2",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
}
