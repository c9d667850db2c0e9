//! `POST /v1/drain` (start, idempotent), `GET /v1/drain`, `PATCH /v1/drain` (a new deadline or
//! force for the drain in progress), `DELETE /v1/drain` (cancel): the [`Drains`] service.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use bbctl_api::{DrainChange, DrainRequest, DrainStatus};

use super::RequestedBy;
use crate::drain::Drains;
use crate::error::{AppError, AppResult};
use crate::extract::OptionalJson;

/// 202 when a drain starts, 200 with the drain that already holds the master.
pub async fn start(
    State(drains): State<Drains>,
    RequestedBy(actor): RequestedBy,
    OptionalJson(req): OptionalJson<DrainRequest>,
) -> AppResult<(StatusCode, Json<DrainStatus>)> {
    let (created, status) = drains.start(req, actor).await?;
    let code = if created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((code, Json(status)))
}

pub async fn get(State(drains): State<Drains>) -> AppResult<Json<DrainStatus>> {
    drains
        .status()
        .await?
        .map(Json)
        .ok_or_else(|| AppError::not_found("no drain has run on this agent"))
}

pub async fn change(
    State(drains): State<Drains>,
    RequestedBy(actor): RequestedBy,
    OptionalJson(req): OptionalJson<DrainChange>,
) -> AppResult<Json<DrainStatus>> {
    Ok(Json(drains.change(req, actor).await?))
}

pub async fn cancel(State(drains): State<Drains>) -> AppResult<Json<DrainStatus>> {
    Ok(Json(drains.cancel().await?))
}
