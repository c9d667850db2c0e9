//! Shared test helpers: building an agent (state, router, TCP server) around a temp dir, a fake
//! Buildbot REST API, request helpers, and the path of the real Buildbot venv.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use bbctl_agent::AppState;
use bbctl_agent::buildbot::{
    Build, BuildRequest, BuildbotApi, Builder, ClusteredService, Master, RestError, RestResult,
    Worker, WorkerAction, WorkerRef,
};
use bbctl_agent::config::AgentConfig;
use bbctl_agent::db::Db;
use futures_util::future::BoxFuture;
use serde_json::Value;
use tower::ServiceExt;

pub const TOKEN: &str = "test-token-0123456789";

/// The Buildbot executable of the venv `scripts/install-deps` creates. Panics (fails the test)
/// when it is missing: these tests must not silently skip.
pub fn venv_buildbot() -> PathBuf {
    let home = std::env::var("HOME").expect("HOME is set");
    let p = Path::new(&home).join(".cache/bbctl/buildbot-4.3.0/bin/buildbot");
    assert!(
        p.is_file(),
        "{} is missing: run scripts/install-deps",
        p.display()
    );
    p
}

/// What the fake REST API answers; `None` masters = the API is down.
#[derive(Default, Clone)]
pub struct FakeData {
    pub down: bool,
    pub masters: Vec<Master>,
    pub workers: Vec<Worker>,
    pub builds: Vec<Build>,
    pub builders: Vec<Builder>,
    pub requests: Vec<BuildRequest>,
    pub schedulers: Vec<ClusteredService>,
    pub changesources: Vec<ClusteredService>,
}

#[derive(Default, Clone)]
pub struct FakeBuildbot(pub Arc<Mutex<FakeData>>);

impl FakeBuildbot {
    pub fn set(&self, f: impl FnOnce(&mut FakeData)) {
        f(&mut self.0.lock().unwrap());
    }

    fn answer<T: Clone + Send + 'static>(
        &self,
        pick: impl FnOnce(&FakeData) -> Vec<T>,
    ) -> BoxFuture<'static, RestResult<Vec<T>>> {
        let data = self.0.lock().unwrap();
        let result = if data.down {
            Err(RestError::Transport {
                url: "fake".into(),
                message: "connection refused".into(),
            })
        } else {
            Ok(pick(&data))
        };
        Box::pin(async move { result })
    }
}

impl BuildbotApi for FakeBuildbot {
    fn masters(&self) -> BoxFuture<'_, RestResult<Vec<Master>>> {
        self.answer(|d| d.masters.clone())
    }
    fn workers(&self) -> BoxFuture<'_, RestResult<Vec<Worker>>> {
        self.answer(|d| d.workers.clone())
    }
    fn running_builds(&self) -> BoxFuture<'_, RestResult<Vec<Build>>> {
        self.answer(|d| d.builds.clone())
    }
    fn builders(&self) -> BoxFuture<'_, RestResult<Vec<Builder>>> {
        self.answer(|d| d.builders.clone())
    }
    fn incomplete_buildrequests(&self) -> BoxFuture<'_, RestResult<Vec<BuildRequest>>> {
        self.answer(|d| d.requests.clone())
    }
    fn schedulers(&self) -> BoxFuture<'_, RestResult<Vec<ClusteredService>>> {
        self.answer(|d| d.schedulers.clone())
    }
    fn changesources(&self) -> BoxFuture<'_, RestResult<Vec<ClusteredService>>> {
        self.answer(|d| d.changesources.clone())
    }
    /// The fake's builds of `masterid` started at or after `since_secs`, as Buildbot filters.
    fn builds_started_since(
        &self,
        masterid: i64,
        since_secs: i64,
    ) -> BoxFuture<'_, RestResult<Vec<Build>>> {
        self.answer(|d| {
            d.builds
                .iter()
                .filter(|b| b.masterid == Some(masterid))
                .filter(|b| b.started_at.is_some_and(|t| t >= since_secs))
                .cloned()
                .collect()
        })
    }
    fn build_complete_at(&self, _buildid: i64) -> BoxFuture<'_, RestResult<Option<f64>>> {
        Box::pin(async { Ok(None) })
    }
    /// Pauses or unpauses the fake worker (as Buildbot stores it).
    fn control_worker<'a>(
        &'a self,
        worker: WorkerRef<'a>,
        action: WorkerAction,
        reason: &'a str,
    ) -> BoxFuture<'a, RestResult<()>> {
        let mut data = self.0.lock().unwrap();
        let result = if data.down {
            Err(RestError::Transport {
                url: "fake".into(),
                message: "connection refused".into(),
            })
        } else {
            if let Some(w) = data.workers.iter_mut().find(|w| w.workerid == worker.id) {
                w.paused = action == WorkerAction::Pause;
                w.pause_reason = w.paused.then(|| reason.to_owned());
            }
            Ok(())
        };
        Box::pin(async move { result })
    }
}

