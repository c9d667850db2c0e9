//! The fake fleet store of `fake_upgrade.rs`: the lease with its epoch, the journals with their
//! entries, `/v1/fleet/store`, and the fence of mutating calls — the same wire types, status codes
//! and error codes as the real agent's store for the cases the upgrade tests use.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bbctl_api::*;

use crate::fake_agent::{body, error, rejected};
use crate::fake_upgrade::{Both, UpgradeState, now};

/// The fleet store: the lease (with its epoch) and the journals. Each agent has its own (a SQLite
/// store) unless a test gives several agents the same one with a `shared_key` (the fleet's
/// PostgreSQL, reached through any of them).
#[derive(Default)]
pub struct FakeStore {
    /// `Some(host:port/db)`: a PostgreSQL store; `None`: the agent's own SQLite file.
    pub shared_key: Option<String>,
    pub lease: Option<Lease>,
    pub journals: BTreeMap<String, UpgradeRecord>,
    /// Who wrote each journal entry, under which epoch.
    pub entries: BTreeMap<String, Vec<UpgradeEntry>>,
    /// After this many journal appends, another run takes the lease over (for fencing tests).
    pub taken_over_after: Option<usize>,
}

pub const OTHER_RUN: &str = "other/op@elsewhere/4242-beef";

pub(crate) async fn fleet_store(State((s, u)): State<Both>, headers: HeaderMap) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    let name = s.lock().unwrap().master.agent_name.clone();
    let u = u.lock().unwrap();
    let key = u.store.lock().unwrap().shared_key.clone();
    Json(FleetStoreInfo {
        fleet: "default".into(),
        backend: if key.is_some() {
            FleetStoreBackend::Postgres
        } else {
            FleetStoreBackend::Sqlite
        },
        store_key: key.unwrap_or_else(|| format!("sqlite:{name}")),
        reachable: !u.store_down,
        db_now: (!u.store_down).then(now),
        error: u.store_down.then(|| "connection refused".to_string()),
        heartbeat_secs: 10.0,
    })
    .into_response()
}

fn store_unavailable() -> Response {
    error(
        ErrorCode::StoreUnavailable,
        "the fleet store does not answer: connection refused",
    )
}

fn stale(store: &FakeStore, presented: i64) -> Response {
    let lease = store.lease.as_ref();
    let current = lease.map_or(0, |l| l.epoch);
    let holder = lease.map(|l| l.holder.clone());
    let body = ErrorEnvelope {
        error: ErrorBody {
            code: ErrorCode::StaleEpoch,
            message: format!(
                "lease epoch {presented} is older than {current}: the fleet lease was taken \
                 over by {}; nothing was done",
                holder.as_deref().unwrap_or("?")
            ),
            details: Some(
                serde_json::to_value(StaleEpochDetails {
                    fleet: "default".into(),
                    presented,
                    current,
                    holder,
                })
                .unwrap(),
            ),
        },
    };
    (StatusCode::CONFLICT, Json(body)).into_response()
}

/// The fence of a mutating call: a `X-Bbctl-Lease-Epoch` older than the lease's is refused.
pub(crate) fn fenced(u: &mut UpgradeState, headers: &HeaderMap, what: &str) -> Option<Response> {
    let token = headers
        .get(LEASE_EPOCH_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(FenceToken::parse)?;
    let store = u.store.clone();
    let store = store.lock().unwrap();
    let current = store.lease.as_ref().map_or(0, |l| l.epoch);
    if token.epoch < current {
        u.fenced.push(what.to_string());
        return Some(stale(&store, token.epoch));
    }
    None
}

pub(crate) async fn lease_put(
    State((_, u)): State<Both>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    let req: LeaseRequest = match body(&bytes) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    let u = u.lock().unwrap();
    if u.store_down {
        return store_unavailable();
    }
    let mut store = u.store.lock().unwrap();
    let operation = req.operation.clone().unwrap_or_else(|| req.holder.clone());
    let old = store.lease.clone();
    if let Some(epoch) = req.epoch {
        let Some(mut lease) = old.filter(|l| l.holder == req.holder && l.epoch == epoch) else {
            return stale(&store, epoch);
        };
        lease.renewed_at = now();
        lease.expires_at = now() + req.ttl_secs;
        lease.db_now = now();
        store.lease = Some(lease.clone());
        return Json(lease).into_response();
    }
    if let Some(l) = &old
        && l.expires_at > now()
        && !(req.take_over && l.operation == operation)
    {
        let mut l = l.clone();
        l.db_now = now();
        let body = ErrorEnvelope {
            error: ErrorBody {
                code: ErrorCode::Conflict,
                message: format!("the fleet lease is held by {}", l.holder),
                details: Some(serde_json::to_value(&l).unwrap()),
            },
        };
        return (StatusCode::CONFLICT, Json(body)).into_response();
    }
    let lease = Lease {
        fleet: "default".into(),
        operation,
        epoch: old.map_or(0, |l| l.epoch) + 1,
        db_now: now(),
        holder: req.holder,
        reason: req.reason,
        kind: req.kind,
        acquired_at: now(),
        renewed_at: now(),
        expires_at: now() + req.ttl_secs,
    };
    store.lease = Some(lease.clone());
    Json(lease).into_response()
}

pub(crate) async fn lease_get(State((_, u)): State<Both>, headers: HeaderMap) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    let u = u.lock().unwrap();
    if u.store_down {
        return store_unavailable();
    }
    let lease = u.store.lock().unwrap().lease.clone();
    match lease {
        Some(mut l) => {
            l.db_now = now();
            Json(l).into_response()
        }
        None => error(ErrorCode::NotFound, "no fleet lease was ever taken"),
    }
}

