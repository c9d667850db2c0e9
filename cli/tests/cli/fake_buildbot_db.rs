//! The fake agent's Buildbot DB (`/v1/buildbot-db*`): what the migrate strategy's tests set up
//! and what they read back (the DB operations asked for, in order). Answers like the real
//! agent (`server/src/buildbot_db/`); the routes are registered in `fake_agent.rs`'s router,
//! where the contract test finds them.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bbctl_api::*;

use super::{FakeState, Shared, body, error, rejected};

/// The fleet's Buildbot DB as the fake agents see it, and what was asked of it.
pub struct FakeDb {
    /// `None`: the agent has no `[master] db_url` (every call is refused).
    pub info: Option<BuildbotDbInfo>,
    pub ops: Vec<BuildbotDbOp>,
    /// Every backup/upgrade/restore POSTed, in order: (agent, kind).
    pub posts: Vec<(String, DbOpKind)>,
    /// How `upgrade-master` ends: `Done` (head moves to `to_head`), `NotApplied` (head stays),
    /// `Failed` (applied, then failed: the head moved).
    pub upgrade_ends: DbOpState,
}

impl FakeDb {
    pub fn none() -> FakeDb {
        FakeDb {
            info: None,
            ops: Vec::new(),
            posts: Vec::new(),
            upgrade_ends: DbOpState::Done,
        }
    }

    /// A PostgreSQL DB at `head` whose `masters` table holds `names`.
    pub fn postgresql(head: &str, names: &[String]) -> FakeDb {
        let info = BuildbotDbInfo {
            backend: "postgresql".into(),
            db: "postgresql+psycopg2://buildbot:xxxx@127.0.0.1:5432/buildbot".into(),
            db_key: "127.0.0.1:5432/buildbot".into(),
            server_version: Some("15.8".into()),
            db_head: Some(head.into()),
            code_head: None,
            size_bytes: Some(8_000_000),
            masters: names
                .iter()
                .enumerate()
                .map(|(i, name)| BuildbotMasterRow {
                    id: i as i64 + 1,
                    name: name.clone(),
                    active: false,
                    last_active: Some(1_700_000_000),
                })
                .collect(),
            sessions: vec![],
            unclaimed_requests: Some(vec![]),
            backup_dir: "/state/db-backups".into(),
            free_bytes: Some(50_000_000_000),
            backup_command: false,
            pg_dump_version: Some("15.8".into()),
            problems: vec![],
        };
        FakeDb {
            info: Some(info),
            ..FakeDb::none()
        }
    }
}

/// The real agent's answer when it has no `[master] db_url`, or the DB is not PostgreSQL.
fn no_db(s: &FakeState, db: &FakeDb) -> Option<Response> {
    let Some(info) = &db.info else {
        return Some(error(
            ErrorCode::OperationFailed,
            "Buildbot's database is not configured on this agent: set `[master] db_url` in the \
             agent config (needed by the migrate strategy and the masters-table commands)",
        ));
    };
    let _ = s;
    (info.backend != "postgresql").then(|| {
        error(
            ErrorCode::OperationFailed,
            &format!(
                "migrate supports PostgreSQL Buildbot DBs only (this one: {})",
                info.backend
            ),
        )
    })
}

/// The real agent's check of an upgrade id (`server/src/buildbot_db/ops.rs`).
fn bad_id(id: &str) -> Option<Response> {
    let ok = (1..=100).contains(&id.len())
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    (!ok).then(|| {
        error(
            ErrorCode::BadRequest,
            "an upgrade id is 1-100 characters of [A-Za-z0-9._-], not starting with `.`",
        )
    })
}

/// The op of `kind` for `id` already finished, which the real agent returns as it is.
fn finished(db: &FakeDb, id: &str, kind: DbOpKind) -> Option<Response> {
    db.ops
        .iter()
        .find(|op| {
            op.upgrade_id == id
                && op.kind == kind
                && matches!(op.state, DbOpState::Done | DbOpState::AlreadyApplied)
        })
        .map(|op| Json(op.clone()).into_response())
}

pub(super) async fn db_info(State(s): Shared, headers: HeaderMap) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    let s = s.lock().unwrap();
    let db = s.db.lock().unwrap();
    let Some(mut info) = db.info.clone() else {
        return no_db(&s, &db).unwrap();
    };
    info.code_head = s.master.buildbot_db_head.clone();
    if info.backend != "postgresql" {
        info.db_head = None;
        info.problems = vec![format!(
            "migrate supports PostgreSQL Buildbot DBs only (this one: {})",
            info.backend
        )];
    }
    Json(info).into_response()
}

pub(super) async fn db_ops(
    State(s): Shared,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    if let Some(r) = bad_id(&id) {
        return r;
    }
    let s = s.lock().unwrap();
    let db = s.db.lock().unwrap();
    let ops: Vec<BuildbotDbOp> = db
        .ops
        .iter()
        .filter(|op| op.upgrade_id == id)
        .cloned()
        .collect();
    Json(ops).into_response()
}

/// Records `op` and answers it.
fn db_op(db: &mut FakeDb, op: BuildbotDbOp) -> BuildbotDbOp {
    db.ops.push(op.clone());
    op
}

