//! `GET /v1/master/analysis?since=T`: what this master did since `T` — its builds and the signs
//! of trouble in its log — from the [`Topology`] service.

use axum::Json;
use axum::extract::State;
use bbctl_api::{AnalysisQuery, MasterAnalysis};

use crate::error::AppResult;
use crate::extract::ApiQuery;
use crate::topology::Topology;

pub async fn get(
    State(topology): State<Topology>,
    ApiQuery(q): ApiQuery<AnalysisQuery>,
) -> AppResult<Json<MasterAnalysis>> {
    Ok(Json(topology.analysis(q.since).await?))
}
