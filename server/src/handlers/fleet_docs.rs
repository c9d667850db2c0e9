//! `PUT/GET/DELETE /v1/lease`, `GET /v1/upgrades`, `PUT/GET /v1/upgrades/{id}`: the fleet lease
//! and upgrade journals that `bbctl upgrade` keeps on its coordinator agent.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use bbctl_api::{Lease, LeaseRelease, LeaseRequest, PutUpgradeRequest, UpgradeRecord};

use super::actor;
use crate::db::{audit, fleet_docs, fleet_docs::Refusal};
use crate::error::{AppError, AppResult};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;

/// The longest lease one request may take.
const MAX_TTL_SECS: f64 = 86_400.0;
/// How many journals `GET /v1/upgrades` lists.
const LIST_LIMIT: i64 = 100;

fn refused(refusal: Refusal) -> AppError {
    match refusal {
        Refusal::Held(lease) => AppError::conflict(format!(
            "the fleet is held by {} ({}) until {:.0}",
            lease.holder, lease.reason, lease.expires_at
        ))
        .with_details(serde_json::to_value(&lease).unwrap_or_default()),
        Refusal::NotHolder(lease) => {
            let err = AppError::conflict("the lease is held by another holder");
            match lease {
                Some(l) => err.with_details(serde_json::to_value(&l).unwrap_or_default()),
                None => err,
            }
        }
        Refusal::VersionMismatch { stored } => AppError::conflict(format!(
            "journal version mismatch: stored version is {}",
            stored.map_or("none".into(), |v| v.to_string())
        ))
        .with_details(serde_json::json!({ "stored_version": stored })),
    }
}

fn check_id(id: &str) -> AppResult<()> {
    let ok = !id.is_empty()
        && id.len() <= 100
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(AppError::bad_request(
            "an id is 1-100 characters of [A-Za-z0-9._-]",
        ))
    }
}

pub async fn put_lease(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<LeaseRequest>,
) -> AppResult<Json<Lease>> {
    check_id(&req.holder)?;
    if !(req.ttl_secs.is_finite() && req.ttl_secs >= 1.0 && req.ttl_secs <= MAX_TTL_SECS) {
        return Err(AppError::bad_request(
            "ttl_secs must be between 1 and 86400",
        ));
    }
    let who = actor(&headers);
    let answer = state
        .db()
        .run(move |c| {
            let answer = fleet_docs::acquire(c, &req.holder, &req.reason, req.kind, req.ttl_secs)?;
            if let Ok(lease) = &answer
                && lease.renewed_at == lease.acquired_at
            {
                let detail = format!("{} ({})", lease.holder, lease.reason);
                audit::append(c, who.as_deref(), "lease.acquire", &detail)?;
            }
            Ok(answer)
        })
        .await?;
    answer.map(Json).map_err(refused)
}

pub async fn get_lease(State(state): State<AppState>) -> AppResult<Json<Lease>> {
    state
        .db()
        .run(fleet_docs::lease)
        .await?
        .map(Json)
        .ok_or_else(|| AppError::not_found("the fleet lease is free"))
}

pub async fn delete_lease(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(req): ApiQuery<LeaseRelease>,
) -> AppResult<Json<serde_json::Value>> {
    let who = actor(&headers);
    let holder = req.holder.clone();
    let answer = state
        .db()
        .run(move |c| {
            let answer = fleet_docs::release(c, &holder)?;
            if answer.is_ok() {
                audit::append(c, who.as_deref(), "lease.release", &holder)?;
            }
            Ok(answer)
        })
        .await?;
    answer.map_err(refused)?;
    Ok(Json(serde_json::json!({ "released": req.holder })))
}

pub async fn list_upgrades(State(state): State<AppState>) -> AppResult<Json<Vec<UpgradeRecord>>> {
    Ok(Json(
        state
            .db()
            .run(|c| fleet_docs::list_upgrades(c, LIST_LIMIT))
            .await?,
    ))
}

pub async fn get_upgrade(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> AppResult<Json<UpgradeRecord>> {
    let wanted = id.clone();
    state
        .db()
        .run(move |c| fleet_docs::get_upgrade(c, &wanted))
        .await?
        .map(Json)
        .ok_or_else(|| AppError::not_found(format!("no upgrade {id}")))
}

pub async fn put_upgrade(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<PutUpgradeRequest>,
) -> AppResult<Json<UpgradeRecord>> {
    check_id(&id)?;
    let answer = state
        .db()
        .run(move |c| fleet_docs::put_upgrade(c, &id, req.expected_version, &req.doc))
        .await?;
    answer.map(Json).map_err(refused)
}
