//! `PUT/GET/DELETE /v1/lease`, `GET /v1/upgrades`, `PUT/GET /v1/upgrades/{id}`: the fleet lease
//! and upgrade journals that `bbctl upgrade` keeps on its coordinator agent ([`FleetDocs`]).

use axum::Json;
use axum::extract::{Path, State};
use bbctl_api::{Lease, LeaseRelease, LeaseRequest, PutUpgradeRequest, UpgradeRecord};

use super::RequestedBy;
use crate::error::AppResult;
use crate::extract::{ApiJson, ApiQuery};
use crate::fleet_docs::FleetDocs;

pub async fn put_lease(
    State(docs): State<FleetDocs>,
    RequestedBy(actor): RequestedBy,
    ApiJson(req): ApiJson<LeaseRequest>,
) -> AppResult<Json<Lease>> {
    Ok(Json(docs.acquire(req, actor).await?))
}

pub async fn get_lease(State(docs): State<FleetDocs>) -> AppResult<Json<Lease>> {
    Ok(Json(docs.lease().await?))
}

pub async fn delete_lease(
    State(docs): State<FleetDocs>,
    RequestedBy(actor): RequestedBy,
    ApiQuery(req): ApiQuery<LeaseRelease>,
) -> AppResult<Json<serde_json::Value>> {
    docs.release(&req.holder, actor).await?;
    Ok(Json(serde_json::json!({ "released": req.holder })))
}

pub async fn list_upgrades(State(docs): State<FleetDocs>) -> AppResult<Json<Vec<UpgradeRecord>>> {
    Ok(Json(docs.upgrades().await?))
}

pub async fn get_upgrade(
    State(docs): State<FleetDocs>,
    Path(id): Path<String>,
) -> AppResult<Json<UpgradeRecord>> {
    Ok(Json(docs.upgrade(&id).await?))
}

pub async fn put_upgrade(
    State(docs): State<FleetDocs>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<PutUpgradeRequest>,
) -> AppResult<Json<UpgradeRecord>> {
    Ok(Json(docs.put_upgrade(id, req).await?))
}