fn new_op(id: &str, kind: DbOpKind, state: DbOpState, message: &str) -> BuildbotDbOp {
    BuildbotDbOp {
        upgrade_id: id.into(),
        kind,
        state,
        from_head: None,
        to_head: None,
        head_after: None,
        backup: None,
        message: message.into(),
        output: vec![],
        started_at: 1_700_000_100.0,
        finished_at: Some(1_700_000_102.5),
    }
}

pub(super) async fn db_backup(State(s): Shared, headers: HeaderMap, bytes: Bytes) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    let req: DbBackupRequest = match body(&bytes) {
        Ok(req) => req,
        Err(r) => return *r,
    };
    if let Some(r) = bad_id(&req.upgrade_id) {
        return r;
    }
    let s = s.lock().unwrap();
    let mut db = s.db.lock().unwrap();
    if let Some(r) = finished(&db, &req.upgrade_id, DbOpKind::Backup) {
        return r;
    }
    if let Some(r) = no_db(&s, &db) {
        return r;
    }
    db.posts
        .push((s.master.agent_name.clone(), DbOpKind::Backup));
    let head = db.info.as_ref().and_then(|i| i.db_head.clone()).unwrap();
    let mut op = new_op(
        &req.upgrade_id,
        DbOpKind::Backup,
        DbOpState::Done,
        "backed up",
    );
    op.backup = Some(DbBackup {
        location: format!("/state/db-backups/{}-{head}.dump", req.upgrade_id),
        size_bytes: Some(106_000),
        sha256: Some("5".repeat(64)),
        head,
        tool: "pg_dump 15.8".into(),
    });
    Json(db_op(&mut db, op)).into_response()
}

pub(super) async fn db_upgrade(State(s): Shared, headers: HeaderMap, bytes: Bytes) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    let req: DbUpgradeRequest = match body(&bytes) {
        Ok(req) => req,
        Err(r) => return *r,
    };
    let timeout = req.timeout_secs.unwrap_or(1800.0);
    if !(timeout.is_finite() && timeout > 0.0 && timeout <= 86_400.0) {
        return error(
            ErrorCode::BadRequest,
            "timeout_secs must be a positive number of seconds (at most 86400)",
        );
    }
    if let Some(r) = bad_id(&req.upgrade_id) {
        return r;
    }
    let s = s.lock().unwrap();
    let mut db = s.db.lock().unwrap();
    if let Some(r) = finished(&db, &req.upgrade_id, DbOpKind::Upgrade) {
        return r;
    }
    if let Some(r) = no_db(&s, &db) {
        return r;
    }
    db.posts
        .push((s.master.agent_name.clone(), DbOpKind::Upgrade));
    let head = db.info.as_ref().and_then(|i| i.db_head.clone());
    let mut op = new_op(&req.upgrade_id, DbOpKind::Upgrade, db.upgrade_ends, "");
    op.from_head = Some(req.from_head.clone());
    op.to_head = Some(req.to_head.clone());
    if head.as_deref() == Some(req.to_head.as_str()) {
        op.state = DbOpState::AlreadyApplied;
        op.message = format!("the database is already at {}", req.to_head);
    } else if head.as_deref() != Some(req.from_head.as_str()) {
        let message = format!(
            "the database is at schema {}, not {}",
            head.as_deref().unwrap_or("unknown"),
            req.from_head
        );
        return error(ErrorCode::Conflict, &message);
    } else {
        op.output = vec![
            "upgrading database (postgresql+psycopg2://buildbot:xxxx@127.0.0.1:5432/buildbot)"
                .into(),
        ];
        let after = match db.upgrade_ends {
            DbOpState::NotApplied => req.from_head.clone(),
            _ => req.to_head.clone(),
        };
        op.message = match db.upgrade_ends {
            DbOpState::Done => "upgrade complete".into(),
            DbOpState::NotApplied => "upgrade-master exited 1; the database is as it was".into(),
            _ => "upgrade-master exited 1 after the migration".into(),
        };
        op.head_after = Some(after.clone());
        if let Some(info) = db.info.as_mut() {
            info.db_head = Some(after);
        }
    }
    Json(db_op(&mut db, op)).into_response()
}

pub(super) async fn db_restore(State(s): Shared, headers: HeaderMap, bytes: Bytes) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    let req: DbRestoreRequest = match body(&bytes) {
        Ok(req) => req,
        Err(r) => return *r,
    };
    let s = s.lock().unwrap();
    let mut db = s.db.lock().unwrap();
    if let Some(r) = no_db(&s, &db) {
        return r;
    }
    db.posts
        .push((s.master.agent_name.clone(), DbOpKind::Restore));
    let backup = db
        .ops
        .iter()
        .find(|op| op.upgrade_id == req.upgrade_id && op.kind == DbOpKind::Backup)
        .and_then(|op| op.backup.clone());
    let Some(backup) = backup else {
        let message = format!("no backup of upgrade {} on this agent", req.upgrade_id);
        return error(ErrorCode::NotFound, &message);
    };
    if let Some(r) = no_db(&s, &db) {
        return r;
    }
    db.posts
        .push((s.master.agent_name.clone(), DbOpKind::Restore));
    if let Some(info) = db.info.as_mut() {
        info.db_head = Some(backup.head.clone());
    }
    let mut op = new_op(
        &req.upgrade_id,
        DbOpKind::Restore,
        DbOpState::Done,
        "restored",
    );
    op.to_head = Some(backup.head.clone());
    op.head_after = Some(backup.head.clone());
    op.backup = Some(backup);
    Json(db_op(&mut db, op)).into_response()
}
