//! Append-only journals: each save is an entry checked against the lease in the same statement.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::take;
use crate::helpers::{TestAgent, assert_error};

const H: &str = "up-1/alice@h/1-aaaa";
const T: &str = "up-1/bob@h/2-bbbb";

fn entry(expected: Option<i64>, holder: &str, epoch: i64, step: &str) -> Value {
    json!({"expected_version": expected, "holder": holder, "epoch": epoch, "doc": {"step": step}})
}

pub async fn journal_matrix(agent: &TestAgent) {
    let (status, body) = agent
        .call("PUT", "/v1/upgrades/up-1", Some(entry(None, H, 1, "x")))
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "stale_epoch");

    let (_, lease) = agent
        .call("PUT", "/v1/lease", Some(take(H, "up-1", 60.0, false)))
        .await;
    let e = lease["epoch"].as_i64().unwrap();
    let (status, v1) = agent
        .call("PUT", "/v1/upgrades/up-1", Some(entry(None, H, e, "a")))
        .await;
    assert_eq!(status, StatusCode::OK, "{v1}");
    assert_eq!(
        v1["created_at"], v1["updated_at"],
        "the first entry creates it: {v1}"
    );
    assert_eq!(
        (
            v1["version"].as_i64(),
            v1["holder"].as_str(),
            v1["epoch"].as_i64()
        ),
        (Some(1), Some(H), Some(e))
    );
    // Re-creating or a stale version: today's version mismatch.
    for expected in [None, Some(0), Some(5)] {
        let (status, body) = agent
            .call("PUT", "/v1/upgrades/up-1", Some(entry(expected, H, e, "b")))
            .await;
        assert_error(status, &body, StatusCode::CONFLICT, "conflict");
        assert_eq!(body["error"]["details"]["stored_version"], 1, "{body}");
    }
    let (status, v2) = agent
        .call("PUT", "/v1/upgrades/up-1", Some(entry(Some(1), H, e, "b")))
        .await;
    assert_eq!(
        (status, v2["version"].as_i64()),
        (StatusCode::OK, Some(2)),
        "{v2}"
    );

    // Two appends of the same version at once: exactly one wins.
    let (x, y) = tokio::join!(
        agent.call("PUT", "/v1/upgrades/up-1", Some(entry(Some(2), H, e, "c1"))),
        agent.call("PUT", "/v1/upgrades/up-1", Some(entry(Some(2), H, e, "c2"))),
    );
    let mut statuses = [x.0, y.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{} {}",
        x.1,
        y.1
    );

    // A take-over fences the old holder's appends off; nothing is written.
    let (_, over) = agent
        .call("PUT", "/v1/lease", Some(take(T, "up-1", 60.0, true)))
        .await;
    let e2 = over["epoch"].as_i64().unwrap();
    assert_eq!(e2, e + 1);
    let (status, body) = agent
        .call(
            "PUT",
            "/v1/upgrades/up-1",
            Some(entry(Some(3), H, e, "late")),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "stale_epoch");
    assert_eq!(body["error"]["details"]["holder"], T, "{body}");
    let (status, v4) = agent
        .call("PUT", "/v1/upgrades/up-1", Some(entry(Some(3), T, e2, "d")))
        .await;
    assert_eq!(
        (status, v4["version"].as_i64()),
        (StatusCode::OK, Some(4)),
        "{v4}"
    );

    let (status, got) = agent.call("GET", "/v1/upgrades/up-1", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (got["doc"]["step"].as_str(), got["holder"].as_str()),
        (Some("d"), Some(T))
    );
    assert!(
        got["created_at"].as_f64() <= got["updated_at"].as_f64(),
        "{got}"
    );
    let (status, entries) = agent.call("GET", "/v1/upgrades/up-1/entries", None).await;
    assert_eq!(status, StatusCode::OK);
    let who: Vec<(i64, i64, &str)> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["seq"].as_i64().unwrap(),
                x["epoch"].as_i64().unwrap(),
                x["holder"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(who, [(1, e, H), (2, e, H), (3, e, H), (4, e2, T)]);

    let (_, v1b) = agent
        .call("PUT", "/v1/upgrades/up-2", Some(entry(None, T, e2, "a")))
        .await;
    assert_eq!(v1b["version"], 1, "{v1b}");
    let (_, list) = agent.call("GET", "/v1/upgrades", None).await;
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["up-2", "up-1"], "newest first");
    for path in ["/v1/upgrades/nope", "/v1/upgrades/nope/entries"] {
        let (status, body) = agent.call("GET", path, None).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    }
    let (status, body) = agent
        .call("PUT", "/v1/upgrades/a%20b", Some(entry(None, T, e2, "a")))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
}

#[tokio::test]
async fn journals_are_append_only_and_fenced_in_sqlite_mode() {
    journal_matrix(&TestAgent::new()).await;
}
