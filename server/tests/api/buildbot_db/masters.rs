//! `GET /v1/buildbot-db/masters`, `POST …/masters/expire`, `POST …/masters/prune` on a real
//! Buildbot 4.3 database (upgraded to 067 through the agent first: the expiry runs Buildbot
//! 4.3's own code, which refuses a schema not its own). A dead master's claim is released by
//! Buildbot's housekeeping run with its id; a fresh master, an unknown id, an unattributable
//! session and a session named after the master are refused; prune hides only inactive, unreferenced rows, in the fleet store.

use axum::http::StatusCode;
use bbctl_api::{ExpireMasterResult, MastersTable, PruneMastersResult};
use serde_json::json;

use super::{PASSWORD, buildbot_421, fixture, one};
use crate::helpers::{AgentOptions, TestAgent, assert_error};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expire_releases_a_dead_masters_claim_and_prune_hides_only_unreferenced_rows() {
    let fx = fixture().await;
    let (status, up) = fx.post("upgrade", fx.upgrade_body("u-1")).await;
    assert_eq!(
        (status, up["state"].as_str()),
        (StatusCode::OK, Some("done")),
        "{up}"
    );
    {
        let mut c = fx.conn("bbctl-test");
        for sql in [
            "INSERT INTO builders (id, name, name_hash) VALUES (1, 'b', 'h1')",
            "INSERT INTO buildsets (id, submitted_at) VALUES (1, 1)",
            // Buildbot reads a request only with its buildset's source stamp (inner joins).
            "INSERT INTO sourcestamps (id, ss_hash, created_at) VALUES (1, 'ss1', 1)",
            "INSERT INTO buildset_sourcestamps (id, buildsetid, sourcestampid) VALUES (1, 1, 1)",
            "INSERT INTO masters (id, name, name_hash, active, last_active) VALUES \
             (1, 'gone:/m1', 'h1', 1, extract(epoch from now())::int - 1000), \
             (2, 'fresh:/m2', 'h2', 1, extract(epoch from now())::int), \
             (3, 'stale:/m3', 'h3', 0, 1)",
            "INSERT INTO buildrequests (id, buildsetid, builderid, submitted_at, complete) \
             VALUES (12, 1, 1, 1, 0), (13, 1, 1, 1, 1)",
            "INSERT INTO buildrequest_claims (brid, masterid, claimed_at) VALUES (12, 1, 2)",
            "INSERT INTO builder_masters (builderid, masterid) VALUES (1, 1)",
        ] {
            diesel::RunQueryDsl::execute(diesel::sql_query(sql), &mut c).unwrap();
        }
    }
    let (status, body) = fx.agent.call("GET", "/v1/buildbot-db/masters", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let table: MastersTable = serde_json::from_value(body).unwrap();
    let ids: Vec<i64> = table.masters.iter().map(|m| m.id).collect();
    assert_eq!(ids, [1, 2, 3]);
    assert_eq!(table.masters[0].refs.claimed_requests, 1);
    assert_eq!(table.masters[0].refs.builders, 1);
    assert!(!table.masters[2].refs.any());
    assert!(table.masters.iter().all(|m| !m.hidden));

    let (status, body) = fx.post("masters/expire", json!({"masterid": 99})).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = fx.post("masters/expire", json!({"masterid": 2})).await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict");
    assert!(body.to_string().contains("less than 150 s"), "{body}");
    let foreign = fx.conn("psql");
    let (status, body) = fx.post("masters/expire", json!({"masterid": 1})).await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict");
    assert!(body.to_string().contains("--host-gone"), "{body}");
    drop(foreign);
    // A session named after the master (a frozen process keeps its sessions): refused even
    // when the operator vouches that the host is gone.
    let frozen = fx.conn("buildbot:gone:/m1");
    let (status, body) = fx
        .post("masters/expire", json!({"masterid": 1, "host_gone": true}))
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict");
    assert!(body.to_string().contains("still has 1 session"), "{body}");
    drop(frozen);
    let claim = "SELECT masterid::text AS v FROM buildrequest_claims WHERE brid = 12";
    assert_eq!(one(&mut fx.conn("bbctl-test"), claim).as_deref(), Some("1"));

    let (status, body) = fx.post("masters/expire", json!({"masterid": 1})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let done: ExpireMasterResult = serde_json::from_value(body).unwrap();
    assert_eq!(done.requests_returned, [12]);
    assert!(done.was_active);
    assert_eq!(done.buildbot_version, "4.3.0");
    assert!(
        done.evidence.iter().any(|e| e.contains("more than 150 s")),
        "{done:?}"
    );
    let mut c = fx.conn("bbctl-test");
    assert_eq!(one(&mut c, claim), None, "the claim is gone");
    let active = "SELECT active::text AS v FROM masters WHERE id = 1";
    assert_eq!(one(&mut c, active).as_deref(), Some("0"));
    let builders = "SELECT count(*)::text AS v FROM builder_masters WHERE masterid = 1";
    assert_eq!(one(&mut c, builders).as_deref(), Some("0"));

    let (status, body) = fx.post("masters/prune", json!({"dry_run": true})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let dry: PruneMastersResult = serde_json::from_value(body).unwrap();
    let hidden: Vec<i64> = dry.hidden.iter().map(|m| m.id).collect();
    assert_eq!(hidden, [1, 3]);
    assert_eq!(dry.kept.len(), 1);
    assert_eq!(dry.kept[0].id, 2);
    let (status, body) = fx.post("masters/prune", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = fx.agent.call("GET", "/v1/buildbot-db/masters", None).await;
    let table: MastersTable = serde_json::from_value(body).unwrap();
    let hidden: Vec<i64> = table
        .masters
        .iter()
        .filter(|m| m.hidden)
        .map(|m| m.id)
        .collect();
    assert_eq!(hidden, [1, 3]);
    let rows = "SELECT count(*)::text AS v FROM masters";
    assert_eq!(
        one(&mut c, rows).as_deref(),
        Some("3"),
        "Buildbot's rows stay"
    );
}

/// The same housekeeping with Buildbot 4.2.1's code on its own schema (066): the helper
/// supports both versions the fleet can run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expire_runs_with_buildbot_4_2_1_on_its_schema() {
    let fx = fixture().await;
    let url = format!(
        "postgresql+psycopg2://buildbot:{PASSWORD}@127.0.0.1:{}/buildbot",
        fx.port
    );
    let agent = TestAgent::with(AgentOptions {
        buildbot: buildbot_421(),
        db_url: Some(url),
        ..AgentOptions::default()
    });
    {
        let mut c = fx.conn("bbctl-test");
        for sql in [
            "INSERT INTO builders (id, name, name_hash) VALUES (1, 'b', 'h1')",
            "INSERT INTO buildsets (id, submitted_at) VALUES (1, 1)",
            "INSERT INTO sourcestamps (id, ss_hash, created_at) VALUES (1, 'ss1', 1)",
            "INSERT INTO buildset_sourcestamps (id, buildsetid, sourcestampid) VALUES (1, 1, 1)",
            "INSERT INTO masters (id, name, name_hash, active, last_active) \
             VALUES (1, 'gone:/m1', 'h1', 0, 1)",
            "INSERT INTO buildrequests (id, buildsetid, builderid, submitted_at, complete) \
             VALUES (12, 1, 1, 1, 0)",
            "INSERT INTO buildrequest_claims (brid, masterid, claimed_at) VALUES (12, 1, 2)",
        ] {
            diesel::RunQueryDsl::execute(diesel::sql_query(sql), &mut c).unwrap();
        }
    }
    let (status, body) = agent
        .call(
            "POST",
            "/v1/buildbot-db/masters/expire",
            Some(json!({"masterid": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let done: ExpireMasterResult = serde_json::from_value(body).unwrap();
    assert_eq!(done.buildbot_version, "4.2.1");
    assert!(
        !done.was_active,
        "an expired row: the housekeeping alone ran"
    );
    assert_eq!(done.requests_returned, [12]);
    let claim = "SELECT masterid::text AS v FROM buildrequest_claims WHERE brid = 12";
    assert_eq!(one(&mut fx.conn("bbctl-test"), claim), None);
}
