//! `PUT/GET/DELETE /v1/lease`, `GET /v1/upgrades`, `PUT/GET /v1/upgrades/{id}`,
//! `GET /v1/upgrades/{id}/entries`: the fleet lease and the append-only upgrade journals, kept in
//! the fleet store ([`FleetStore`]) that every agent of the fleet reaches.

use axum::Json;
use axum::extract::{Path, State};
use bbctl_api::{
    Lease, LeaseRelease, LeaseRequest, PutUpgradeRequest, UpgradeEntry, UpgradeRecord,
};

use super::RequestedBy;
use crate::error::AppResult;
use crate::extract::{ApiJson, ApiQuery};
use crate::fleet_store::FleetStore;

pub async fn put_lease(
    State(store): State<FleetStore>,
    RequestedBy(actor): RequestedBy,
    ApiJson(req): ApiJson<LeaseRequest>,
) -> AppResult<Json<Lease>> {
    Ok(Json(store.put_lease(req, actor).await?))
}

pub async fn get_lease(State(store): State<FleetStore>) -> AppResult<Json<Lease>> {
    Ok(Json(store.lease().await?))
}

pub async fn delete_lease(
    State(store): State<FleetStore>,
    RequestedBy(actor): RequestedBy,
    ApiQuery(req): ApiQuery<LeaseRelease>,
) -> AppResult<Json<serde_json::Value>> {
    store
        .release_lease(req.holder.clone(), req.epoch, actor)
        .await?;
    Ok(Json(serde_json::json!({ "released": req.holder })))
}

pub async fn list_upgrades(State(store): State<FleetStore>) -> AppResult<Json<Vec<UpgradeRecord>>> {
    Ok(Json(store.upgrades().await?))
}

pub async fn get_upgrade(
    State(store): State<FleetStore>,
    Path(id): Path<String>,
) -> AppResult<Json<UpgradeRecord>> {
    Ok(Json(store.upgrade(&id).await?))
}

pub async fn upgrade_entries(
    State(store): State<FleetStore>,
    Path(id): Path<String>,
) -> AppResult<Json<Vec<UpgradeEntry>>> {
    Ok(Json(store.upgrade_entries(&id).await?))
}

pub async fn put_upgrade(
    State(store): State<FleetStore>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<PutUpgradeRequest>,
) -> AppResult<Json<UpgradeRecord>> {
    Ok(Json(store.put_upgrade(id, req).await?))
}
