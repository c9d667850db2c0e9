//! The CLI tests' fake agent (`cli/tests/cli/fake_agent.rs`) answers like the real one.
//!
//! One table of requests ([`STEPS`]) runs, in order, against both a fake agent and the real
//! `bbctl-agent` binary (spawned with a config file, beside a stand-in `buildbot` executable and
//! a fake Buildbot REST API over HTTP). For every step both must answer the same status, the
//! same content type, the same error envelope (code, and message once numbers and paths are
//! masked), bodies of the same shape (the same JSON keys and value types, recursively), and the
//! same values at the JSON pointers the CLI relies on; every status the real agent answers must
//! be one `server/openapi.yaml` documents for that operation. Every route the fake serves must
//! appear in the table, so a route added to the fake without a contract row fails here too.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{Method, Uri};
use bbctl_api::MasterState;
use serde_json::{Value, json};

use crate::agent_process::AgentProcess;
use crate::fake_agent::{FakeAgent, TOKEN};
use crate::helpers::free_port;

/// The credentials a step sends.
#[derive(Clone, Copy)]
enum Token {
    Right,
    Wrong,
    Missing,
}

/// One request of the contract.
struct Step {
    method: &'static str,
    path: &'static str,
    body: Option<&'static str>,
    token: Token,
    /// JSON pointers whose values must agree (strings compared after [`mask`]).
    same: &'static [&'static str],
    /// Repeated (on each agent on its own) while the answer is a drain still running: the
    /// real drain moves on by itself, the fake's with each `GET /v1/drain`.
    while_draining: bool,
}

const fn get(path: &'static str, same: &'static [&'static str]) -> Step {
    Step {
        method: "GET",
        path,
        body: None,
        token: Token::Right,
        same,
        while_draining: false,
    }
}

const fn post(path: &'static str, body: &'static str, same: &'static [&'static str]) -> Step {
    Step {
        method: "POST",
        path,
        body: Some(body),
        token: Token::Right,
        same,
        while_draining: false,
    }
}

const fn delete(path: &'static str, same: &'static [&'static str]) -> Step {
    Step {
        method: "DELETE",
        path,
        body: None,
        token: Token::Right,
        same,
        while_draining: false,
    }
}

const fn patch(path: &'static str, body: &'static str, same: &'static [&'static str]) -> Step {
    Step {
        method: "PATCH",
        path,
        body: Some(body),
        token: Token::Right,
        same,
        while_draining: false,
    }
}

const fn with_token(step: Step, token: Token) -> Step {
    Step { token, ..step }
}

const fn until_drain_ends(step: Step) -> Step {
    Step {
        while_draining: true,
        ..step
    }
}

const MASTER: &[&str] = &[
    "/agent_name",
    "/state",
    "/masterid",
    "/active",
    "/process/running",
];
const DRAIN: &[&str] = &[
    "/phase",
    "/reason",
    "/requested_by",
    "/force_after_deadline",
];
const OPERATION: &[&str] = &["/kind", "/ok", "/message"];

