//! `GET/POST /v1/configs`, `GET /v1/configs/{sha256}`, `POST …/checkconfig`, `POST …/activate`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use bbctl_api::{
    ActivateRequest, CheckConfigResult, ConfigVersion, OperationResult, StageConfigRequest,
};

use super::{actor, requester};
use crate::configs::{active, check, store};
use crate::error::AppResult;
use crate::extract::{ApiJson, OptionalJson};
use crate::state::AppState;

pub async fn list(State(state): State<AppState>) -> AppResult<Json<Vec<ConfigVersion>>> {
    Ok(Json(store::list(&state).await?))
}

pub async fn stage(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<StageConfigRequest>,
) -> AppResult<(StatusCode, Json<ConfigVersion>)> {
    let version = store::stage(&state, req, actor(&headers)).await?;
    Ok((StatusCode::CREATED, Json(version)))
}

pub async fn get(
    State(state): State<AppState>,
    Path(sha256): Path<String>,
) -> AppResult<Json<ConfigVersion>> {
    Ok(Json(store::get(&state, &sha256).await?))
}

pub async fn checkconfig(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(sha256): Path<String>,
) -> AppResult<Json<CheckConfigResult>> {
    Ok(Json(
        check::checkconfig(&state, &sha256, actor(&headers)).await?,
    ))
}

pub async fn activate(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(sha256): Path<String>,
    OptionalJson(req): OptionalJson<ActivateRequest>,
) -> AppResult<Json<OperationResult>> {
    let who = requester(&headers, req.reason);
    Ok(Json(
        active::activate(&state, &sha256, req.buildbot.as_deref(), who).await?,
    ))
}
