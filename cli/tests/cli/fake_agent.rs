//! A fake bbctl agent: serves the `bbctl-api` wire types on 127.0.0.1:0 from a state the test
//! controls. Drains advance one build per `GET /v1/drain`.
//!
//! It answers like the real agent: status codes, error envelopes and messages, body shapes.
//! `server/tests/api/contract.rs` runs one table of requests against it and a real `bbctl-agent`
//! and fails on any difference, and on a route served here that the table does not cover.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bbctl_api::*;
use futures_util::StreamExt;

#[path = "fake_buildbot_db.rs"]
mod buildbot_db;
#[path = "fake_moves.rs"]
mod moves;

pub use buildbot_db::FakeDb;
use buildbot_db::{db_backup, db_info, db_ops, db_restore, db_upgrade};

pub const TOKEN: &str = "s3cret-token-value";

/// How a drain ends once its builds are gone.
#[derive(Clone, Copy)]
pub enum DrainEnd {
    Drained,
    DeadlinePassed,
}

pub struct FakeState {
    pub master: MasterInfo,
    pub fleet: FleetView,
    pub drain: Option<DrainStatus>,
    pub drain_end: DrainEnd,
    pub drain_requests: Vec<DrainRequest>,
    /// `PATCH /v1/drain` bodies, in order.
    pub drain_changes: Vec<DrainChange>,
    /// A step that keeps failing: the drain reports it and does not advance.
    pub drain_failing: Option<DrainFailure>,
    pub stop_requests: Vec<StopRequest>,
    pub start_requests: Vec<StartRequest>,
    /// The load balancer's routing state of this master (the fake's hook is a relay).
    pub routing: RoutingState,
    /// A drain took the master out of rotation and nothing gave it back yet.
    pub routing_by_drain: bool,
    pub events: Vec<Event>,
    /// The Buildbot DB behind `/v1/buildbot-db` (shared by the agents of one fleet).
    pub db: Arc<Mutex<FakeDb>>,
    /// `POST /v1/workers/{name}/move` calls, in order.
    pub move_requests: Vec<(String, MoveRequest)>,
    /// The agents a moved worker may land on (the one with the fewest workers takes it).
    pub lands_on: Vec<Arc<Mutex<FakeState>>>,
    /// This many answers of `GET /v1/master` come `slow_by` late (a busy master's agent).
    pub slow_master_answers: u32,
    pub slow_by: std::time::Duration,
}

pub struct FakeAgent {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<FakeState>>,
    server: tokio::task::JoinHandle<()>,
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

impl FakeAgent {
    /// Starts an agent named `name` whose master has `masterid` and is in `state`.
    pub fn start(name: &str, masterid: i64, state: MasterState) -> FakeAgent {
        FakeAgent::start_with(name, masterid, state, router)
    }

    /// [`FakeAgent::start`], serving the routes `routes` makes of its state.
    pub fn start_with(
        name: &str,
        masterid: i64,
        state: MasterState,
        routes: impl FnOnce(Arc<Mutex<FakeState>>) -> Router,
    ) -> FakeAgent {
        let state = Arc::new(Mutex::new(FakeState {
            master: master(name, masterid, state),
            fleet: fleet(),
            drain: None,
            drain_end: DrainEnd::Drained,
            drain_requests: Vec::new(),
            drain_changes: Vec::new(),
            drain_failing: None,
            stop_requests: Vec::new(),
            start_requests: Vec::new(),
            routing: RoutingState::Ready,
            routing_by_drain: false,
            events: vec![event(
                name,
                1,
                1_700_000_000.0 + masterid as f64,
                "agent.master_state",
                "master is running",
            )],
            db: Arc::new(Mutex::new(FakeDb::none())),
            move_requests: Vec::new(),
            lands_on: Vec::new(),
            slow_master_answers: 0,
            slow_by: std::time::Duration::ZERO,
        }));
        let app = routes(state.clone());
        let listener = runtime()
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let server = runtime().spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeAgent {
            addr,
            state,
            server,
        }
    }

