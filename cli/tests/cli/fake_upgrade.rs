//! What a fake agent needs beyond `fake_agent.rs` to take part in a whole `bbctl upgrade`: the
//! fleet lease, staging / checkconfig / activation of a configuration (with the Buildbot it
//! names, whose version and DB schema head come from [`Codes`]), the journal store and
//! `/readyz`. Kept apart from `fake_agent.rs` because those routes are not (yet) rows of the
//! contract test that checks the fake against the real agent (`server/tests/api/contract.rs`);
//! they answer with the same wire types and status codes as the real agent for the cases the
//! upgrade tests use.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use bbctl_api::*;

use crate::fake_agent::{FakeState, body, error, rejected};

/// The Buildbot installs the fake hosts: executable → (version, DB schema head).
pub type Codes = BTreeMap<String, (String, String)>;

/// What one agent keeps for an upgrade; the journal store and the lease matter on the
/// coordinator only.
#[derive(Default)]
pub struct UpgradeState {
    pub codes: Codes,
    pub staged: BTreeMap<String, ConfigVersion>,
    pub activations: Vec<(String, Option<String>)>,
    pub lease: Option<Lease>,
    pub journals: BTreeMap<String, UpgradeRecord>,
    /// Activations fail (the new master's gate fails).
    pub fail_activate: bool,
}

type Both = (Arc<Mutex<FakeState>>, Arc<Mutex<UpgradeState>>);

/// The routes of `fake_agent::router` plus the upgrade's.
pub fn router(state: Arc<Mutex<FakeState>>, upgrade: Arc<Mutex<UpgradeState>>) -> Router {
    let both: Both = (state.clone(), upgrade);
    let extra = Router::new()
        .route("/readyz", get(readyz))
        .route(
            "/v1/lease",
            put(lease_put).get(lease_get).delete(lease_delete),
        )
        .route("/v1/configs", post(stage))
        .route("/v1/configs/{sha}/checkconfig", post(checkconfig))
        .route("/v1/configs/{sha}/activate", post(activate))
        .route("/v1/upgrades", get(journals))
        .route("/v1/upgrades/{id}", put(journal_put).get(journal_get))
        .with_state(both);
    crate::fake_agent::router(state).merge(extra)
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

async fn readyz(State((s, _)): State<Both>) -> Response {
    let s = s.lock().unwrap();
    let running = s.master.process.running;
    let health = Health {
        status: if running { "ready" } else { "not_ready" }.into(),
        reasons: if running {
            vec![]
        } else {
            vec!["the master is not running".into()]
        },
        event_source: None,
    };
    let status = if running {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(health)).into_response()
}

async fn lease_put(State((_, u)): State<Both>, headers: HeaderMap, bytes: Bytes) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    let req: LeaseRequest = match body(&bytes) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    let mut u = u.lock().unwrap();
    if let Some(l) = &u.lease
        && l.holder != req.holder
        && l.expires_at > now()
    {
        let body = ErrorEnvelope {
            error: ErrorBody {
                code: ErrorCode::Conflict,
                message: format!("the fleet lease is held by {}", l.holder),
                details: Some(serde_json::to_value(l).unwrap()),
            },
        };
        return (StatusCode::CONFLICT, Json(body)).into_response();
    }
    let acquired_at = u
        .lease
        .as_ref()
        .filter(|l| l.holder == req.holder)
        .map_or(now(), |l| l.acquired_at);
    let lease = Lease {
        holder: req.holder,
        reason: req.reason,
        kind: req.kind,
        acquired_at,
        renewed_at: now(),
        expires_at: now() + req.ttl_secs,
    };
    u.lease = Some(lease.clone());
    Json(lease).into_response()
}

async fn lease_get(State((_, u)): State<Both>, headers: HeaderMap) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    match u.lock().unwrap().lease.clone() {
        Some(l) => Json(l).into_response(),
        None => error(ErrorCode::NotFound, "no fleet lease is held"),
    }
}

async fn lease_delete(State((_, u)): State<Both>, headers: HeaderMap) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    u.lock().unwrap().lease = None;
    Json(serde_json::json!({"released": true})).into_response()
}

/// `venv` or `venv/bin/buildbot` → the executable.
fn executable(buildbot: &str) -> String {
    if buildbot.ends_with("/buildbot") {
        buildbot.to_string()
    } else {
        format!("{}/bin/buildbot", buildbot.trim_end_matches('/'))
    }
}

