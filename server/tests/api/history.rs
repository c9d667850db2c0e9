//! Operations and the audit log: recorded, newest first, and preconditions answer 409 without
//! recording anything.

use axum::http::StatusCode;

use crate::helpers::{TestAgent, assert_error, stage_body};

#[tokio::test]
async fn operations_and_audit_are_recorded_newest_first() {
    let agent = TestAgent::new();
    let (status, op) = agent
        .call(
            "POST",
            "/v1/master/stop",
            Some(serde_json::json!({"reason": "r1"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{op}");
    assert_eq!(op["message"], "the master was not running");
    agent
        .call(
            "POST",
            "/v1/master/stop",
            Some(serde_json::json!({"mode": "immediate"})),
        )
        .await;
    agent
        .call("POST", "/v1/configs", Some(stage_body("v1", "x")))
        .await;
    let (_, ops) = agent.call("GET", "/v1/operations", None).await;
    let ops = ops.as_array().unwrap();
    assert_eq!(ops.len(), 2);
    assert!(ops[0]["id"].as_i64() > ops[1]["id"].as_i64());
    assert!(
        ops.iter()
            .all(|o| o["kind"] == "stop" && o["ok"] == true && o["finished_at"].is_number())
    );
    let (_, audit) = agent.call("GET", "/v1/audit?limit=2", None).await;
    let audit = audit.as_array().unwrap();
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[0]["action"], "config.stage");
    assert_eq!(audit[1]["action"], "stop");
}

#[tokio::test]
async fn preconditions_are_409_and_record_nothing() {
    let agent = TestAgent::new();
    // No basedir: start and reconfig refuse.
    let (status, json) = agent.call("POST", "/v1/master/start", None).await;
    assert_error(status, &json, StatusCode::CONFLICT, "conflict");
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("create"),
        "{json}"
    );
    let (status, json) = agent.call("POST", "/v1/master/reconfig", None).await;
    assert_error(status, &json, StatusCode::CONFLICT, "conflict");
    // An existing master basedir: create refuses.
    std::fs::create_dir_all(agent.basedir()).unwrap();
    std::fs::write(agent.basedir().join("buildbot.tac"), "").unwrap();
    let (status, json) = agent.call("POST", "/v1/master/create", None).await;
    assert_error(status, &json, StatusCode::CONFLICT, "conflict");
    let (_, ops) = agent.call("GET", "/v1/operations", None).await;
    assert_eq!(ops, serde_json::json!([]));
}

#[tokio::test]
async fn a_missing_buildbot_executable_fails_create_with_422() {
    let agent = TestAgent::new();
    let (status, json) = agent.call("POST", "/v1/master/create", None).await;
    assert_error(
        status,
        &json,
        StatusCode::UNPROCESSABLE_ENTITY,
        "operation_failed",
    );
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot run"),
        "{json}"
    );
    let (_, ops) = agent.call("GET", "/v1/operations", None).await;
    assert_eq!(ops[0]["ok"], false);
}

#[tokio::test]
async fn bad_query_strings_are_400_envelopes() {
    let agent = TestAgent::new();
    for path in [
        "/v1/operations?limit=many",
        "/v1/audit?bogus=1",
        "/v1/events?since=-1",
    ] {
        let (status, json) = agent.call("GET", path, None).await;
        assert_error(status, &json, StatusCode::BAD_REQUEST, "bad_request");
    }
}