    /// The agent dies: its port refuses connections from now on.
    pub fn kill(&self) {
        self.server.abort();
        while std::net::TcpStream::connect(self.addr).is_ok() {
            std::thread::yield_now();
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut FakeState) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }
}

/// Serves N agents from one process (for the benchmark too).
pub fn router(state: Arc<Mutex<FakeState>>) -> Router {
    Router::new()
        .route("/v1/version", get(version))
        .route("/v1/master", get(master_info))
        .route("/v1/fleet", get(fleet_view))
        .route("/v1/master/start", post(start))
        .route("/v1/master/stop", post(stop))
        .route("/v1/routing", get(routing_get))
        .route("/v1/routing/resume", post(routing_resume))
        .route(
            "/v1/drain",
            get(drain_get)
                .post(drain_post)
                .patch(drain_patch)
                .delete(drain_delete),
        )
        .route("/v1/workers/{name}/move", post(moves::move_worker))
        .route("/v1/events", get(events))
        .route("/v1/buildbot-db", get(db_info))
        .route("/v1/buildbot-db/ops/{upgrade_id}", get(db_ops))
        .route("/v1/buildbot-db/backup", post(db_backup))
        .route("/v1/buildbot-db/upgrade", post(db_upgrade))
        .route("/v1/buildbot-db/restore", post(db_restore))
        .with_state(state)
}

pub(crate) type Shared = State<Arc<Mutex<FakeState>>>;

pub fn error(code: ErrorCode, message: &str) -> Response {
    let status = StatusCode::from_u16(code.http_status()).unwrap();
    let body = ErrorEnvelope {
        error: ErrorBody {
            code,
            message: message.into(),
            details: None,
        },
    };
    (status, Json(body)).into_response()
}

/// The 401 answer when the bearer token is wrong (checked before the body, as the real agent's
/// middleware does).
pub fn rejected(headers: &HeaderMap) -> Option<Response> {
    let expected = format!("Bearer {TOKEN}");
    match headers.get("authorization").and_then(|v| v.to_str().ok()) {
        Some(value) if value == expected => None,
        _ => Some(error(
            ErrorCode::Unauthorized,
            "missing or wrong bearer token",
        )),
    }
}

/// The real agent's optional JSON body: empty means `{}`; a bad one is a 400 envelope.
pub fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Box<Response>> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    serde_json::from_slice(bytes).map_err(|e| {
        Box::new(error(
            ErrorCode::BadRequest,
            &format!("invalid JSON body: {e}"),
        ))
    })
}

/// The `X-Bbctl-Requested-By` header.
fn actor(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-bbctl-requested-by")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn version(State(s): Shared, headers: HeaderMap) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    let name = s.lock().unwrap().master.agent_name.clone();
    Json(VersionInfo {
        api_version: API_VERSION.into(),
        agent_version: "0.1.0".into(),
        agent_name: name,
    })
    .into_response()
}

async fn master_info(State(s): Shared, headers: HeaderMap) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    let late = {
        let mut s = s.lock().unwrap();
        let late = s.slow_master_answers > 0;
        s.slow_master_answers = s.slow_master_answers.saturating_sub(1);
        late.then_some(s.slow_by)
    };
    if let Some(by) = late {
        tokio::time::sleep(by).await;
    }
    let s = s.lock().unwrap();
    let mut info = s.master.clone();
    info.drain = s.drain.clone();
    info.routing = Some(s.routing);
    Json(info).into_response()
}

async fn fleet_view(State(s): Shared, headers: HeaderMap) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    Json(s.lock().unwrap().fleet.clone()).into_response()
}

fn op(kind: &str, message: &str) -> OperationResult {
    OperationResult {
        id: 1,
        kind: kind.into(),
        ok: true,
        message: message.into(),
        log_lines: vec![],
        started_at: 1_700_000_000.0,
        finished_at: Some(1_700_000_002.5),
        routing: None,
    }
}

/// The pid the fake's master runs as.
fn pid(master: &MasterInfo) -> u32 {
    4000 + master.masterid.unwrap_or(0) as u32
}

