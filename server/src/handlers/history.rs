//! `GET /v1/operations` and `GET /v1/audit`, newest first.

use axum::Json;
use axum::extract::State;
use bbctl_api::{AuditEntry, OperationResult};
use serde::Deserialize;

use crate::db::{audit, operations};
use crate::error::AppResult;
use crate::extract::ApiQuery;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    #[serde(default = "default_limit")]
    limit: i64,
}

fn default_limit() -> i64 {
    100
}

pub async fn operations(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<Limit>,
) -> AppResult<Json<Vec<OperationResult>>> {
    let limit = q.limit.clamp(1, 1000);
    Ok(Json(
        state.db().run(move |c| operations::list(c, limit)).await?,
    ))
}

pub async fn audit(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<Limit>,
) -> AppResult<Json<Vec<AuditEntry>>> {
    let limit = q.limit.clamp(1, 1000);
    Ok(Json(state.db().run(move |c| audit::list(c, limit)).await?))
}
