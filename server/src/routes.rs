//! Every route of the agent, in one place. `/v1` routes sit behind the bearer-token layer; the
//! health endpoints are open. Every route is counted and timed by `metrics::track`.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post, put};

use crate::handlers::{
    analysis, buildbot_db, configs, drain, events, fleet, fleet_docs, health, history, lifecycle,
    master, masters_table, moves, routing, version,
};
use crate::state::AppState;
use crate::{auth, configs::bundle::MAX_BUNDLE_BYTES, fence, metrics};

/// The request body limit of `POST /v1/configs`: the bundle limit in base64 plus JSON overhead.
pub const STAGE_BODY_LIMIT: usize = MAX_BUNDLE_BYTES / 3 * 4 + 1024 * 1024;
/// The request body limit of every other route.
pub const BODY_LIMIT: usize = 64 * 1024;

pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/version", get(version::get))
        .route("/master", get(master::get))
        .route("/master/workers", get(master::workers))
        .route("/master/builds", get(master::builds))
        // What the master did since a moment, for a canary upgrade's gate (issue 16).
        .route("/master/analysis", get(analysis::get))
        .route("/master/buildrequests", get(master::buildrequests))
        .route("/fleet", get(master::fleet))
        .route("/master/create", post(lifecycle::create))
        .route("/master/start", post(lifecycle::start))
        .route("/master/stop", post(lifecycle::stop))
        .route("/master/reconfig", post(lifecycle::reconfig))
        .route(
            "/configs",
            get(configs::list)
                .post(configs::stage)
                .layer(DefaultBodyLimit::max(STAGE_BODY_LIMIT)),
        )
        .route("/configs/{sha256}", get(configs::get))
        .route("/configs/{sha256}/checkconfig", post(configs::checkconfig))
        .route("/configs/{sha256}/activate", post(configs::activate))
        .route("/events", get(events::stream))
        .route("/operations", get(history::operations))
        .route("/audit", get(history::audit))
        // Fleet lease and upgrade journals, in the fleet store every agent reaches.
        .route(
            "/lease",
            put(fleet_docs::put_lease)
                .get(fleet_docs::get_lease)
                .delete(fleet_docs::delete_lease),
        )
        .route("/upgrades", get(fleet_docs::list_upgrades))
        .route(
            "/upgrades/{id}",
            put(fleet_docs::put_upgrade).get(fleet_docs::get_upgrade),
        )
        .route("/upgrades/{id}/entries", get(fleet_docs::upgrade_entries))
        .route("/fleet/store", get(fleet::store))
        .route("/fleet/agents", get(fleet::agents))
        // Buildbot's own database: the migrate strategy's backup, upgrade-master, restore.
        .route("/buildbot-db", get(buildbot_db::info))
        .route("/buildbot-db/ops/{upgrade_id}", get(buildbot_db::ops))
        .route("/buildbot-db/backup", post(buildbot_db::backup))
        .route("/buildbot-db/upgrade", post(buildbot_db::upgrade))
        .route("/buildbot-db/restore", post(buildbot_db::restore))
        // Hygiene of Buildbot's masters table (docs/masters.md).
        .route("/buildbot-db/masters", get(masters_table::table))
        .route("/buildbot-db/masters/expire", post(masters_table::expire))
        .route("/buildbot-db/masters/prune", post(masters_table::prune))
        // Back in rotation after a drain (upgrade issue: rolling, rollback).
        .route("/routing", get(routing::get))
        .route("/routing/resume", post(routing::resume))
        // One idle worker moved off this master (`bbctl workers rebalance`, issue 16).
        .route("/workers/{name}/move", post(moves::move_worker))
        // DRAIN (drain issue): `/drain` GET/POST/DELETE routes go here.
        .route(
            "/drain",
            get(drain::get)
                .post(drain::start)
                .patch(drain::change)
                .delete(drain::cancel),
        )
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // Every mutating call carrying a lease epoch is checked (`fence::is_fenced`), after
        // the token (the last route_layer runs first).
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            fence::check_epoch,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .nest("/v1", v1)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state)
}