async fn start(State(s): Shared, headers: HeaderMap, bytes: Bytes) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    let req: StartRequest = match body(&bytes) {
        Ok(req) => req,
        Err(r) => return *r,
    };
    let mut s = s.lock().unwrap();
    s.start_requests.push(req.clone());
    if s.master.process.running {
        let message = format!("the master is already running (pid {})", pid(&s.master));
        return error(ErrorCode::Conflict, &message);
    }
    let routing = start_routing(&mut s, req.keep_out_of_rotation);
    // A master that starts claims the requests waiting in the DB.
    if let Some(info) = s.db.lock().unwrap().info.as_mut() {
        info.unclaimed_requests = info.unclaimed_requests.as_ref().map(|_| Vec::new());
    }
    let m = &mut s.master;
    m.state = MasterState::Running;
    m.active = Some(true);
    m.process = ProcessInfo {
        running: true,
        pid: Some(pid(m)),
        uptime_secs: Some(0.5),
    };
    let message = format!(
        "master running (pid {}, masterid {}, {}, buildbot {})",
        pid(m),
        m.masterid.unwrap_or(0),
        m.buildbot_name.as_deref().unwrap_or("?"),
        m.buildbot_executable.as_deref().unwrap_or("?"),
    );
    let mut result = op("start", &message);
    result.routing = Some(routing);
    Json(result).into_response()
}

/// What the real agent's start does about routing (`server/src/drain/routing.rs`), for the
/// cases the fake can be in.
fn start_routing(s: &mut FakeState, keep_out: bool) -> StartRouting {
    let before = s.routing;
    let (action, message) = match before {
        RoutingState::Ready => (
            RoutingAction::InRotation,
            "in rotation: the load balancer (relay) routes workers here".to_owned(),
        ),
        _ if s.routing_by_drain && keep_out => (
            RoutingAction::KeptOut,
            "kept out of rotation as asked: the load balancer (relay) still has it in maint, \
             where the drain left it"
                .to_owned(),
        ),
        _ if s.routing_by_drain => {
            s.routing = RoutingState::Ready;
            s.routing_by_drain = false;
            (
                RoutingAction::Resumed,
                "back in rotation: the load balancer (relay) routes workers here again (the \
                 drain had taken it out)"
                    .to_owned(),
            )
        }
        state => (
            RoutingAction::LeftOut,
            format!(
                "left out of rotation: the load balancer (relay) has it in {}, which no drain \
                 of this agent set (an operator did?)",
                state.as_str()
            ),
        ),
    };
    StartRouting {
        hook: "relay".into(),
        action,
        before,
        after: s.routing,
        message,
    }
}

async fn routing_get(State(s): Shared, headers: HeaderMap) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    let s = s.lock().unwrap();
    Json(RoutingInfo {
        hook: "relay".into(),
        routing: s.routing,
        reason: None,
    })
    .into_response()
}

/// Refused while a drain holds the master or while it is not running, as the real agent.
async fn routing_resume(State(s): Shared, headers: HeaderMap) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    let mut s = s.lock().unwrap();
    if s.drain.as_ref().is_some_and(|d| holds_master(d.phase)) {
        return error(
            ErrorCode::Conflict,
            "a drain holds this master out of service: cancel it (`bbctl drain cancel`) instead",
        );
    }
    if !s.master.process.running {
        return error(
            ErrorCode::Conflict,
            "the master is not running: start it before routing workers to it",
        );
    }
    let before = s.routing;
    s.routing = RoutingState::Ready;
    s.routing_by_drain = false;
    Json(RoutingResume {
        hook: "relay".into(),
        before,
        routing: s.routing,
    })
    .into_response()
}

async fn stop(State(s): Shared, headers: HeaderMap, bytes: Bytes) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    let req: StopRequest = match body(&bytes) {
        Ok(req) => req,
        Err(r) => return *r,
    };
    let mut s = s.lock().unwrap();
    s.stop_requests.push(req.clone());
    let m = &mut s.master;
    let message = if m.process.running {
        let mode = match req.mode {
            StopMode::Graceful => "graceful",
            StopMode::Immediate => "immediate",
        };
        format!("master stopped ({mode} stop, pid {})", pid(m))
    } else {
        "the master was not running".to_owned()
    };
    m.state = MasterState::Stopped;
    m.active = Some(false);
    m.process = ProcessInfo {
        running: false,
        pid: None,
        uptime_secs: None,
    };
    Json(op("stop", &message)).into_response()
}

/// Phases in which a drain holds the master (a new `POST /v1/drain` returns it).
fn holds_master(phase: DrainPhase) -> bool {
    matches!(
        phase,
        DrainPhase::Draining
            | DrainPhase::Stopping
            | DrainPhase::DeadlinePassed
            | DrainPhase::Cordoned
    )
}