/// The requests, in order, starting from a running master `master-1` (masterid 1) that never
/// drained. Error answers always compare `/error/code` and `/error/message` as well.
const STEPS: &[Step] = &[
    get("/v1/version", &["/api_version", "/agent_name"]),
    with_token(get("/v1/master", &[]), Token::Wrong),
    with_token(get("/v1/master", &[]), Token::Missing),
    get("/v1/master", MASTER),
    get("/v1/routing", &["/hook", "/routing"]),
    post("/v1/routing/resume", "", &["/hook", "/before", "/routing"]),
    get("/v1/fleet", &[]),
    // One worker's move (issue 16): bad input, a worker Buildbot does not know.
    post("/v1/workers/nope/move", r#"{"timeout_secs": 0}"#, &[]),
    post("/v1/workers/nope/move", r#"{"when": 1}"#, &[]),
    post("/v1/workers/nope/move", "{}", &[]),
    get("/v1/drain", &[]),
    delete("/v1/drain", &[]),
    patch("/v1/drain", r#"{"deadline_secs": 60}"#, &[]),
    post("/v1/master/start", r#"{"reason": "contract"}"#, &[]),
    post("/v1/drain", r#"{"nope": 1}"#, &[]),
    post("/v1/drain", r#"{"deadline_secs": -1}"#, &[]),
    post("/v1/drain", r#"{"reason": "contract"}"#, DRAIN),
    post("/v1/drain", r#"{"reason": "again"}"#, DRAIN),
    get("/v1/drain", DRAIN),
    // A new deadline for the drain in progress (issue 12).
    patch("/v1/drain", "{}", &[]),
    patch("/v1/drain", r#"{"deadline_secs": -5}"#, &[]),
    patch("/v1/drain", r#"{"force_after_deadline": true}"#, &[]),
    patch("/v1/drain", r#"{"when": 1}"#, &[]),
    patch(
        "/v1/drain",
        r#"{"deadline_secs": 3600, "force_after_deadline": true}"#,
        &["/phase", "/force_after_deadline"],
    ),
    get("/v1/master", &["/state", "/drain/phase"]),
    delete("/v1/drain", DRAIN),
    delete("/v1/drain", &[]),
    get("/v1/drain", DRAIN),
    patch("/v1/drain", r#"{"deadline_secs": 60}"#, &[]),
    // A cordon (issue 16): no deadline; it holds; a drain continues it and its cancel returns
    // to it; the next cancel is the uncordon.
    post("/v1/drain", r#"{"cordon": true, "deadline_secs": 60}"#, &[]),
    post(
        "/v1/drain",
        r#"{"cordon": true, "reason": "cordon"}"#,
        DRAIN,
    ),
    post("/v1/drain", r#"{"cordon": true}"#, DRAIN),
    get("/v1/master", &["/state", "/drain/phase"]),
    patch("/v1/drain", r#"{"deadline_secs": 60}"#, &[]),
    post(
        "/v1/drain",
        r#"{"reason": "after the cordon", "deadline_secs": 3600}"#,
        DRAIN,
    ),
    delete("/v1/drain", DRAIN),
    get("/v1/master", &["/state", "/drain/phase"]),
    delete("/v1/drain", DRAIN),
    get("/v1/master", &["/state", "/drain/phase"]),
    post("/v1/master/stop", r#"{"mode": "sideways"}"#, &[]),
    post(
        "/v1/master/stop",
        r#"{"mode": "immediate", "reason": "contract"}"#,
        OPERATION,
    ),
    get("/v1/master", MASTER),
    post("/v1/master/stop", "", OPERATION),
    post("/v1/drain", "{}", &[]),
    post("/v1/master/start", "", OPERATION),
    get("/v1/master", MASTER),
    // A drain to its end (the restarted master runs no build).
    post(
        "/v1/drain",
        r#"{"reason": "to the end", "deadline_secs": 600}"#,
        DRAIN,
    ),
    until_drain_ends(get(
        "/v1/drain",
        &["/phase", "/reason", "/builds_running", "/workers_attached"],
    )),
    get("/v1/master", MASTER),
    // A drained master stays out of rotation until a start puts it back (issue 12).
    get("/v1/routing", &["/routing"]),
    post("/v1/routing/resume", "", &[]),
    post(
        "/v1/master/start",
        r#"{"keep_out_of_rotation": true}"#,
        &[
            "/ok",
            "/routing/action",
            "/routing/before",
            "/routing/after",
        ],
    ),
    get("/v1/master", &["/routing"]),
    post("/v1/routing/resume", "", &["/before", "/routing"]),
    post("/v1/master/stop", "", OPERATION),
    post("/v1/drain", "{}", &[]),
    delete("/v1/drain", &[]),
    get("/v1/events?since=0", &["/fields"]),
    // Buildbot's database (issue 13): this agent has no `[master] db_url`.
    get("/v1/buildbot-db", &[]),
    get("/v1/buildbot-db/ops/u-1", &[]),
    get("/v1/buildbot-db/ops/.u-1", &[]),
    post("/v1/buildbot-db/backup", r#"{"upgrade_id": "u-1"}"#, &[]),
    post("/v1/buildbot-db/backup", r#"{"upgrade_id": "u/1"}"#, &[]),
    post(
        "/v1/buildbot-db/upgrade",
        r#"{"upgrade_id": "u-1", "config_sha256": "00", "from_head": "066", "to_head": "067"}"#,
        &[],
    ),
    post(
        "/v1/buildbot-db/upgrade",
        r#"{"upgrade_id": "u-1", "config_sha256": "00", "from_head": "066", "to_head": "067", "timeout_secs": -1}"#,
        &[],
    ),
    post("/v1/buildbot-db/restore", r#"{"upgrade_id": "u-1"}"#, &[]),
    with_token(get("/v1/buildbot-db", &[]), Token::Missing),
];

#[test]
fn the_cli_tests_fake_agent_answers_like_the_real_agent() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let real = RealAgent::start(&rt, "master-1");
    let fake = FakeAgent::start("master-1", 1, MasterState::Running);
    let client = reqwest::Client::new();
    let mut drift = Vec::new();
    for (i, step) in STEPS.iter().enumerate() {
        let theirs = rt.block_on(send_step(&client, &real.agent.url, step));
        let ours = rt.block_on(send_step(&client, &fake.url(), step));
        for d in compare(step, &ours, &theirs) {
            drift.push(format!("step {i}: {} {}: {d}", step.method, step.path));
        }
    }
    assert!(
        drift.is_empty(),
        "the fake agent (cli/tests/cli/fake_agent.rs) drifted from the real agent:\n{}\n\
         real agent's log:\n{}",
        drift.join("\n"),
        real.agent.log_text()
    );
}

#[test]
fn every_route_of_the_fake_agent_is_in_the_contract() {
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../cli/tests/cli/fake_agent.rs"
    ))
    .unwrap();
    let mut routes = Vec::new();
    for chunk in source.split(".route(").skip(1) {
        let rest = &chunk[chunk.find('"').unwrap() + 1..];
        let path = &rest[..rest.find('"').unwrap()];
        // The handlers of this route: up to the next route, or the end of the router.
        let handlers = rest.split(".with_state(").next().unwrap();
        for method in ["get", "post", "put", "delete", "patch"] {
            let called = handlers
                .match_indices(&format!("{method}("))
                .any(|(at, _)| {
                    at == 0
                        || !handlers.as_bytes()[at - 1].is_ascii_alphanumeric()
                            && handlers.as_bytes()[at - 1] != b'_'
                });
            if called {
                routes.push((method.to_ascii_uppercase(), path.to_owned()));
            }
        }
    }
    assert!(routes.len() >= 8, "found only {routes:?} in fake_agent.rs");
    for (method, path) in routes {
        assert!(
            STEPS
                .iter()
                .any(|s| s.method == method && templated(&path, s.path.split('?').next().unwrap())),
            "the fake agent serves {method} {path} but the contract has no step for it"
        );
    }
}

/// An answer reduced to what the contract compares.
#[derive(Debug)]
struct Answer {
    status: u16,
    /// Without parameters (`application/json`, `text/event-stream`), empty when absent.
    content_type: String,
    /// JSON as is; an event stream as `{"fields": [names of the first event's fields], "data":
    /// its data as JSON}`; any other body as a string.
    body: Value,
}

/// Sends `step`, again and again while it asks to and the drain it answers is still running.
async fn send_step(client: &reqwest::Client, base: &str, step: &Step) -> Answer {
    for _ in 0..600 {
        let answer = send(client, base, step).await;
        let running = matches!(
            answer.body.pointer("/phase").and_then(Value::as_str),
            Some("draining" | "stopping")
        );
        if !(step.while_draining && answer.status == 200 && running) {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{base}: the drain never ended");
}

async fn send(client: &reqwest::Client, base: &str, step: &Step) -> Answer {
    let method = reqwest::Method::from_bytes(step.method.as_bytes()).unwrap();
    let mut req = client
        .request(method, format!("{base}{}", step.path))
        .header("x-bbctl-requested-by", "contract@test")
        .timeout(Duration::from_secs(60));
    req = match step.token {
        Token::Right => req.bearer_auth(TOKEN),
        Token::Wrong => req.bearer_auth("not-the-token"),
        Token::Missing => req,
    };
    if let Some(body) = step.body {
        req = req
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    let mut resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{} {base}{}: {e}", step.method, step.path));
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    let body = if content_type == "text/event-stream" {
        let mut text = String::new();
        while !text.contains("\n\n") {
            let chunk = resp
                .chunk()
                .await
                .unwrap_or_else(|e| panic!("{base}{}: {e}", step.path))
                .unwrap_or_else(|| panic!("{base}{}: the stream ended: {text:?}", step.path));
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        first_event(&text)
    } else {
        let bytes = resp.bytes().await.unwrap();
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Answer {
        status,
        content_type,
        body,
    }
}

/// The first event of a server-sent-events text: its field names, and its data as JSON.
fn first_event(text: &str) -> Value {
    let mut fields = Vec::new();
    let mut data = Value::Null;
    for line in text.lines().filter(|l| !l.starts_with(':')) {
        if line.is_empty() {
            if fields.is_empty() {
                continue;
            }
            break;
        }
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        if name == "data" {
            data = serde_json::from_str(value.trim_start()).unwrap_or(Value::Null);
        }
        fields.push(Value::String(name.to_owned()));
    }
    fields.sort_by_key(|f| f.as_str().unwrap_or_default().to_owned());
    json!({"fields": fields, "data": data})
}

/// Everything in which the fake's answer differs from the real agent's.
fn compare(step: &Step, fake: &Answer, real: &Answer) -> Vec<String> {
    let mut out = Vec::new();
    if fake.status != real.status {
        out.push(format!(
            "status: the fake answers {}, the real agent {} ({})",
            fake.status, real.status, real.body
        ));
    }
    if fake.content_type != real.content_type {
        out.push(format!(
            "content type: the fake answers {:?}, the real agent {:?}",
            fake.content_type, real.content_type
        ));
    }
    shape(&fake.body, &real.body, "", &mut out);
    let envelope: &[&str] = if fake.status >= 400 || real.status >= 400 {
        &["/error/code", "/error/message"]
    } else {
        &[]
    };
    for pointer in step.same.iter().chain(envelope) {
        let (f, r) = (fake.body.pointer(pointer), real.body.pointer(pointer));
        if f.map(masked) != r.map(masked) {
            out.push(format!(
                "{pointer}: the fake answers {}, the real agent {}",
                show(f),
                show(r)
            ));
        }
    }
    let path = step.path.split('?').next().unwrap();
    let documented = documented_statuses(step.method, path);
    if !documented.contains(&real.status) {
        out.push(format!(
            "openapi.yaml documents {documented:?} for {} {path}, the real agent answered {}",
            step.method, real.status
        ));
    }
    out
}

fn show(v: Option<&Value>) -> String {
    v.map_or_else(|| "nothing".to_owned(), Value::to_string)
}

fn masked(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(mask(s)),
        other => other.clone(),
    }
}

/// A message with what legitimately differs between two agents masked: every word with a `/`
/// (paths, `host:/basedir` names) becomes `<path>`, every run of digits (pids, ids) `N`.
fn mask(message: &str) -> String {
    let words: Vec<String> = message
        .split(' ')
        .map(|w| {
            if w.contains('/') {
                let core = w.trim_end_matches([',', ')', ';', '.']);
                format!("<path>{}", &w[core.len()..])
            } else {
                w.to_owned()
            }
        })
        .collect();
    let mut out = String::new();
    for c in words.join(" ").chars() {
        if c.is_ascii_digit() {
            if !out.ends_with('N') {
                out.push('N');
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Adds to `out` where `fake` and `real` differ in shape: object keys, value types. `null` and
/// an empty array match anything (the two agents' data differ; their types do not).
fn shape(fake: &Value, real: &Value, at: &str, out: &mut Vec<String>) {
    match (fake, real) {
        (Value::Null, _) | (_, Value::Null) => {}
        (Value::Object(f), Value::Object(r)) => {
            for k in f.keys().filter(|k| !r.contains_key(*k)) {
                out.push(format!("{at}/{k}: only the fake answers it"));
            }
            for k in r.keys().filter(|k| !f.contains_key(*k)) {
                out.push(format!("{at}/{k}: only the real agent answers it"));
            }
            for (k, fv) in f {
                if let Some(rv) = r.get(k) {
                    shape(fv, rv, &format!("{at}/{k}"), out);
                }
            }
        }
        (Value::Array(f), Value::Array(r)) => {
            if let (Some(a), Some(b)) = (f.first(), r.first()) {
                shape(a, b, &format!("{at}/0"), out);
            }
        }
        (a, b) if kind(a) == kind(b) => {}
        (a, b) => out.push(format!(
            "{at}: the fake answers {} ({a}), the real agent {} ({b})",
            kind(a),
            kind(b)
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The response statuses `openapi.yaml` lists for `method path` (its two-space layout: a path
/// `  /…:`, a method `    get:`, a response `        "200": …`).
fn documented_statuses(method: &str, path: &str) -> Vec<u16> {
    let spec =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml")).unwrap();
    let method = method.to_ascii_lowercase();
    let (mut in_path, mut in_op) = (false, false);
    let mut statuses = Vec::new();
    for line in spec.lines() {
        if let Some(p) = line.strip_prefix("  /").and_then(|l| l.strip_suffix(':')) {
            in_path = templated(&format!("/{p}"), path);
            in_op = false;
        } else if !line.starts_with("  ") {
            in_path = false;
        } else if let Some(m) = line
            .strip_prefix("    ")
            .and_then(|l| l.strip_suffix(':'))
            .filter(|m| !m.starts_with(' '))
        {
            in_op = in_path && m == method;
        } else if in_op
            && let Some(code) = line
                .strip_prefix("        \"")
                .and_then(|l| l.get(..3))
                .and_then(|c| c.parse().ok())
        {
            statuses.push(code);
        }
    }
    statuses
}

/// Whether `path` is an instance of `template`, whose `{param}` segments match any segment.
fn templated(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| t == p || (t.starts_with('{') && t.ends_with('}')))
}

/// The stand-in for `buildbot`: `--version`, and `start --quiet BASEDIR`, which starts a long
/// sleep as the "master" (its pid in twistd.pid, its working directory the basedir, as the
/// agent checks) and logs what a started master logs.
const FAKE_BUILDBOT: &str = r#"#!/bin/sh
case "$1" in
--version) echo "Buildbot version: 4.3.0" ;;
start)
    cd "$3" || exit 1
    sleep 600 </dev/null >/dev/null 2>&1 &
    echo $! > twistd.pid
    echo "BuildMaster is running" >> twistd.log
    ;;
*) exit 1 ;;
esac
"#;

/// The real `bbctl-agent` binary beside a stand-in master: a running `sleep` in the basedir, a
/// fake Buildbot REST API that lists it (active while the process lives) with one build that
/// keeps a drain draining, and a relay load-balancer hook.
struct RealAgent {
    agent: AgentProcess,
    master: Child,
    basedir: PathBuf,
    /// Removed last, once the processes that use it are gone.
    _dir: tempfile::TempDir,
}

impl RealAgent {
    fn start(rt: &tokio::runtime::Runtime, name: &str) -> RealAgent {
        let dir = tempfile::tempdir().unwrap();
        let basedir = dir.path().join("master");
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&basedir).unwrap();
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(basedir.join("buildbot.tac"), "# stand-in\n").unwrap();
        let buildbot = bin.join("buildbot");
        std::fs::write(&buildbot, FAKE_BUILDBOT).unwrap();
        std::fs::set_permissions(
            &buildbot,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let master = Command::new("sleep")
            .arg("600")
            .current_dir(&basedir)
            .spawn()
            .unwrap();
        std::fs::write(basedir.join("twistd.pid"), master.id().to_string()).unwrap();
        let rest = rt.block_on(fake_rest(basedir.clone(), master.id() as i32));
        let port = free_port();
        let config = dir.path().join("agent.toml");
        std::fs::write(
            &config,
            format!(
                r#"
name = "{name}"
listen = "127.0.0.1:{port}"
state_dir = "{state}"
token = "{TOKEN}"
poll_interval_secs = 0.1
[master]
basedir = "{base}"
buildbot = "{bb}"
rest_url = "{rest}"
start_timeout_secs = 60
[load_balancer]
kind = "relay"
listen = "127.0.0.1:{relay}"
target = "127.0.0.1:{target}"
"#,
                state = dir.path().join("state").display(),
                base = basedir.display(),
                bb = buildbot.display(),
                relay = free_port(),
                target = free_port(),
            ),
        )
        .unwrap();
        let agent = AgentProcess::spawn(&config, port, &dir.path().join("agent.log"));
        RealAgent {
            agent,
            master,
            basedir,
            _dir: dir,
        }
    }
}

impl Drop for RealAgent {
    fn drop(&mut self) {
        let _ = self.master.kill();
        let _ = self.master.wait();
        // A master the stand-in `buildbot start` left running.
        if let Some(pid) = live_pid(&self.basedir) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// The pid in `basedir/twistd.pid` if that process lives (not a zombie) in `basedir`.
fn live_pid(basedir: &Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(basedir.join("twistd.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let state = stat.rsplit_once(") ")?.1.chars().next()?;
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok()?;
    (state != 'Z' && cwd == basedir.canonicalize().ok()?).then_some(pid)
}

/// What the fake REST API looks at: the basedir, and the pid of the first master process (the
/// only one that runs a build).
struct Rest {
    basedir: PathBuf,
    first_pid: i32,
}

/// Serves a fake Buildbot REST API (`/api/v2/<collection>`) on 127.0.0.1:0; returns its URL.
async fn fake_rest(basedir: PathBuf, first_pid: i32) -> String {
    let app = axum::Router::new()
        .fallback(rest_answer)
        .with_state(Arc::new(Rest { basedir, first_pid }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/")
}

async fn rest_answer(State(rest): State<Arc<Rest>>, method: Method, uri: Uri) -> Json<Value> {
    if method != Method::GET {
        // A control call (JSON-RPC): accepted.
        return Json(json!({"jsonrpc": "2.0", "result": null, "id": 1}));
    }
    let live = live_pid(&rest.basedir);
    let collection = uri.path().trim_start_matches("/api/v2/").to_owned();
    let items = match collection.as_str() {
        "masters" => json!([
            {"masterid": 1, "name": format!("vm:{}", rest.basedir.display()),
             "active": live.is_some(), "last_active": 1_700_000_000},
            {"masterid": 2, "name": "vm:/srv/other", "active": true, "last_active": 1_700_000_000},
        ]),
        "workers" => json!([
            {"workerid": 20, "name": "w-other", "paused": false, "pause_reason": null,
             "connected_to": [{"masterid": 2}]},
        ]),
        // A build without a worker on the first master process: a drain stays `draining`
        // while it runs; once that process is gone, nothing runs.
        "builds" if live == Some(rest.first_pid) => json!([
            {"buildid": 100, "builderid": 5, "number": 1, "workerid": null, "masterid": 1,
             "buildrequestid": 7, "started_at": 1_700_000_001, "complete": false,
             "state_string": "building", "results": null},
        ]),
        "builders" => json!([{"builderid": 5, "name": "runtests"}]),
        _ => json!([]),
    };
    let total = items.as_array().map_or(0, Vec::len);
    let mut answer = serde_json::Map::new();
    answer.insert(collection, items);
    answer.insert("meta".into(), json!({ "total": total }));
    Json(Value::Object(answer))
}
