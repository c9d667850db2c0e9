//! An upgrade-master blocked inside its migration (a test session holds a lock on `projects`)
//! and killed at its timeout: `not_applied`, its orphaned backend terminated, safe to retry; and
//! a row an agent restart left `running` resolved by the head.

use std::time::Duration;

use axum::extract::FromRef;
use axum::http::StatusCode;
use bbctl_agent::buildbot_db::BuildbotDb;
use bbctl_agent::db::buildbot_db_ops;
use bbctl_api::{DbOpKind, DbOpState};
use diesel::prelude::*;
use serde_json::json;

use super::{fixture, has_codebases, head, one, sessions_named};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_master_killed_mid_migration_is_not_applied_and_leaves_no_backend() {
    let fx = fixture().await;
    // A bbctl-named session (so the guard lets the upgrade run) holds a lock the migration needs.
    let mut lock = fx.conn("bbctl-test-lock");
    diesel::sql_query("BEGIN").execute(&mut lock).unwrap();
    diesel::sql_query("LOCK TABLE projects IN ACCESS EXCLUSIVE MODE")
        .execute(&mut lock)
        .unwrap();
    let mut body = fx.upgrade_body("u-k");
    body["timeout_secs"] = json!(45);
    let agent = fx.agent.clone();
    let call = tokio::spawn(async move {
        agent
            .call("POST", "/v1/buildbot-db/upgrade", Some(body))
            .await
    });
    // upgrade-master reaches the database and waits for the lock inside its transaction.
    let mut watch = fx.conn("bbctl-test");
    let waiting = tokio::task::spawn_blocking(move || {
        let sql = "SELECT count(*)::text AS v FROM pg_stat_activity \
                   WHERE application_name = 'bbctl-upgrade-master:u-k' AND wait_event_type = 'Lock'";
        while one(&mut watch, sql).as_deref() != Some("1") {
            std::thread::sleep(Duration::from_millis(100));
        }
        watch
    });
    let mut watch = tokio::time::timeout(Duration::from_secs(40), waiting)
        .await
        .expect("upgrade-master never waited for the lock")
        .unwrap();
    let (status, op) = call.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{op}");
    assert_eq!(op["state"], "not_applied", "{op}");
    assert_eq!(op["head_after"], "066");
    let message = op["message"].as_str().unwrap();
    assert!(
        message.contains("killed") && message.contains("orphaned backend"),
        "{message}"
    );
    assert_eq!(sessions_named(&mut watch, "bbctl-upgrade-master:u-k"), 0);
    diesel::sql_query("ROLLBACK").execute(&mut lock).unwrap();
    drop(lock);
    assert_eq!(head(&mut watch), "066");
    assert!(!has_codebases(&mut watch));

    // Not applied: safe to run again, and it applies.
    let (_, op) = fx.post("upgrade", fx.upgrade_body("u-k")).await;
    assert_eq!(op["state"], "done", "{op}");

    // An agent that restarted during an upgrade resolves the row it left running by the head.
    let mut left = serde_json::from_value::<bbctl_api::BuildbotDbOp>(op).unwrap();
    left.upgrade_id = "u-r".into();
    left.state = DbOpState::Running;
    left.finished_at = None;
    fx.agent
        .state
        .db()
        .run(move |c| buildbot_db_ops::put(c, &left, Some(u32::MAX)))
        .await
        .unwrap();
    BuildbotDb::from_ref(&fx.agent.state)
        .resolve_interrupted()
        .await;
    let (_, ops) = fx.agent.call("GET", "/v1/buildbot-db/ops/u-r", None).await;
    assert_eq!(ops[0]["kind"], json!(DbOpKind::Upgrade.as_str()));
    assert_eq!(ops[0]["state"], "done", "head 067 = applied: {ops}");
}