/// The phase as the wire spells it.
fn phase_name(phase: DrainPhase) -> String {
    serde_json::to_value(phase)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A request the real agent refuses with 400 (`server/src/drain/operations.rs`).
fn bad_request(req: &DrainRequest) -> Option<Response> {
    if let Some(secs) = req.deadline_secs
        && !(secs.is_finite() && secs >= 0.0)
    {
        return Some(error(
            ErrorCode::BadRequest,
            "deadline_secs must be a non-negative number",
        ));
    }
    if req.cordon && (req.deadline_secs.is_some() || req.force_after_deadline) {
        return Some(error(
            ErrorCode::BadRequest,
            "a cordon takes no deadline (it never stops the master): drain the master instead to \
             give one",
        ));
    }
    None
}

/// 202 with a new drain, 200 with the one that already holds the master, as the real agent; a
/// drain asked of a cordoned master continues it (202).
async fn drain_post(State(s): Shared, headers: HeaderMap, bytes: Bytes) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    let req: DrainRequest = match body(&bytes) {
        Ok(req) => req,
        Err(r) => return *r,
    };
    let mut s = s.lock().unwrap();
    if let Some(d) = s.drain.clone()
        && holds_master(d.phase)
    {
        if d.phase == DrainPhase::Cordoned
            && !req.cordon
            && let Some(r) = bad_request(&req)
        {
            return r;
        }
        s.drain_requests.push(req.clone());
        if d.phase != DrainPhase::Cordoned || req.cordon {
            return Json(d).into_response();
        }
        // A drain of a cordoned master continues the cordon (server/src/drain/cordon.rs).
        let drain = s.drain.as_mut().unwrap();
        drain.phase = DrainPhase::Draining;
        drain.deadline_at = req.deadline_secs.map(|d| 1_700_000_000.0 + d);
        drain.force_after_deadline = req.force_after_deadline;
        drain.reason = req.reason.clone();
        drain.requested_by = req
            .requested_by
            .clone()
            .or_else(|| actor(&headers))
            .or(drain.requested_by.clone());
        drain.message = None;
        let drain = drain.clone();
        s.master.state = MasterState::Draining;
        return (StatusCode::ACCEPTED, Json(drain)).into_response();
    }
    if let Some(r) = bad_request(&req) {
        return r;
    }
    if !s.master.process.running {
        return error(ErrorCode::Conflict, "the master is not running");
    }
    let phase = if req.cordon {
        DrainPhase::Cordoned
    } else {
        DrainPhase::Draining
    };
    s.drain = Some(DrainStatus {
        id: s.drain_requests.len() as i64 + 1,
        phase,
        started_at: 1_700_000_000.0,
        finished_at: None,
        deadline_at: req.deadline_secs.map(|d| 1_700_000_000.0 + d),
        force_after_deadline: req.force_after_deadline,
        reason: req.reason.clone(),
        requested_by: req.requested_by.clone().or_else(|| actor(&headers)),
        builds_running: 2,
        builds_finished: 0,
        builds_requeued: 0,
        workers_attached: 2,
        workers_handed_off: vec![],
        message: None,
        running_builds: vec![],
        failing: None,
        cordoned_at: req.cordon.then_some(1_700_000_000.0),
    });
    s.master.state = if req.cordon {
        MasterState::Cordoned
    } else {
        MasterState::Draining
    };
    s.routing = RoutingState::Maint;
    s.routing_by_drain = true;
    s.drain_requests.push(req);
    (StatusCode::ACCEPTED, Json(s.drain.clone().unwrap())).into_response()
}

async fn drain_get(State(s): Shared, headers: HeaderMap) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    let mut guard = s.lock().unwrap();
    let s = &mut *guard;
    let Some(drain) = s.drain.as_mut() else {
        return error(ErrorCode::NotFound, "no drain has run on this agent");
    };
    drain.failing = s.drain_failing.clone();
    if drain.phase == DrainPhase::Draining && drain.failing.is_none() {
        drain.builds_running -= 1;
        drain.builds_finished += 1;
        drain.workers_attached -= 1;
        drain.workers_handed_off.push(HandoffInfo {
            worker: format!("w{}", drain.builds_finished),
            free_at: 1_700_000_001.0,
            attached_elsewhere_at: Some(1_700_000_003.0),
            to_master: Some("host:/srv/master-1".into()),
        });
        if drain.builds_running == 0 {
            drain.finished_at = Some(1_700_000_010.0);
            drain.phase = match s.drain_end {
                DrainEnd::Drained => DrainPhase::Drained,
                DrainEnd::DeadlinePassed => DrainPhase::DeadlinePassed,
            };
            if drain.phase == DrainPhase::Drained {
                // A drain ends by stopping the master.
                s.master.state = MasterState::Drained;
                s.master.active = Some(false);
                s.master.process = ProcessInfo {
                    running: false,
                    pid: None,
                    uptime_secs: None,
                };
            }
        }
    }
    Json(drain.clone()).into_response()
}

