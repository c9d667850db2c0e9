//! The agent's state DB on PostgreSQL, the backend the fleet's agents can use
//! (`state_db_url = "postgres://…"`): a private cluster (`pg_cluster`) per test; the migrations apply, revert to nothing and apply again to the same schema; the db
//! module's operations round-trip as they do on SQLite (`server/src/db/tests.rs`); and the
//! agent binary serves from it and keeps its state across a restart.
//!
//! PostgreSQL's server binaries are a dependency of the test suite (`scripts/install-deps`
//! installs them): without them these tests fail, saying so; they never skip.

use std::path::Path;

use bbctl_agent::db::{Db, audit, configs, drains, fence, operations};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use serde_json::json;

use crate::agent_process::AgentProcess;
use crate::helpers::{TOKEN, free_port};
use crate::pg_cluster::PgCluster;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

#[derive(QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Column {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    column_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    data_type: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    is_nullable: String,
}

/// Every column of the public schema except diesel's own bookkeeping, sorted.
fn schema(conn: &mut PgConnection) -> Vec<Column> {
    let mut columns: Vec<Column> = diesel::sql_query(
        "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text \
         FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'",
    )
    .load(conn)
    .unwrap();
    columns.sort();
    columns
}

fn tables(columns: &[Column]) -> Vec<&str> {
    let mut names: Vec<&str> = columns.iter().map(|c| c.table_name.as_str()).collect();
    names.dedup();
    names
}

