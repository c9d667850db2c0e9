//! Starting the agent as a library: [`serve`] runs the HTTP API on a bound listener until the
//! shutdown future resolves; [`spawn_background`] starts the event sources. `main` only loads
//! the config, binds and waits for a signal; tests bind `127.0.0.1:0` and call the same.

use axum::extract::FromRef;
use std::future::Future;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::config::AgentConfig;
use crate::db::{Db, operations};
use crate::events::polling;
use crate::routes;
use crate::state::AppState;

/// Opens the state DB (applying migrations), marks operations a previous process left
/// unfinished as interrupted, and builds the state.
pub async fn build_state(config: AgentConfig) -> anyhow::Result<AppState> {
    std::fs::create_dir_all(&config.state_dir).map_err(|e| {
        anyhow::anyhow!(
            "bad setting `state_dir`: cannot create {}: {e}",
            config.state_dir.display()
        )
    })?;
    // `[fleet]` settings that can make no store stop the agent here (exit 2).
    crate::fleet_store::FleetStore::check_config(&config)?;
    // The relay hook binds the worker port here: it must run before the master's workers come.
    let hook = crate::lb::build(&config.load_balancer).await?;
    // A load balancer that answers and says a setting is wrong stops the agent here (exit 2,
    // naming the setting), before the state DB is touched; one that does not answer yet shows
    // on /readyz.
    crate::lb::check::at_start(hook.as_ref()).await?;
    let url = config.state_db_url.clone();
    let db = tokio::task::spawn_blocking(move || Db::open(&url)).await??;
    let moves = db
        .run(|c| operations::unfinished(c, crate::drain::moves::MOVE_KIND))
        .await?;
    let interrupted = db.run(operations::fail_interrupted).await?;
    if interrupted > 0 {
        tracing::warn!(
            interrupted,
            "operations left unfinished by a previous agent marked failed"
        );
    }
    let state = AppState::new(config, db);
    state.set_lb(hook);
    state.drain().set_interrupted_move(moves > 0);
    // A store that does not answer yet is no reason to stop: its calls answer 503 until it does.
    if let Err(e) = state.fleet_store().connect_now().await {
        tracing::warn!(fleet = state.fleet_store().fleet(), error = %e, "fleet store not reachable at start");
    }
    Ok(state)
}

/// Background tasks: the polling event source (active while WAMP is not connected) and the
/// WAMP source. They end when `state`'s tasks are aborted (the returned handles).
pub fn spawn_background(state: &AppState) -> Vec<JoinHandle<()>> {
    let mut tasks = vec![tokio::spawn(polling::run(
        state.rest_handle(),
        state.hub().clone(),
        state.config().poll_interval,
    ))];
    // A Buildbot-DB operation a previous agent left running is resolved before any other is
    // served (the gate closes here, synchronously).
    let buildbot_db = crate::buildbot_db::BuildbotDb::from_ref(state);
    tasks.push(tokio::spawn(buildbot_db.resolve_interrupted()));
    // A drain a previous agent left running resumes from its saved state (docs/drain.md).
    tasks.push(tokio::spawn(state.drain().clone().resume()));
    // What a worker move a previous agent left unfinished changed is undone (docs/drain.md).
    tasks.push(tokio::spawn(state.drain().clone().recover_moves()));
    // Workers whose attach to this master failed half-way are made to reconnect (docs/drain.md).
    tasks.push(tokio::spawn(state.drain().clone().repair_attaches()));
    // The master's Buildbot version and schema head, cached before the first `GET /v1/master`.
    let configs = crate::configs::Configs::from_ref(state);
    tasks.push(tokio::spawn(async move { configs.code().warm().await }));
    // The registry: this agent's row at start and every `[fleet] heartbeat_secs`.
    tasks.push(tokio::spawn(crate::fleet_store::heartbeat_task(
        state.fleet_store().clone(),
        registration(state.config()),
        state.master_handle(),
    )));
    // WAMP SOURCE WIRING POINT: with a `[wamp]` section, the WAMP source subscribes to the
    // router and keeps `hub.set_wamp_connected` true while its session is up; the polling
    // source pauses meanwhile.
    if let Some(wamp) = state.config().wamp.clone() {
        tasks.push(tokio::spawn(crate::events::wamp_source::run(
            state.hub().clone(),
            wamp,
        )));
    }
    tasks
}

/// What this agent says about itself in the fleet registry.
pub fn registration(config: &AgentConfig) -> crate::fleet_store::Registration {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    crate::fleet_store::Registration {
        name: config.name.clone(),
        url: config.fleet.advertise_url.clone(),
        standby: config.fleet.standby,
        host,
    }
}

/// A clean shutdown: the registry row says the agent stopped (best effort).
pub async fn deregister(state: &AppState) {
    let name = state.config().name.clone();
    if let Err(e) = state.fleet_store().stopped(&name).await {
        tracing::warn!(error = %e, "could not mark this agent stopped in the fleet registry");
    }
}

/// Serves the API on `listener` until `shutdown` resolves: HTTPS when the config has a `[tls]`
/// section, plain HTTP otherwise.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    let router = routes::router(state.clone());
    match &state.config().tls {
        Some(tls) => {
            let server_config =
                crate::config::tls::server_config(tls).map_err(std::io::Error::other)?;
            let listener = crate::tls::TlsListener::new(listener, server_config)?;
            tracing::info!(%addr, agent = %state.config().name, scheme = "https", "bbctl-agent listening");
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
        }
        None => {
            tracing::info!(%addr, agent = %state.config().name, scheme = "http", "bbctl-agent listening");
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
}
