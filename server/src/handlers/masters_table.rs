//! `GET /v1/buildbot-db/masters`, `POST /v1/buildbot-db/masters/expire`,
//! `POST /v1/buildbot-db/masters/prune` (docs/masters.md): the [`BuildbotDb`] service for
//! Buildbot's rows, the fleet store for which of them `prune` hid.

use axum::Json;
use axum::extract::State;
use bbctl_api::{
    ExpireMasterRequest, ExpireMasterResult, MastersTable, PruneMastersRequest, PruneMastersResult,
};

use super::RequestedBy;
use crate::buildbot_db::{BuildbotDb, prune};
use crate::error::AppResult;
use crate::extract::ApiJson;
use crate::fleet_store::FleetStore;

pub async fn table(
    State(db): State<BuildbotDb>,
    State(store): State<FleetStore>,
) -> AppResult<Json<MastersTable>> {
    let hidden = prune::hidden_ids(&hidden_rows(&store).await?);
    Ok(Json(db.masters_table(&hidden).await?))
}

pub async fn expire(
    State(db): State<BuildbotDb>,
    State(store): State<FleetStore>,
    RequestedBy(actor): RequestedBy,
    ApiJson(req): ApiJson<ExpireMasterRequest>,
) -> AppResult<Json<ExpireMasterResult>> {
    let mut result = db.expire_master(req, actor).await?;
    // The housekeeping is done; a store that does not answer only leaves the registry as it was.
    match store.retire_silent(&result.name).await {
        Ok(retired) => result.agent_retired = retired,
        Err(e) => tracing::warn!(error = %e, "masters expire: registry row left as it was"),
    }
    Ok(Json(result))
}

pub async fn prune(
    State(db): State<BuildbotDb>,
    State(store): State<FleetStore>,
    RequestedBy(actor): RequestedBy,
    ApiJson(req): ApiJson<PruneMastersRequest>,
) -> AppResult<Json<PruneMastersResult>> {
    let hidden = prune::hidden_ids(&hidden_rows(&store).await?);
    let table = db.masters_table(&hidden).await?;
    let result = prune::select(&table.masters, req.dry_run);
    if !req.dry_run && !result.hidden.is_empty() {
        store
            .hide_masters(&prune::to_hide(&result), actor.as_deref())
            .await?;
    }
    Ok(Json(result))
}

async fn hidden_rows(store: &FleetStore) -> AppResult<Vec<(i64, String)>> {
    Ok(store.hidden_masters().await?)
}
