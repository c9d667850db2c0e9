//! Every `/v1` endpoint refuses a missing or wrong token with 401 and the envelope — and does
//! nothing.

use axum::http::StatusCode;

use crate::helpers::{TOKEN, TestAgent, assert_error, stage_body};

const SHA: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn endpoints() -> Vec<(&'static str, String)> {
    vec![
        ("GET", "/v1/version".into()),
        ("GET", "/v1/master".into()),
        ("GET", "/v1/master/workers".into()),
        ("GET", "/v1/master/builds".into()),
        ("GET", "/v1/master/buildrequests".into()),
        ("GET", "/v1/fleet".into()),
        ("POST", "/v1/master/create".into()),
        ("POST", "/v1/master/start".into()),
        ("POST", "/v1/master/stop".into()),
        ("POST", "/v1/master/reconfig".into()),
        ("GET", "/v1/configs".into()),
        ("POST", "/v1/configs".into()),
        ("GET", format!("/v1/configs/{SHA}")),
        ("POST", format!("/v1/configs/{SHA}/checkconfig")),
        ("POST", format!("/v1/configs/{SHA}/activate")),
        ("GET", "/v1/events".into()),
        ("GET", "/v1/operations".into()),
        ("GET", "/v1/audit".into()),
    ]
}

#[tokio::test]
async fn every_v1_endpoint_needs_the_token_and_does_nothing_without_it() {
    let agent = TestAgent::new();
    let body = stage_body("v1", "c = BuildmasterConfig = {}\n");
    let wrong = format!("{TOKEN}x");
    let short = &TOKEN[..TOKEN.len() - 1];
    for (method, path) in endpoints() {
        for token in [None, Some(wrong.as_str()), Some(short), Some("")] {
            let b = (method == "POST").then(|| body.clone());
            let (status, json) = agent.call_with(method, &path, b, token).await;
            assert_error(status, &json, StatusCode::UNAUTHORIZED, "unauthorized");
            let text = json.to_string();
            assert!(
                !text.contains(TOKEN) && !text.contains(&wrong),
                "token leaked: {text}"
            );
        }
    }
    // Nothing was done: no operation, no staged config, no basedir, no audit entry.
    let (_, ops) = agent.call("GET", "/v1/operations", None).await;
    assert_eq!(ops, serde_json::json!([]));
    let (_, configs) = agent.call("GET", "/v1/configs", None).await;
    assert_eq!(configs, serde_json::json!([]));
    let (_, audit) = agent.call("GET", "/v1/audit", None).await;
    assert_eq!(audit, serde_json::json!([]));
    assert!(!agent.basedir().exists());
}

#[tokio::test]
async fn other_schemes_are_refused_and_the_right_token_passes() {
    let agent = TestAgent::new();
    let (status, _) = agent.raw("GET", "/v1/version", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, json) = agent.call("GET", "/v1/version", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["agent_name"], "test-agent");
    assert_eq!(json["api_version"], bbctl_api::API_VERSION);
}

#[tokio::test]
async fn over_tcp_basic_auth_is_refused() {
    let agent = TestAgent::new();
    let base = agent.serve_tcp().await;
    let client = reqwest::Client::new();
    let resp = client
        .get(format!("{base}/v1/version"))
        .basic_auth("user", Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: bbctl_api::ErrorEnvelope = resp.json().await.unwrap();
    assert_eq!(body.error.code, bbctl_api::ErrorCode::Unauthorized);
    let resp = client
        .get(format!("{base}/v1/version"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}