pub(crate) async fn lease_delete(
    State((_, u)): State<Both>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    let u = u.lock().unwrap();
    if u.store_down {
        return store_unavailable();
    }
    let query = query.unwrap_or_default();
    let param = |name: &str| {
        query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == name).then(|| v.replace("%2F", "/").replace("%40", "@"))
        })
    };
    let mut store = u.store.lock().unwrap();
    let epoch = param("epoch").and_then(|e| e.parse::<i64>().ok());
    let released = match store.lease.as_mut() {
        Some(l)
            if Some(l.holder.clone()) == param("holder") && epoch.is_none_or(|e| e == l.epoch) =>
        {
            l.expires_at = l.expires_at.min(now());
            true
        }
        _ => false,
    };
    Json(serde_json::json!({"released": released})).into_response()
}

pub(crate) async fn journals(State((_, u)): State<Both>, headers: HeaderMap) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    let u = u.lock().unwrap();
    if u.store_down {
        return store_unavailable();
    }
    let mut all: Vec<UpgradeRecord> = u.store.lock().unwrap().journals.values().cloned().collect();
    all.sort_by(|a, b| b.created_at.total_cmp(&a.created_at));
    Json(all).into_response()
}

pub(crate) async fn journal_get(
    State((_, u)): State<Both>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    let u = u.lock().unwrap();
    if u.store_down {
        return store_unavailable();
    }
    match u.store.lock().unwrap().journals.get(&id) {
        Some(r) => Json(r.clone()).into_response(),
        None => error(ErrorCode::NotFound, &format!("no upgrade {id}")),
    }
}

pub(crate) async fn journal_entries(
    State((_, u)): State<Both>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    let u = u.lock().unwrap();
    if u.store_down {
        return store_unavailable();
    }
    match u.store.lock().unwrap().entries.get(&id) {
        Some(e) => Json(e.clone()).into_response(),
        None => error(ErrorCode::NotFound, &format!("no upgrade {id}")),
    }
}

pub(crate) async fn journal_put(
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
    let u = u.lock().unwrap();
    if u.store_down {
        return store_unavailable();
    }
    let mut store = u.store.lock().unwrap();
    if !store
        .lease
        .as_ref()
        .is_some_and(|l| l.holder == req.holder && l.epoch == req.epoch)
    {
        return stale(&store, req.epoch);
    }
    let current = store.journals.get(&id).map_or(0, |r| r.version);
    if req.expected_version.is_some_and(|v| v != current) {
        return error(ErrorCode::Conflict, "journal version mismatch");
    }
    let created_at = store.journals.get(&id).map_or(now(), |r| r.created_at);
    let record = UpgradeRecord {
        id: id.clone(),
        version: current + 1,
        created_at,
        updated_at: now(),
        holder: req.holder.clone(),
        epoch: req.epoch,
        doc: req.doc,
    };
    store.journals.insert(id.clone(), record.clone());
    let entries = store.entries.entry(id).or_default();
    entries.push(UpgradeEntry {
        seq: record.version,
        epoch: req.epoch,
        holder: req.holder,
        at: now(),
    });
    let appended: usize = store.entries.values().map(Vec::len).sum();
    if store.taken_over_after == Some(appended)
        && let Some(l) = store.lease.as_mut()
    {
        l.holder = OTHER_RUN.into();
        l.epoch += 1;
        l.acquired_at = now();
        l.expires_at = now() + 90.0;
    }
    Json(record).into_response()
}
