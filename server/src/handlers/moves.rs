//! `POST /v1/workers/{name}/move`: one idle worker moved off this master (the [`Drains`]
//! service, `crate::drain::moves`).

use axum::Json;
use axum::extract::{Path, State};
use bbctl_api::{MoveRequest, MoveResult};

use super::RequestedBy;
use crate::drain::Drains;
use crate::error::AppResult;
use crate::extract::OptionalJson;

pub async fn move_worker(
    State(drains): State<Drains>,
    Path(name): Path<String>,
    RequestedBy(actor): RequestedBy,
    OptionalJson(req): OptionalJson<MoveRequest>,
) -> AppResult<Json<MoveResult>> {
    Ok(Json(drains.move_worker(name, req, actor).await?))
}