async fn stage(State((s, u)): State<Both>, headers: HeaderMap, bytes: Bytes) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    let req: StageConfigRequest = match body(&bytes) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    let exe = match &req.buildbot {
        Some(b) => executable(b),
        None => s
            .lock()
            .unwrap()
            .master
            .buildbot_executable
            .clone()
            .unwrap_or_default(),
    };
    let mut u = u.lock().unwrap();
    let code = u.codes.get(&exe).cloned();
    // A stand-in for the bundle's sha256: the same bundle gives the same id on every agent.
    let mut sum: u64 = 1469598103934665603;
    for f in &req.files {
        for b in f.path.bytes().chain(f.content_base64.bytes()) {
            sum = (sum ^ u64::from(b)).wrapping_mul(1099511628211);
        }
    }
    let sha = format!("{sum:016x}{sum:016x}{sum:016x}{sum:016x}");
    let version = ConfigVersion {
        sha256: sha.clone(),
        label: req.label,
        files: req.files.iter().map(|f| f.path.clone()).collect(),
        staged_at: 1_700_000_000,
        active: false,
        checkconfig: None,
        buildbot: Some(exe),
        buildbot_version: code.as_ref().map(|c| c.0.clone()),
        buildbot_db_head: code.map(|c| c.1),
    };
    u.staged.insert(sha, version.clone());
    (StatusCode::CREATED, Json(version)).into_response()
}

async fn checkconfig(State(_): State<Both>, headers: HeaderMap) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    Json(CheckConfigResult {
        ok: true,
        exit_code: Some(0),
        output: "Config file is good!".into(),
    })
    .into_response()
}

async fn activate(
    State((s, u)): State<Both>,
    headers: HeaderMap,
    Path(sha): Path<String>,
    bytes: Bytes,
) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    let req: ActivateRequest = match body(&bytes) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    let mut u = u.lock().unwrap();
    let mut s = s.lock().unwrap();
    if s.master.process.running {
        return error(
            ErrorCode::Conflict,
            "the master is running: stop it before activating another version",
        );
    }
    let exe = req.buildbot.as_deref().map(executable);
    // The fleet's configuration before the upgrade is not staged here: known by its sha only.
    let (label, staged_exe) = match u.staged.get(&sha) {
        Some(v) => (v.label.clone(), v.buildbot.clone()),
        None => ("v1".to_string(), None),
    };
    let exe = exe.or(staged_exe).or(s.master.buildbot_executable.clone());
    let code = exe.as_ref().and_then(|e| u.codes.get(e).cloned());
    u.activations.push((sha.clone(), exe.clone()));
    if u.fail_activate && u.staged.contains_key(&sha) {
        return Json(OperationResult {
            id: 2,
            kind: "activate".into(),
            ok: false,
            message: "cannot activate: disk full".into(),
            log_lines: vec![],
            started_at: 1_700_000_000.0,
            finished_at: Some(1_700_000_000.5),
            routing: None,
        })
        .into_response();
    }
    s.master.config = Some(ActiveConfig { sha256: sha, label });
    s.master.buildbot_executable = exe;
    s.master.buildbot_version = code.as_ref().map(|c| c.0.clone());
    s.master.buildbot_db_head = code.map(|c| c.1);
    Json(OperationResult {
        id: 2,
        kind: "activate".into(),
        ok: true,
        message: "activated".into(),
        log_lines: vec![],
        started_at: 1_700_000_000.0,
        finished_at: Some(1_700_000_000.5),
        routing: None,
    })
    .into_response()
}

async fn journals(State((_, u)): State<Both>, headers: HeaderMap) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    let mut all: Vec<UpgradeRecord> = u.lock().unwrap().journals.values().cloned().collect();
    all.sort_by(|a, b| b.created_at.total_cmp(&a.created_at));
    Json(all).into_response()
}

async fn journal_get(
    State((_, u)): State<Both>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    match u.lock().unwrap().journals.get(&id) {
        Some(r) => Json(r.clone()).into_response(),
        None => error(ErrorCode::NotFound, &format!("no upgrade {id}")),
    }
}

async fn journal_put(
    State((_, u)): State<Both>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    let req: PutUpgradeRequest = match body(&bytes) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    let mut u = u.lock().unwrap();
    let current = u.journals.get(&id).map_or(0, |r| r.version);
    if req.expected_version.is_some_and(|v| v != current) {
        return error(ErrorCode::Conflict, "journal version mismatch");
    }
    let created_at = u.journals.get(&id).map_or(now(), |r| r.created_at);
    let record = UpgradeRecord {
        id: id.clone(),
        version: current + 1,
        created_at,
        updated_at: now(),
        doc: req.doc,
    };
    u.journals.insert(id, record.clone());
    Json(record).into_response()
}