/// A new deadline (from now) or force for the drain in progress, as the real agent
/// (`server/src/drain/change.rs`): a drain stopped at its deadline goes on.
async fn drain_patch(State(s): Shared, headers: HeaderMap, bytes: Bytes) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    let req: DrainChange = match body(&bytes) {
        Ok(req) => req,
        Err(r) => return *r,
    };
    if req.deadline_secs.is_none() && req.force_after_deadline.is_none() {
        return error(
            ErrorCode::BadRequest,
            "nothing to change: give deadline_secs and/or force_after_deadline",
        );
    }
    if let Some(secs) = req.deadline_secs
        && !(secs.is_finite() && secs >= 0.0)
    {
        return error(
            ErrorCode::BadRequest,
            "deadline_secs must be a non-negative number",
        );
    }
    let mut s = s.lock().unwrap();
    s.drain_changes.push(req.clone());
    let Some(drain) = s.drain.as_mut() else {
        return error(ErrorCode::NotFound, "no drain");
    };
    let why = match drain.phase {
        DrainPhase::Draining | DrainPhase::DeadlinePassed => None,
        DrainPhase::Stopping => Some("nothing runs on the master any more, it is being stopped"),
        DrainPhase::Cordoned => Some("a cordon takes no deadline; drain the master to give one"),
        _ => Some("it has ended; a deadline only applies to a drain in progress"),
    };
    if let Some(why) = why {
        let message = format!("the drain is {}: {why}", phase_name(drain.phase));
        return error(ErrorCode::Conflict, &message);
    }
    let deadline = req
        .deadline_secs
        .map(|secs| fake_now() + secs)
        .or(drain.deadline_at);
    let force = req
        .force_after_deadline
        .unwrap_or(drain.force_after_deadline);
    if force && deadline.is_none() {
        return error(
            ErrorCode::BadRequest,
            "force_after_deadline needs a deadline: give deadline_secs too",
        );
    }
    drain.deadline_at = deadline;
    drain.force_after_deadline = force;
    if drain.phase == DrainPhase::DeadlinePassed {
        drain.phase = DrainPhase::Draining;
        drain.message = None;
    }
    Json(drain.clone()).into_response()
}

/// The fake's clock: the real one (a deadline counts from now).
fn fake_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Cancels a draining, deadline-passed or failed drain; 409 for any other phase.
async fn drain_delete(State(s): Shared, headers: HeaderMap) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    let mut guard = s.lock().unwrap();
    let s = &mut *guard;
    // The request that started the current drain (its id is one past the requests before it).
    let cordon_reason = s
        .drain
        .as_ref()
        .and_then(|d| s.drain_requests.get(usize::try_from(d.id - 1).ok()?))
        .and_then(|r| r.reason.clone());
    let Some(drain) = s.drain.as_mut() else {
        return error(ErrorCode::NotFound, "no drain");
    };
    if !matches!(
        drain.phase,
        DrainPhase::Draining
            | DrainPhase::DeadlinePassed
            | DrainPhase::Failed
            | DrainPhase::Cordoned
    ) {
        let message = format!(
            "the drain is {}: nothing to cancel{}",
            phase_name(drain.phase),
            if drain.phase == DrainPhase::Stopping {
                " (the master is being stopped)"
            } else {
                ""
            }
        );
        return error(ErrorCode::Conflict, &message);
    }
    if drain.cordoned_at.is_some()
        && matches!(
            drain.phase,
            DrainPhase::Draining | DrainPhase::DeadlinePassed
        )
    {
        // A drain that continued a cordon: back to the cordon (and its reason), nothing undone.
        drain.phase = DrainPhase::Cordoned;
        drain.reason = cordon_reason;
        drain.deadline_at = None;
        drain.force_after_deadline = false;
        let drain = drain.clone();
        s.master.state = MasterState::Cordoned;
        return Json(drain).into_response();
    }
    drain.phase = DrainPhase::Cancelled;
    let drain = drain.clone();
    s.master.state = MasterState::Running;
    s.routing = RoutingState::Ready;
    s.routing_by_drain = false;
    Json(drain).into_response()
}

