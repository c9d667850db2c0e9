//! Every documented `/v1` operation (read from `openapi.yaml`, so new routes such as
//! `/v1/drain`, `/v1/lease` and `/v1/upgrades*` are covered without editing this file) answers
//! 401 with the envelope to a missing or wrong token — even with a well-formed body — and does
//! nothing. Undocumented methods on those paths are refused too (401 or 405, never 2xx).

use axum::http::StatusCode;

use crate::helpers::{TOKEN, TestAgent, assert_error};
use crate::spec::{operations, valid_body};

const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH"];

#[tokio::test]
async fn every_documented_v1_operation_needs_the_token_and_does_nothing_without_it() {
    let agent = TestAgent::new();
    let wrong = format!("{TOKEN}x");
    let short = &TOKEN[..TOKEN.len() - 1];
    let upper = TOKEN.to_ascii_uppercase();
    let ops = operations();
    let v1: Vec<_> = ops.iter().filter(|o| o.is_v1()).collect();
    for path in [
        "/v1/drain",
        "/v1/lease",
        "/v1/upgrades",
        "/v1/upgrades/{id}",
        "/v1/buildbot-db/upgrade",
        "/v1/buildbot-db/restore",
    ] {
        assert!(
            v1.iter().any(|o| o.template == path),
            "{path} missing from openapi.yaml"
        );
    }
    for op in &v1 {
        let path = op.path();
        for token in [
            None,
            Some(wrong.as_str()),
            Some(short),
            Some(""),
            Some(&upper),
        ] {
            let (status, json) = agent
                .call_with(&op.method, &path, valid_body(op), token)
                .await;
            assert_error(status, &json, StatusCode::UNAUTHORIZED, "unauthorized");
            let text = json.to_string();
            assert!(!text.contains(TOKEN), "token leaked: {text}");
        }
    }
    // Methods the spec does not list on a /v1 path: never served without the token.
    let mut templates: Vec<&str> = v1.iter().map(|o| o.template.as_str()).collect();
    templates.dedup();
    for template in templates {
        let op = v1.iter().find(|o| o.template == template).unwrap();
        for method in METHODS {
            let (status, _) = agent.call_with(method, &op.path(), None, None).await;
            assert!(
                status == StatusCode::UNAUTHORIZED || status == StatusCode::METHOD_NOT_ALLOWED,
                "{method} {template} without a token answered {status}"
            );
        }
    }
    assert_nothing_happened(&agent).await;
}

/// With the right token: no operation, staged config, audit entry, lease, journal or drain
/// exists, and the master's basedir was never created.
async fn assert_nothing_happened(agent: &TestAgent) {
    for path in [
        "/v1/operations",
        "/v1/configs",
        "/v1/audit",
        "/v1/upgrades",
        "/v1/buildbot-db/ops/u-1",
    ] {
        let (status, json) = agent.call("GET", path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {json}");
        assert_eq!(json, serde_json::json!([]), "{path}");
    }
    let (status, json) = agent.call("GET", "/v1/lease", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a lease exists: {json}");
    let (status, json) = agent.call("GET", "/v1/upgrades/u-1", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{json}");
    let (status, json) = agent.call("GET", "/v1/drain", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a drain exists: {json}");
    assert!(!agent.basedir().exists());
}
