//! Backup → upgrade-master (066 → 067) → restore (066, the tables 067 added gone), each
//! idempotent; a missing or tampered backup is refused.

use std::path::PathBuf;

use axum::http::StatusCode;
use serde_json::json;

use super::{PASSWORD, fixture, has_codebases, head};
use crate::helpers::assert_error;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_upgrade_restore_round_trip_on_a_real_buildbot_database() {
    let fx = fixture().await;
    // Three build requests: 11 waits unclaimed, 12 is claimed, 13 is complete.
    {
        let mut c = fx.conn("bbctl-test");
        for sql in [
            "INSERT INTO builders (id, name, name_hash) VALUES (1, 'b', 'h1')",
            "INSERT INTO buildsets (id, submitted_at) VALUES (1, 1)",
            "INSERT INTO masters (id, name, name_hash, active, last_active) \
             VALUES (1, 'gone:/m', 'h2', 0, 1)",
            "INSERT INTO buildrequests (id, buildsetid, builderid, submitted_at, complete) \
             VALUES (11, 1, 1, 1, 0), (12, 1, 1, 1, 0), (13, 1, 1, 1, 1)",
            "INSERT INTO buildrequest_claims (brid, masterid, claimed_at) VALUES (12, 1, 2)",
        ] {
            diesel::RunQueryDsl::execute(diesel::sql_query(sql), &mut c).unwrap();
        }
    }
    let (status, info) = fx.agent.call("GET", "/v1/buildbot-db", None).await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(info["backend"], "postgresql");
    assert_eq!(info["db_head"], "066");
    assert_eq!(info["code_head"], "067", "the agent's master runs 4.3.0");
    assert_eq!(info["db_key"], format!("127.0.0.1:{}/buildbot", fx.port));
    assert_eq!(info["problems"], json!([]), "{info}");
    assert_eq!(info["unclaimed_requests"], json!([11]), "{info}");
    assert!(info["size_bytes"].as_u64().unwrap() > 0);
    assert!(!info.to_string().contains(PASSWORD), "{info}");
    assert!(info["db"].as_str().unwrap().contains(":xxxx@"), "{info}");

    let (status, backup) = fx.post("backup", json!({"upgrade_id": "u-1"})).await;
    assert_eq!(status, StatusCode::OK, "{backup}");
    assert_eq!(backup["state"], "done", "{backup}");
    assert_eq!(backup["backup"]["head"], "066");
    let file = PathBuf::from(backup["backup"]["location"].as_str().unwrap());
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "backups hold secrets");
    assert_eq!(
        backup["backup"]["size_bytes"].as_u64(),
        Some(std::fs::metadata(&file).unwrap().len())
    );
    assert!(
        backup["backup"]["tool"]
            .as_str()
            .unwrap()
            .starts_with("pg_dump ")
    );
    let (_, again) = fx.post("backup", json!({"upgrade_id": "u-1"})).await;
    assert_eq!(again, backup, "a finished backup is returned, not redone");
    // Two requests for the same backup at once: one runs it, the other gets its result.
    let (a, b) = tokio::join!(
        fx.post("backup", json!({"upgrade_id": "u-5"})),
        fx.post("backup", json!({"upgrade_id": "u-5"}))
    );
    assert_eq!((a.0, b.0), (StatusCode::OK, StatusCode::OK), "{a:?} {b:?}");
    assert_eq!(a.1, b.1, "the same operation answers both");

    let (status, up) = fx.post("upgrade", fx.upgrade_body("u-1")).await;
    assert_eq!(status, StatusCode::OK, "{up}");
    assert_eq!(up["state"], "done", "{up}");
    assert_eq!(up["head_after"], "067");
    let output = up["output"].to_string();
    assert!(output.contains("upgrade complete"), "{output}");
    assert!(!output.contains(PASSWORD), "{output}");
    let mut c = fx.conn("bbctl-test");
    assert_eq!(head(&mut c), "067");
    assert!(has_codebases(&mut c));
    let (_, again) = fx.post("upgrade", fx.upgrade_body("u-1")).await;
    assert_eq!(again, up, "a finished upgrade is returned, not redone");
    let (_, other) = fx.post("upgrade", fx.upgrade_body("u-2")).await;
    assert_eq!(other["state"], "already_applied", "{other}");

    let (status, restored) = fx.post("restore", json!({"upgrade_id": "u-1"})).await;
    assert_eq!(status, StatusCode::OK, "{restored}");
    assert_eq!(restored["state"], "done", "{restored}");
    assert_eq!(restored["from_head"], "067");
    assert_eq!(restored["head_after"], "066");
    assert_eq!(head(&mut c), "066");
    assert!(!has_codebases(&mut c), "the tables 067 added are gone");

    let (_, ops) = fx.agent.call("GET", "/v1/buildbot-db/ops/u-1", None).await;
    let kinds: Vec<&str> = ops
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["backup", "upgrade", "restore"]);
    let (_, none) = fx.agent.call("GET", "/v1/buildbot-db/ops/u-9", None).await;
    assert_eq!(none, json!([]));
    let (_, audit) = fx.agent.call("GET", "/v1/audit", None).await;
    let actions = audit.to_string();
    for action in [
        "buildbot_db.backup",
        "buildbot_db.upgrade",
        "buildbot_db.restore",
    ] {
        assert!(actions.contains(action), "{action} not audited: {actions}");
    }

    let (status, body) = fx.post("restore", json!({"upgrade_id": "u-3"})).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        body["error"]["message"],
        "no backup of upgrade u-3 on this agent"
    );
    // A dump changed since it was written is refused, and nothing is touched.
    let (_, other) = fx.post("backup", json!({"upgrade_id": "u-4"})).await;
    let location = other["backup"]["location"].as_str().unwrap();
    std::fs::write(location, b"tampered").unwrap();
    let (status, body) = fx.post("restore", json!({"upgrade_id": "u-4"})).await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sha256"),
        "{body}"
    );
    assert_eq!(head(&mut c), "066");
}
