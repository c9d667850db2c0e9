//! `GET /v1/routing` and `POST /v1/routing/resume`: whether the load balancer routes new worker
//! connections to this master, and putting it back in rotation after a drain (the rules are
//! the [`Drains`] service's, `crate::drain::routing`).

use axum::Json;
use axum::extract::State;
use bbctl_api::{RoutingInfo, RoutingResume};

use super::RequestedBy;
use crate::drain::Drains;
use crate::error::AppResult;

pub async fn get(State(drains): State<Drains>) -> Json<RoutingInfo> {
    Json(drains.routing().await)
}

pub async fn resume(
    State(drains): State<Drains>,
    RequestedBy(actor): RequestedBy,
) -> AppResult<Json<RoutingResume>> {
    Ok(Json(drains.resume_routing(actor).await?))
}
