//! Open endpoints: `GET /healthz` (liveness), `GET /readyz` (the readiness rules of
//! `crate::master::readiness`), `GET /metrics` (Prometheus text from `crate::metrics`).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use bbctl_api::Health;

use crate::master::readiness;
use crate::metrics::{self, Gauges, Sources};
use crate::state::AppState;
use crate::topology::Topology;

pub async fn healthz(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        reasons: Vec::new(),
        event_source: Some(state.hub().event_source().into()),
    })
}

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let verdict = readiness::assess(
        &state.config().master.basedir,
        state.rest(),
        state.master(),
        state.drain().holds_master(),
        state.lb(),
    )
    .await;
    let code = if verdict.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let health = Health {
        status: verdict.status().into(),
        reasons: verdict.reasons,
        event_source: Some(state.hub().event_source().into()),
    };
    (code, Json(health))
}

pub async fn metrics(
    State(state): State<AppState>,
    State(topology): State<Topology>,
) -> impl IntoResponse {
    let gauges = Gauges::sample(Sources {
        topology: &topology,
        rest: state.rest(),
        basedir: &state.config().master.basedir,
        runtime: state.master(),
        hub: state.hub(),
        draining: state.drain().holds_master(),
    })
    .await;
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics::render(&gauges, state.metrics()),
    )
}
