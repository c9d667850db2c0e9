//! `/v1/buildbot-db*` against a REAL PostgreSQL (a private cluster, `pg_cluster`) holding a
//! REAL Buildbot database: created at schema 066 by Buildbot 4.2.1's `create-master`, upgraded
//! by 4.3.0's `upgrade-master` (067) through the agent, restored from the agent's backup.
//! Refusals: a foreign session, an active `masters` row, no backup, no `db_url`, a non-PostgreSQL
//! URL. An `upgrade-master` blocked inside its migration (a test session holds a lock on
//! `projects`) and killed at its timeout is `not_applied`, and its orphaned backend is gone.
//! Like `postgres_state` and `real_master`, these fail (never skip) when PostgreSQL or the
//! Buildbot venvs are missing: run scripts/install-deps.

mod killed;
mod masters;
mod refusals;
mod round_trip;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::http::StatusCode;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::helpers::{AgentOptions, TestAgent, free_port, stage_body, venv_buildbot};
use crate::pg_cluster::PgCluster;

const PASSWORD: &str = "bb-s3cret";

/// Loads completely (as `upgrade-master` needs), with the DB URL from the vars file.
const MASTER_CFG: &str = r#"
import json, os
from buildbot.plugins import util, worker, schedulers, steps
v = json.load(open(os.environ["BBCTL_VARS_FILE"]))
c = BuildmasterConfig = {}
c['workers'] = [worker.Worker("w1", "pass")]
c['protocols'] = {'pb': {'port': 'tcp:%d:interface=127.0.0.1' % v['pb_port']}}
c['db'] = {'db_url': v['db_url']}
c['buildbotNetUsageData'] = None
f = util.BuildFactory([steps.ShellCommand(command=["true"])])
c['builders'] = [util.BuilderConfig(name="b", workernames=["w1"], factory=f)]
c['schedulers'] = [schedulers.ForceScheduler(name="force", builderNames=["b"])]
"#;

/// A Buildbot database at 066 and an agent (Buildbot 4.3.0) whose `db_url` names it, with a
/// staged configuration for `upgrade-master`.
struct Fixture {
    agent: Arc<TestAgent>,
    sha: String,
    port: u16,
    /// Dropped last: the cluster outlives every connection.
    _pg: PgCluster,
}

fn buildbot_421() -> PathBuf {
    let home = std::env::var("HOME").expect("HOME is set");
    let p = Path::new(&home).join(".cache/bbctl/buildbot-4.2.1/bin/buildbot");
    assert!(
        p.is_file(),
        "{} is missing: run scripts/install-deps",
        p.display()
    );
    p
}

async fn fixture() -> Fixture {
    let pg = PgCluster::start();
    let mut admin = PgConnection::establish(&pg.url("postgres")).unwrap();
    for sql in [
        format!("CREATE ROLE buildbot LOGIN PASSWORD '{PASSWORD}'"),
        "CREATE DATABASE buildbot OWNER buildbot".to_owned(),
    ] {
        diesel::sql_query(sql).execute(&mut admin).unwrap();
    }
    let url = format!(
        "postgresql+psycopg2://buildbot:{PASSWORD}@127.0.0.1:{}/buildbot",
        pg.port
    );
    let created = tempfile::tempdir().unwrap();
    let basedir = created.path().join("m");
    let out = std::process::Command::new(buildbot_421())
        .args(["create-master", "--db", &url])
        .arg(&basedir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "create-master 4.2.1: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let agent = TestAgent::with(AgentOptions {
        buildbot: venv_buildbot(),
        db_url: Some(url.clone()),
        vars: format!("db_url = {url:?}\npb_port = {}", free_port()),
        ..AgentOptions::default()
    });
    let (status, staged) = agent
        .call("POST", "/v1/configs", Some(stage_body("v2", MASTER_CFG)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{staged}");
    let fx = Fixture {
        agent: Arc::new(agent),
        sha: staged["sha256"].as_str().unwrap().to_owned(),
        port: pg.port,
        _pg: pg,
    };
    assert_eq!(head(&mut fx.conn("bbctl-test")), "066");
    fx
}

impl Fixture {
    /// A connection as Buildbot's user with this application_name (`bbctl-…` passes the guard).
    fn conn(&self, app: &str) -> PgConnection {
        let url = format!(
            "postgres://buildbot:{PASSWORD}@127.0.0.1:{}/buildbot?application_name={app}",
            self.port
        );
        PgConnection::establish(&url).unwrap()
    }

    async fn post(&self, what: &str, body: Value) -> (StatusCode, Value) {
        let path = format!("/v1/buildbot-db/{what}");
        self.agent.call("POST", &path, Some(body)).await
    }

    fn upgrade_body(&self, id: &str) -> Value {
        json!({"upgrade_id": id, "config_sha256": self.sha, "from_head": "066", "to_head": "067"})
    }
}

#[derive(QueryableByName)]
struct Text {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    v: Option<String>,
}

fn one(conn: &mut PgConnection, sql: &str) -> Option<String> {
    let rows: Vec<Text> = diesel::sql_query(sql).load(conn).unwrap();
    rows.into_iter().next().and_then(|r| r.v)
}

fn head(conn: &mut PgConnection) -> String {
    one(conn, "SELECT version_num::text AS v FROM alembic_version").unwrap()
}

fn has_codebases(conn: &mut PgConnection) -> bool {
    one(conn, "SELECT to_regclass('public.codebases')::text AS v").is_some()
}

fn sessions_named(conn: &mut PgConnection, app: &str) -> usize {
    let sql = format!(
        "SELECT count(*)::text AS v FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = '{app}'"
    );
    one(conn, &sql).unwrap().parse().unwrap()
}
