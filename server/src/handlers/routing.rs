//! `GET /v1/routing` and `POST /v1/routing/resume`: whether the load balancer routes new worker
//! connections to this master, and putting it back in rotation after a drain (the rules are
//! the [`Drains`] service's, `crate::drain::routing`).

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::RequestedBy;
use crate::drain::Drains;
use crate::error::AppResult;

pub async fn get(State(drains): State<Drains>) -> AppResult<Json<Value>> {
    let view = drains.routing().await?;
    Ok(Json(json!({"hook": view.hook, "routing": view.routing})))
}

pub async fn resume(
    State(drains): State<Drains>,
    RequestedBy(actor): RequestedBy,
) -> AppResult<Json<Value>> {
    let change = drains.resume_routing(actor).await?;
    Ok(Json(
        json!({"hook": change.hook, "before": change.before, "routing": change.after}),
    ))
}
