//! `POST /v1/drain` (start, idempotent), `GET /v1/drain`, `DELETE /v1/drain` (cancel).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use bbctl_api::{DrainRequest, DrainStatus};

use super::actor;
use crate::drain;
use crate::error::{AppError, AppResult};
use crate::extract::OptionalJson;
use crate::state::AppState;

/// 202 when a drain starts, 200 with the drain that already holds the master.
pub async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    OptionalJson(req): OptionalJson<DrainRequest>,
) -> AppResult<(StatusCode, Json<DrainStatus>)> {
    let (created, status) = drain::start(&state, req, actor(&headers)).await?;
    let code = if created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((code, Json(status)))
}

pub async fn get(State(state): State<AppState>) -> AppResult<Json<DrainStatus>> {
    drain::status(&state)
        .await?
        .map(Json)
        .ok_or_else(|| AppError::not_found("no drain has run on this agent"))
}

pub async fn cancel(State(state): State<AppState>) -> AppResult<Json<DrainStatus>> {
    Ok(Json(drain::cancel(&state).await?))
}
