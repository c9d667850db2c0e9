//! Open endpoints: `GET /healthz` (liveness), `GET /readyz` (the master runs and is active),
//! `GET /metrics` (Prometheus text).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use bbctl_api::{Health, MasterState};

use crate::master::identity;
use crate::metrics::gauge;
use crate::state::AppState;
use crate::topology::{self, Snapshot, convert};

pub async fn healthz(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        reasons: Vec::new(),
        event_source: Some(state.hub().event_source().into()),
    })
}

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let mut reasons = Vec::new();
    let proc = topology::process_info(&state);
    if !proc.running {
        reasons.push("the master process is not running".to_owned());
    } else {
        match state.rest().masters().await {
            Err(e) => reasons.push(e.to_string()),
            Ok(masters) => {
                match identity::find(
                    &masters,
                    &state.config().master.basedir,
                    &state.master().identity,
                ) {
                    None => reasons.push("the master is not listed in /api/v2/masters".into()),
                    Some(m) if !m.active => {
                        reasons.push("the master is not active in Buildbot".into())
                    }
                    Some(_) => {}
                }
            }
        }
    }
    // Fault 8 (docs/faults.md): the process lives on after losing the WAMP router.
    if proc.running && crate::master::mq::lost_mq(&state.config().master.basedir) {
        reasons.insert(0, crate::master::mq::LOST_MQ.to_owned());
    }
    if let Some(phase) = state.master().phase() {
        reasons.push(format!("lifecycle operation in progress: {phase:?}").to_lowercase());
    }
    // A drain holds the master out of service: load balancers with health checks follow this.
    let draining = state.drain().holds_master();
    if draining {
        reasons.push("a drain holds this master out of service (GET /v1/drain)".into());
    }
    let ready = reasons.is_empty();
    let health = Health {
        status: if ready {
            "ready"
        } else if draining {
            "draining"
        } else {
            "not_ready"
        }
        .into(),
        reasons,
        event_source: Some(state.hub().event_source().into()),
    };
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(health))
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut out = String::new();
    let proc = topology::process_info(&state);
    let snap = Snapshot::fetch(state.rest()).await.ok();
    let row = snap.as_ref().and_then(|s| {
        identity::find(
            &s.masters,
            &state.config().master.basedir,
            &state.master().identity,
        )
        .cloned()
    });
    let master_state = topology::master_state(&state, proc.running, row.as_ref());
    out.push_str("# HELP bbctl_agent_master_state 1 for the master's current state.\n");
    out.push_str("# TYPE bbctl_agent_master_state gauge\n");
    for s in [
        MasterState::Stopped,
        MasterState::Starting,
        MasterState::Running,
        MasterState::Draining,
        MasterState::Drained,
        MasterState::Stopping,
        MasterState::Unhealthy,
    ] {
        let name = serde_json::to_value(s).unwrap_or_default();
        let _ = std::fmt::Write::write_fmt(
            &mut out,
            format_args!(
                "bbctl_agent_master_state{{state={name}}} {}\n",
                u8::from(s == master_state)
            ),
        );
    }
    gauge(
        &mut out,
        "bbctl_agent_master_up",
        "1 when the master process runs.",
        f64::from(u8::from(proc.running)),
    );
    let (builds, workers) = match (&snap, &row) {
        (Some(s), Some(m)) => (
            convert::builds_of(s, m.masterid).len(),
            convert::workers_of(s, m.masterid).len(),
        ),
        _ => (0, 0),
    };
    gauge(
        &mut out,
        "bbctl_agent_builds_running",
        "Builds running on this master.",
        builds as f64,
    );
    gauge(
        &mut out,
        "bbctl_agent_workers_connected",
        "Workers connected to this master.",
        workers as f64,
    );
    gauge(
        &mut out,
        "bbctl_agent_wamp_connected",
        "1 when events come from the WAMP router, 0 when polling.",
        f64::from(u8::from(state.hub().wamp_connected())),
    );
    gauge(
        &mut out,
        "bbctl_agent_draining",
        "1 while a drain holds this master out of service.",
        f64::from(u8::from(state.drain().holds_master())),
    );
    gauge(
        &mut out,
        "bbctl_agent_events_published",
        "Events published since start.",
        state.hub().last_seq() as f64,
    );
    state.metrics().render_http(&mut out);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
