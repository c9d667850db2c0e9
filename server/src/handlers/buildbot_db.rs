//! `GET /v1/buildbot-db`, `GET /v1/buildbot-db/ops/{upgrade_id}`, `POST /v1/buildbot-db/backup`,
//! `…/upgrade`, `…/restore`: the [`BuildbotDb`] service. The POSTs answer when the operation
//! ended, with the operation whatever its end state.

use axum::Json;
use axum::extract::{Path, State};
use bbctl_api::{
    BuildbotDbInfo, BuildbotDbOp, DbBackupRequest, DbRestoreRequest, DbUpgradeRequest,
};

use super::RequestedBy;
use crate::buildbot_db::BuildbotDb;
use crate::error::AppResult;
use crate::extract::ApiJson;

pub async fn info(State(db): State<BuildbotDb>) -> AppResult<Json<BuildbotDbInfo>> {
    Ok(Json(db.info().await?))
}

pub async fn ops(
    State(db): State<BuildbotDb>,
    Path(upgrade_id): Path<String>,
) -> AppResult<Json<Vec<BuildbotDbOp>>> {
    Ok(Json(db.ops(&upgrade_id).await?))
}

pub async fn backup(
    State(db): State<BuildbotDb>,
    RequestedBy(actor): RequestedBy,
    ApiJson(req): ApiJson<DbBackupRequest>,
) -> AppResult<Json<BuildbotDbOp>> {
    Ok(Json(db.backup(req, actor).await?))
}

pub async fn upgrade(
    State(db): State<BuildbotDb>,
    RequestedBy(actor): RequestedBy,
    ApiJson(req): ApiJson<DbUpgradeRequest>,
) -> AppResult<Json<BuildbotDbOp>> {
    Ok(Json(db.upgrade(req, actor).await?))
}

pub async fn restore(
    State(db): State<BuildbotDb>,
    RequestedBy(actor): RequestedBy,
    ApiJson(req): ApiJson<DbRestoreRequest>,
) -> AppResult<Json<BuildbotDbOp>> {
    Ok(Json(db.restore(req, actor).await?))
}
