//! What a fake agent needs beyond `fake_agent.rs` to take part in a whole `bbctl upgrade`:
//! staging / checkconfig / activation of a configuration (with the Buildbot it names, whose
//! version and DB schema head come from [`Codes`]), `/readyz`, and the fleet store of
//! `fake_store.rs` (the lease, the journals). Kept apart from `fake_agent.rs` because those routes are not (yet) rows of the
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
pub use crate::fake_store::{FakeStore, OTHER_RUN};
use crate::fake_store::{
    fenced, fleet_store, journal_entries, journal_get, journal_put, journals, lease_delete,
    lease_get, lease_put,
};

/// The Buildbot installs the fake hosts: executable → (version, DB schema head).
pub type Codes = BTreeMap<String, (String, String)>;

/// What one agent keeps for an upgrade; the store matters on the coordinator(s) only.
#[derive(Default)]
pub struct UpgradeState {
    pub codes: Codes,
    pub staged: BTreeMap<String, ConfigVersion>,
    pub activations: Vec<(String, Option<String>)>,
    pub store: Arc<Mutex<FakeStore>>,
    /// This agent cannot reach the store: its store routes answer 503 `store_unavailable`.
    pub store_down: bool,
    /// Every mutating call refused for a stale lease epoch (path).
    pub fenced: Vec<String>,
    /// Activations fail (the new master's gate fails).
    pub fail_activate: bool,
}

pub type Both = (Arc<Mutex<FakeState>>, Arc<Mutex<UpgradeState>>);

/// The routes of `fake_agent::router` plus the upgrade's.
pub fn router(state: Arc<Mutex<FakeState>>, upgrade: Arc<Mutex<UpgradeState>>) -> Router {
    let both: Both = (state.clone(), upgrade);
    let extra = Router::new()
        .route("/readyz", get(readyz))
        .route("/v1/fleet/store", get(fleet_store))
        .route(
            "/v1/lease",
            put(lease_put).get(lease_get).delete(lease_delete),
        )
        .route("/v1/configs", post(stage))
        .route("/v1/configs/{sha}/checkconfig", post(checkconfig))
        .route("/v1/configs/{sha}/activate", post(activate))
        .route("/v1/upgrades", get(journals))
        .route("/v1/upgrades/{id}", put(journal_put).get(journal_get))
        .route("/v1/upgrades/{id}/entries", get(journal_entries))
        .with_state(both);
    crate::fake_agent::router(state).merge(extra)
}

pub fn now() -> f64 {
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
    if let Some(r) = fenced(&mut u.lock().unwrap(), &headers, "stage") {
        return r;
    }
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

async fn checkconfig(State((_, u)): State<Both>, headers: HeaderMap) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    if let Some(r) = fenced(&mut u.lock().unwrap(), &headers, "checkconfig") {
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
    if let Some(r) = fenced(&mut u, &headers, "activate") {
        return r;
    }
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
