//! The fleet store's setup on a real PostgreSQL: the documented role, database and schema, and
//! the registry of a real agent process (heartbeats, `stopped_at` on a clean shutdown).

use axum::http::StatusCode;
use serde_json::json;

use super::{pg_store, take};
use crate::agent_process::AgentProcess;
use crate::helpers::{TOKEN, free_port};
use crate::pg_cluster::PgCluster;

#[tokio::test]
async fn a_real_agent_registers_heartbeats_and_says_when_it_stopped() {
    let (pg, url) = pg_store();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            r#"
name = "reg-agent"
listen = "127.0.0.1:{port}"
state_dir = "{state}"
token = "{TOKEN}"
[master]
basedir = "{base}"
buildbot = "/nonexistent/buildbot"
rest_url = "http://127.0.0.1:9/"
[fleet]
name = "prod"
db_url = "{url}"
heartbeat_secs = 0.2
"#,
            state = dir.path().join("state").display(),
            base = dir.path().join("master").display(),
        ),
    )
    .unwrap();
    let log = dir.path().join("agent.log");
    let agent = AgentProcess::spawn(&config, port, &log);
    let client = reqwest::Client::new();
    let agents = || async {
        let resp = client
            .get(format!("{}/v1/fleet/agents", agent.url))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        resp.json::<serde_json::Value>().await.unwrap()
    };
    // Wait for two heartbeats.
    let mut first = None;
    let mut row = serde_json::Value::Null;
    for _ in 0..200 {
        let body = agents().await;
        if let Some(r) = body["agents"].as_array().and_then(|a| a.first()) {
            let at = r["heartbeat_at"].as_f64().unwrap();
            match first {
                None => first = Some(at),
                Some(f) if at > f => {
                    row = r.clone();
                    let silent = body["silent_after_secs"].as_f64().unwrap();
                    assert!((silent - 0.6).abs() < 1e-9, "3 heartbeats: {body}");
                    break;
                }
                _ => {}
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        row["name"],
        "reg-agent",
        "no second heartbeat: {}",
        agent.log_text()
    );
    assert_eq!(row["url"], format!("http://127.0.0.1:{port}"));
    assert_eq!(
        (&row["api_version"], &row["stopped_at"]),
        (&json!("2"), &json!(null))
    );
    // A clean shutdown (SIGTERM) sets stopped_at.
    let pid = agent.pid().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    agent.wait_exit();
    let mut conn = <diesel::pg::PgConnection as diesel::Connection>::establish(&url).unwrap();
    let stopped: Vec<Stopped> = diesel::RunQueryDsl::load(
        diesel::sql_query("SELECT stopped_at FROM agents WHERE name = 'reg-agent'"),
        &mut conn,
    )
    .unwrap();
    assert!(
        stopped[0].stopped_at.is_some(),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    drop(pg);
}

#[derive(diesel::QueryableByName)]
struct Stopped {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Double>)]
    stopped_at: Option<f64>,
}

#[derive(diesel::QueryableByName)]
struct Schema {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table_schema: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    table_name: String,
}

/// docs/fleet-store.md's grants: role `bbctl`, database `bbctl_fleet` it owns, schema `bbctl` it
/// owns. The store's tables and its migration history land in that schema, nothing in `public`.
#[tokio::test]
async fn the_documented_role_database_and_schema_suffice() {
    let pg = PgCluster::start();
    let mut admin =
        <diesel::pg::PgConnection as diesel::Connection>::establish(&pg.url("postgres")).unwrap();
    for stmt in [
        "CREATE ROLE bbctl LOGIN PASSWORD 'fleet-pw'",
        "CREATE DATABASE bbctl_fleet OWNER bbctl",
    ] {
        diesel::RunQueryDsl::execute(diesel::sql_query(stmt), &mut admin).unwrap();
    }
    let as_bbctl = format!("postgres://bbctl@127.0.0.1:{}/bbctl_fleet", pg.port);
    let mut owner = <diesel::pg::PgConnection as diesel::Connection>::establish(&as_bbctl).unwrap();
    diesel::RunQueryDsl::execute(
        diesel::sql_query("CREATE SCHEMA bbctl AUTHORIZATION bbctl"),
        &mut owner,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("fleet.pw");
    std::fs::write(&pw, "fleet-pw\n").unwrap();
    let agent = crate::helpers::TestAgent::with(crate::helpers::AgentOptions {
        extra_toml: format!(
            "[fleet]\nname = \"prod\"\ndb_url = {as_bbctl:?}\npassword_file = {:?}\n",
            pw.display().to_string()
        ),
        ..Default::default()
    });
    let (status, l) = agent
        .call(
            "PUT",
            "/v1/lease",
            Some(take("up-1/a@h/1-0001", "up-1", 60.0, false)),
        )
        .await;
    assert_eq!(
        (status, l["epoch"].as_i64()),
        (StatusCode::OK, Some(1)),
        "{l}"
    );
    let rows: Vec<Schema> = diesel::RunQueryDsl::load(
        diesel::sql_query(
            "SELECT table_schema::text AS table_schema, table_name::text AS table_name \
             FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema') \
             ORDER BY 2",
        ),
        &mut owner,
    )
    .unwrap();
    let found: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.table_schema.as_str(), r.table_name.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            ("bbctl", "__diesel_schema_migrations"),
            ("bbctl", "agents"),
            ("bbctl", "hidden_masters"),
            ("bbctl", "lease"),
            ("bbctl", "upgrade_entries"),
            ("bbctl", "upgrades"),
        ]
    );
    // The agent's session names itself.
    let apps: Vec<Schema> = diesel::RunQueryDsl::load(
        diesel::sql_query(
            "SELECT usename::text AS table_schema, application_name::text AS table_name \
             FROM pg_stat_activity WHERE application_name = 'bbctl-agent-fleet'",
        ),
        &mut owner,
    )
    .unwrap();
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0].table_schema, "bbctl");
}
