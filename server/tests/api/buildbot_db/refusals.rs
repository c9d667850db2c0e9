//! Every operation refuses while the database is in use (a foreign session, an active
//! `masters` row not vouched for), and without a PostgreSQL `db_url`; a refusal records nothing.

use std::time::Duration;

use axum::http::StatusCode;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use serde_json::json;

use super::{fixture, head, sessions_named};
use crate::helpers::{AgentOptions, TestAgent, assert_error};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_is_refused_while_the_database_is_in_use() {
    let fx = fixture().await;
    // A session that is not bbctl's own (no application_name).
    let foreign = fx.conn("");
    let (status, body) = fx.post("upgrade", fx.upgrade_body("u-1")).await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict");
    let sessions = &body["error"]["details"]["refusal"]["sessions"];
    assert_eq!(sessions.as_array().unwrap().len(), 1, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("other sessions"),
        "{body}"
    );
    let (status, body) = fx.post("backup", json!({"upgrade_id": "u-1"})).await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict");
    drop(foreign);

    // An active masters row, fresh: in the way unless vouched for as stopped.
    let mut c = fx.conn("bbctl-test");
    diesel::sql_query(
        "INSERT INTO masters (name, name_hash, active, last_active) \
         VALUES ('host:/srv/m1', md5('host:/srv/m1'), 1, extract(epoch from now())::int)",
    )
    .execute(&mut c)
    .unwrap();
    let wait_gone = |c: &mut PgConnection| {
        while sessions_named(c, "") > 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_gone(&mut c);
    let (status, body) = fx.post("upgrade", fx.upgrade_body("u-1")).await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict");
    let rows = &body["error"]["details"]["refusal"]["active_masters"];
    assert_eq!(rows[0]["name"], "host:/srv/m1", "{body}");
    // Vouched for: the guard passes, and the head check answers.
    let mut vouched = fx.upgrade_body("u-1");
    vouched["vouched_stopped"] = json!(["host:/srv/m1"]);
    vouched["from_head"] = json!("065");
    let (status, body) = fx.post("upgrade", vouched).await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict");
    assert_eq!(body["error"]["details"]["db_head"], "066", "{body}");
    assert_eq!(head(&mut c), "066", "nothing was touched");

    let (status, body) = fx
        .post("backup", json!({"upgrade_id": "u-1", "use_backup_command": true, "vouched_stopped": ["host:/srv/m1"]}))
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "operation_failed",
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("backup_command"),
        "{body}"
    );
    let (status, body) = fx.post("backup", json!({"upgrade_id": "../x"})).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (_, ops) = fx.agent.call("GET", "/v1/buildbot-db/ops/u-1", None).await;
    assert_eq!(ops, json!([]), "a refusal records nothing");

    // No db_url, or not PostgreSQL.
    let bare = TestAgent::new();
    let (status, body) = bare.call("GET", "/v1/buildbot-db", None).await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "operation_failed",
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("[master] db_url"),
        "{body}"
    );
    let lite = TestAgent::with(AgentOptions {
        db_url: Some("sqlite:///state.sqlite".into()),
        ..AgentOptions::default()
    });
    let (status, info) = lite.call("GET", "/v1/buildbot-db", None).await;
    assert_eq!(
        (status, &info["backend"]),
        (StatusCode::OK, &json!("sqlite"))
    );
    let (status, body) = lite
        .call(
            "POST",
            "/v1/buildbot-db/backup",
            Some(json!({"upgrade_id": "u-1"})),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "operation_failed",
    );
    assert_eq!(
        body["error"]["message"],
        "migrate supports PostgreSQL Buildbot DBs only (this one: sqlite)"
    );
}