/// The migration folders of `migrations/postgres`, which must pair with `migrations/sqlite`.
fn migration_names(backend: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../migrations")
        .join(backend);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("up.sql").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn postgres_migrations_apply_revert_and_apply_again_to_the_same_schema() {
    let pg = PgCluster::start();
    let url = pg.create_database("migrations");
    let names = migration_names("postgres");
    assert_eq!(
        names,
        migration_names("sqlite"),
        "each backend has the same migrations"
    );

    // The agent's own open applies every migration.
    drop(Db::open(&url).unwrap());
    let mut conn = PgConnection::establish(&url).unwrap();
    let applied = conn.applied_migrations().unwrap();
    assert_eq!(applied.len(), names.len(), "{applied:?}");
    let full = schema(&mut conn);
    assert_eq!(
        tables(&full),
        [
            "active_config",
            "audit_log",
            "buildbot_db_ops",
            "config_versions",
            "drains",
            "fence",
            "fleet_lease",
            "operations",
            "upgrades"
        ]
    );
    assert!(
        !conn.has_pending_migration(MIGRATIONS).unwrap(),
        "a second open has nothing to apply"
    );

    // `diesel migration redo` of each migration, newest first: down, then up again.
    for _ in &names {
        conn.revert_last_migration(MIGRATIONS).unwrap();
    }
    assert!(
        schema(&mut conn).is_empty(),
        "every down.sql together undo every up.sql: {:?}",
        schema(&mut conn)
    );
    conn.run_pending_migrations(MIGRATIONS).unwrap();
    assert_eq!(schema(&mut conn), full, "down then up restores the schema");
    for _ in &names {
        let reverted = conn.revert_last_migration(MIGRATIONS).unwrap();
        conn.run_next_migration(MIGRATIONS)
            .unwrap_or_else(|e| panic!("redo {reverted}: {e}"));
        assert_eq!(schema(&mut conn), full, "redo of {reverted}");
    }
    // And the agent opens the redone database.
    drop(conn);
    Db::open(&url).unwrap();

    // Both backends end with the same tables, columns and nullability.
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("agent.sqlite3");
    drop(Db::open(&format!("sqlite://{}", sqlite.display())).unwrap());
    let mut lite = diesel::sqlite::SqliteConnection::establish(sqlite.to_str().unwrap()).unwrap();
    let mut lite_columns: Vec<(String, String, bool)> = diesel::sql_query(
        "SELECT m.name AS table_name, p.name AS column_name, p.\"notnull\" AS not_null \
         FROM sqlite_master m JOIN pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
         AND m.name <> '__diesel_schema_migrations'",
    )
    .load::<SqliteColumn>(&mut lite)
    .unwrap()
    .into_iter()
    .map(|c| (c.table_name, c.column_name, c.not_null != 0))
    .collect();
    lite_columns.sort();
    let pg_columns: Vec<(String, String, bool)> = full
        .iter()
        .map(|c| {
            (
                c.table_name.clone(),
                c.column_name.clone(),
                c.is_nullable == "NO",
            )
        })
        .collect();
    assert_eq!(
        pg_columns, lite_columns,
        "migrations/postgres and migrations/sqlite define the same columns (table, column, NOT NULL)"
    );
}

#[derive(QueryableByName)]
struct SqliteColumn {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    column_name: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    not_null: i32,
}

#[tokio::test]
async fn state_db_operations_round_trip_on_postgres() {
    let pg = PgCluster::start();
    let url = pg.create_database("state");
    let db = Db::open(&url).unwrap();

    // Operations, newest first, with their log lines.
    let listed = db
        .run(|c| {
            let a = operations::begin(c, "start", Some("alice"), Some("why"))?;
            operations::finish(c, a, false, "boom", &["line 1".into()])?;
            let b = operations::begin(c, "stop", None, None)?;
            operations::finish(c, b, true, "stopped", &[])?;
            operations::begin(c, "reconfig", None, None)?;
            operations::list(c, 10)
        })
        .await
        .unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|o| (o.kind.as_str(), o.ok))
            .collect::<Vec<_>>(),
        [("reconfig", false), ("stop", true), ("start", false)]
    );
    assert_eq!(listed[2].log_lines, ["line 1"]);
    assert!(listed[2].finished_at.is_some() && listed[0].finished_at.is_none());
    assert!(listed[0].id > listed[1].id, "BIGSERIAL ids grow");

    // Audit log, newest first.
    let entries = db
        .run(|c| {
            audit::append(c, Some("alice@host"), "drain.start", "reason: test")?;
            audit::append(c, None, "lease.release", "up-1")?;
            audit::list(c, 10)
        })
        .await
        .unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].action, "lease.release");
    assert_eq!(entries[1].actor.as_deref(), Some("alice@host"));
    assert_eq!(entries[1].detail, "reason: test");

    // Config versions, checkconfig results, activations.
    let (again, recoded, active, all) = db
        .run(|c| {
            let files = ["master.cfg".to_string(), "lib/steps.py".to_string()];
            let v = configs::insert_version(
                c,
                "abc",
                &configs::NewVersion {
                    label: "v1",
                    files: &files,
                    staged_by: Some("alice@host"),
                    reason: Some("new steps"),
                    buildbot: None,
                },
            )?;
            assert_eq!(v.files(), files);
            let ok = bbctl_api::CheckConfigResult {
                ok: true,
                exit_code: Some(0),
                output: "Config file is good!".into(),
            };
            configs::set_checkconfig(c, "abc", &ok)?;
            let none = configs::NewVersion {
                label: "other",
                files: &[],
                staged_by: None,
                reason: None,
                buildbot: None,
            };
            let again = configs::insert_version(c, "abc", &none)?;
            let recoded = configs::insert_version(
                c,
                "abc",
                &configs::NewVersion {
                    buildbot: Some("/venv/bin/buildbot"),
                    ..none
                },
            )?;
            configs::record_activation(
                c,
                &configs::Activation {
                    sha256: "abc",
                    label: "v1",
                    previous_sha256: Some("old"),
                    backup_dir: Some("/b"),
                    buildbot: recoded.buildbot.as_deref(),
                },
            )?;
            Ok((
                again,
                recoded,
                configs::active(c)?,
                configs::list_versions(c)?,
            ))
        })
        .await
        .unwrap();
    assert_eq!(again.label, "v1", "restaging keeps the first label");
    assert_eq!(
        again.checkconfig().map(|r| r.output),
        Some("Config file is good!".to_owned())
    );
    assert_eq!(recoded.buildbot.as_deref(), Some("/venv/bin/buildbot"));
    assert!(recoded.checkconfig().is_none(), "another executable");
    let active = active.unwrap();
    assert_eq!(
        (
            active.sha256.as_str(),
            active.previous_sha256.as_deref(),
            active.backup_dir.as_deref(),
            active.buildbot.as_deref()
        ),
        ("abc", Some("old"), Some("/b"), Some("/venv/bin/buildbot"))
    );
    assert_eq!(all.len(), 1);

    // Drains: insert, update, the newest.
    let latest = db
        .run(|c| {
            let first = drains::insert(c, "draining", r#"{"reason":"a"}"#, "{}", 1.5)?;
            drains::update(c, first, "cancelled", r#"{"masterid":1}"#, Some(2.5))?;
            let second = drains::insert(c, "draining", "{}", r#"{"masterid":1}"#, 3.5)?;
            assert!(second > first);
            drains::update(c, second, "stopping", r#"{"masterid":2}"#, None)?;
            drains::latest(c)
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            latest.phase.as_str(),
            latest.state.as_str(),
            latest.started_at,
            latest.finished_at
        ),
        ("stopping", r#"{"masterid":2}"#, 3.5, None)
    );
    assert!(latest.updated_at >= latest.started_at);

    // The fence: the highest epoch seen per fleet, never lowered.
    db.run(|c| {
        assert_eq!(fence::raise(c, "prod", 4)?, 4);
        assert_eq!(fence::raise(c, "prod", 2)?, 4);
        Ok(())
    })
    .await
    .unwrap();

    // Reopening keeps everything; an operation left running is failed as interrupted.
    drop(db);
    let db = Db::open(&url).unwrap();
    let (interrupted, ops, lease) = db
        .run(|c| {
            Ok((
                operations::fail_interrupted(c)?,
                operations::list(c, 10)?,
                fence::get(c, "prod")?,
            ))
        })
        .await
        .unwrap();
    assert_eq!(interrupted, 1);
    assert_eq!(ops.len(), 3);
    assert!(
        !ops[0].ok && ops[0].message.contains("interrupted"),
        "{ops:?}"
    );
    assert_eq!(lease, 4, "the fence row survives a reopen");
}

#[tokio::test]
async fn the_agent_serves_from_a_postgres_state_db_across_restarts() {
    let pg = PgCluster::start();
    let url = pg.create_database("agent");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            r#"
name = "pg-agent"
listen = "127.0.0.1:{port}"
state_dir = "{state}"
state_db_url = "{url}"
token = "{TOKEN}"
[master]
basedir = "{base}"
buildbot = "/nonexistent/buildbot"
rest_url = "http://127.0.0.1:9/"
"#,
            state = dir.path().join("state").display(),
            base = dir.path().join("master").display(),
        ),
    )
    .unwrap();
    let log = dir.path().join("agent.log");
    // No pooled connection may outlive the first agent process.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let call = |agent: &AgentProcess, method: &str, path: &str, body: Option<serde_json::Value>| {
        let mut req = client
            .request(method.parse().unwrap(), format!("{}{path}", agent.url))
            .bearer_auth(TOKEN)
            .header("x-bbctl-requested-by", "alice@host");
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<serde_json::Value>().await.unwrap())
        }
    };

    let agent = AgentProcess::spawn(&config, port, &log);
    let lease = json!({"holder": "up-1", "reason": "to v2", "ttl_secs": 600.0, "kind": "upgrade"});
    let (status, body) = call(&agent, "PUT", "/v1/lease", Some(lease)).await;
    assert_eq!(status, 200, "{body}\n{}", agent.log_text());
    let journal = json!({"holder": "up-1", "epoch": 1, "doc": {"step": "preflight"}});
    let (status, body) = call(&agent, "PUT", "/v1/upgrades/up-1", Some(journal)).await;
    assert_eq!((status, &body["version"]), (200, &json!(1)), "{body}");
    let (status, body) = call(&agent, "POST", "/v1/master/stop", Some(json!({}))).await;
    assert_eq!(status, 200, "an operation is recorded: {body}");
    drop(agent);

    let agent = AgentProcess::spawn(&config, port, &log);
    let (status, body) = call(&agent, "GET", "/v1/lease", None).await;
    assert_eq!((status, &body["holder"]), (200, &json!("up-1")), "{body}");
    let (status, body) = call(&agent, "GET", "/v1/upgrades/up-1", None).await;
    assert_eq!(
        (status, &body["doc"]["step"]),
        (200, &json!("preflight")),
        "{body}"
    );
    let (status, body) = call(&agent, "GET", "/v1/operations", None).await;
    assert_eq!((status, &body[0]["kind"]), (200, &json!("stop")), "{body}");
    let (status, body) = call(&agent, "GET", "/v1/audit", None).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.as_array()
            .is_some_and(|a| a.iter().any(|e| e["actor"] == "alice@host")),
        "the audit log keeps the actor: {body}"
    );
}