/// Server-sent events: `id:` seq, `event:` kind, `data:` the event; `?since=SEQ` replays the
/// backlog after SEQ, and without it only new events come (none, here).
async fn events(State(s): Shared, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    let since = query
        .as_deref()
        .unwrap_or_default()
        .split('&')
        .find_map(|kv| kv.strip_prefix("since="))
        .and_then(|v| v.parse::<u64>().ok());
    let backlog: Vec<Event> = match since {
        Some(since) => s
            .lock()
            .unwrap()
            .events
            .iter()
            .filter(|e| e.seq > since)
            .cloned()
            .collect(),
        None => vec![],
    };
    let stream = futures_util::stream::iter(backlog)
        .map(|e| {
            Ok::<_, Infallible>(
                SseEvent::default()
                    .id(e.seq.to_string())
                    .event(e.kind.clone())
                    .data(serde_json::to_string(&e).unwrap()),
            )
        })
        .chain(futures_util::stream::pending());
    Sse::new(stream).into_response()
}

pub fn event(agent: &str, seq: u64, at: f64, kind: &str, summary: &str) -> Event {
    Event {
        seq,
        at,
        agent: agent.into(),
        kind: kind.into(),
        source: "agent".into(),
        summary: summary.into(),
        data: serde_json::Value::Null,
    }
}

fn master(name: &str, masterid: i64, state: MasterState) -> MasterInfo {
    let running = matches!(
        state,
        MasterState::Running | MasterState::Draining | MasterState::Cordoned
    );
    MasterInfo {
        agent_name: name.into(),
        state,
        buildbot_name: Some(format!("host:/srv/{name}")),
        masterid: Some(masterid),
        active: Some(running),
        last_active: Some(1_700_000_000),
        basedir: format!("/srv/{name}"),
        rest_url: "http://127.0.0.1:8010/api/v2".into(),
        process: ProcessInfo {
            running,
            pid: running.then_some(4000 + masterid as u32),
            uptime_secs: running.then_some(192.0),
        },
        buildbot_version: Some("4.3.0".into()),
        buildbot_executable: Some("/opt/buildbot-4.3/bin/buildbot".into()),
        buildbot_db_head: None,
        config: Some(ActiveConfig {
            sha256: "0123456789abcdef0123456789abcdef".into(),
            label: "v2".into(),
        }),
        workers: if running {
            vec![worker(
                masterid * 10,
                &format!("w-{name}"),
                masterid,
                vec![],
            )]
        } else {
            vec![]
        },
        builds: vec![],
        claimed_requests: vec![],
        drain: None,
        routing: Some(RoutingState::Unmanaged),
        routing_reason: None,
        problems: vec![],
        snapshot_age_secs: Some(0.0),
    }
}

fn worker(workerid: i64, name: &str, masterid: i64, builds: Vec<i64>) -> WorkerInfo {
    WorkerInfo {
        workerid,
        name: name.into(),
        connected_to: vec![masterid],
        paused: false,
        pause_reason: None,
        builds,
    }
}

/// The shared DB view: masters 1 and 2 plus one (masterid 7) outside the inventory.
fn fleet() -> FleetView {
    let fm = |masterid: i64, name: &str| FleetMaster {
        masterid,
        name: name.into(),
        active: true,
        last_active: None,
    };
    let mut paused = worker(3, "w3", 7, vec![]);
    paused.paused = true;
    paused.pause_reason = Some("maintenance".into());
    FleetView {
        masters: vec![
            fm(1, "host:/srv/master-1"),
            fm(2, "host:/srv/master-2"),
            fm(7, "other:/srv/x"),
        ],
        workers: vec![
            worker(1, "w1", 1, vec![11]),
            worker(2, "w2", 2, vec![]),
            paused,
        ],
        builds: vec![BuildInfo {
            buildid: 11,
            builderid: 1,
            builder_name: Some("runtests".into()),
            number: Some(5),
            workerid: Some(1),
            worker_name: Some("w1".into()),
            masterid: Some(1),
            started_at: Some(1_700_000_000),
            complete: false,
            state_string: Some("building".into()),
            results: None,
        }],
        unclaimed_requests: 0,
        claimed_requests: vec![],
        services: vec![],
    }
}