/// An agent around a temp dir. `basedir` is `<tmp>/master`, the state dir `<tmp>/state`.
pub struct TestAgent {
    pub dir: tempfile::TempDir,
    pub state: AppState,
    pub fake: FakeBuildbot,
}

pub struct AgentOptions {
    pub buildbot: PathBuf,
    pub rest_url: String,
    pub vars: String,
    /// Use the fake REST API (else the real one at `rest_url`).
    pub fake_rest: bool,
    pub start_timeout_secs: f64,
    pub poll_interval_secs: f64,
    /// `[master] db_url`.
    pub db_url: Option<String>,
    /// TOML appended after `[master.vars]` (further tables, such as `[buildbot_db]`).
    pub extra_toml: String,
}

impl Default for AgentOptions {
    fn default() -> Self {
        AgentOptions {
            buildbot: PathBuf::from("/nonexistent/buildbot"),
            rest_url: "http://127.0.0.1:9/".into(),
            vars: String::new(),
            fake_rest: true,
            start_timeout_secs: 60.0,
            poll_interval_secs: 0.1,
            db_url: None,
            extra_toml: String::new(),
        }
    }
}

impl TestAgent {
    pub fn new() -> Self {
        Self::with(AgentOptions::default())
    }

    pub fn with(opts: AgentOptions) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let toml = format!(
            r#"
name = "test-agent"
state_dir = "{state}"
token = "{TOKEN}"
poll_interval_secs = {poll}
[master]
basedir = "{base}"
buildbot = "{bb}"
rest_url = "{rest}"
start_timeout_secs = {timeout}
{db_url}
[master.vars]
{vars}
{extra}
"#,
            state = dir.path().join("state").display(),
            base = dir.path().join("master").display(),
            bb = opts.buildbot.display(),
            rest = opts.rest_url,
            timeout = opts.start_timeout_secs,
            poll = opts.poll_interval_secs,
            vars = opts.vars,
            db_url = opts
                .db_url
                .as_ref()
                .map(|u| format!("db_url = {u:?}"))
                .unwrap_or_default(),
            extra = opts.extra_toml,
        );
        let table: toml::Table = toml.parse().unwrap();
        let config = AgentConfig::from_table(&table, dir.path()).unwrap();
        let db = Db::open(&config.state_db_url).unwrap();
        let fake = FakeBuildbot::default();
        let state = if opts.fake_rest {
            AppState::with_rest(config, db, Arc::new(fake.clone()))
        } else {
            AppState::new(config, db)
        };
        TestAgent { dir, state, fake }
    }

    pub fn basedir(&self) -> PathBuf {
        self.state.config().master.basedir.clone()
    }

    /// One request through the router, in process.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_with(method, path, body, Some(TOKEN)).await
    }

    pub async fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> (StatusCode, Value) {
        let body = body.map(|b| b.to_string().into_bytes());
        self.raw(method, path, body, token).await
    }

    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        token: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b)),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let resp = bbctl_agent::routes::router(self.state.clone())
            .oneshot(req)
            .await
            .unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let json = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, json)
    }

    /// Serves the agent on 127.0.0.1:0; returns the base URL. Stops when the test ends.
    pub async fn serve_tcp(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = self.state.clone();
        tokio::spawn(bbctl_agent::serve(listener, state, std::future::pending()));
        format!("http://{addr}")
    }
}

/// Asserts the error envelope with `code`.
pub fn assert_error(status: StatusCode, body: &Value, expect: StatusCode, code: &str) {
    assert_eq!(status, expect, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

pub fn b64(content: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(content)
}

/// A `StageConfigRequest` body of one master.cfg.
pub fn stage_body(label: &str, master_cfg: &str) -> Value {
    serde_json::json!({
        "label": label,
        "files": [{"path": "master.cfg", "content_base64": b64(master_cfg.as_bytes())}],
    })
}

/// A free TCP port on 127.0.0.1 (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn master(id: i64, name: &str, active: bool) -> Master {
    Master {
        masterid: id,
        name: name.into(),
        active,
        last_active: Some(1_700_000_000),
    }
}
