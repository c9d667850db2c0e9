//! `GET/POST /v1/configs`, `GET /v1/configs/{sha256}`, `POST …/checkconfig`, `POST …/activate`:
//! the [`Configs`] service.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use bbctl_api::{
    ActivateRequest, CheckConfigResult, ConfigVersion, OperationResult, StageConfigRequest,
};

use super::RequestedBy;
use crate::configs::Configs;
use crate::error::AppResult;
use crate::extract::{ApiJson, OptionalJson};

pub async fn list(State(configs): State<Configs>) -> AppResult<Json<Vec<ConfigVersion>>> {
    Ok(Json(configs.list().await?))
}

pub async fn stage(
    State(configs): State<Configs>,
    RequestedBy(actor): RequestedBy,
    ApiJson(req): ApiJson<StageConfigRequest>,
) -> AppResult<(StatusCode, Json<ConfigVersion>)> {
    let version = configs.stage(req, actor).await?;
    Ok((StatusCode::CREATED, Json(version)))
}

pub async fn get(
    State(configs): State<Configs>,
    Path(sha256): Path<String>,
) -> AppResult<Json<ConfigVersion>> {
    Ok(Json(configs.get(&sha256).await?))
}

pub async fn checkconfig(
    State(configs): State<Configs>,
    RequestedBy(actor): RequestedBy,
    Path(sha256): Path<String>,
) -> AppResult<Json<CheckConfigResult>> {
    Ok(Json(configs.checkconfig(&sha256, actor).await?))
}

pub async fn activate(
    State(configs): State<Configs>,
    by: RequestedBy,
    Path(sha256): Path<String>,
    OptionalJson(req): OptionalJson<ActivateRequest>,
) -> AppResult<Json<OperationResult>> {
    let who = by.with_reason(req.reason);
    Ok(Json(
        configs
            .activate(&sha256, req.buildbot.as_deref(), who)
            .await?,
    ))
}
