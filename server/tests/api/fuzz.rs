//! Malformed input against every documented operation (from `openapi.yaml`), with a valid
//! token: random JSON values, wrong-typed fields with the right names, random bytes, huge
//! strings, odd path parameters and odd query strings. The agent must never panic or answer
//! 5xx, and never echo the token. The agent's master is fake (`/nonexistent/buildbot`, a fake
//! REST API), so operations that would run Buildbot end in a 4xx at worst.
//!
//! Bounded: [`CASES`] cases per operation, in process through the router.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;
use tower::ServiceExt;

use crate::helpers::{TOKEN, TestAgent};
use crate::spec::{Operation, operations, valid_body};

const CASES: u32 = 256;

/// Field names the API uses, so that wrong-typed values reach the deserialisers' field logic.
const FIELDS: &[&str] = &[
    "reason",
    "mode",
    "label",
    "files",
    "path",
    "content_base64",
    "holder",
    "ttl_secs",
    "kind",
    "doc",
    "expected_version",
    "deadline_secs",
    "force_after_deadline",
    "requested_by",
    "upgrade_id",
    "vouched_stopped",
    "use_backup_command",
    "config_sha256",
    "from_head",
    "to_head",
    "timeout_secs",
];

#[derive(Debug, Clone)]
enum Input {
    Json(Value),
    WrongTypes(Value),
    Bytes(Vec<u8>),
    Huge(usize),
    OddPath(String),
    OddQuery(String),
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,40}".prop_map(Value::String),
        Just(Value::String("../../etc/passwd".into())),
        Just(Value::from(u64::MAX)),
        Just(Value::from(-1e308)),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{0,12}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn wrong_types() -> impl Strategy<Value = Value> {
    prop::collection::vec((prop::sample::select(FIELDS), json_value()), 0..6).prop_map(|pairs| {
        Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    })
}

/// A percent-encoded path segment or query value from arbitrary bytes, plus classics.
fn odd_text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..120)
            .prop_map(|b| b.iter().map(|c| format!("%{c:02X}")).collect()),
        "[a-zA-Z0-9._~-]{0,300}",
        Just("..".to_owned()),
        Just("%2e%2e%2f%2e%2e%2fetc%2fpasswd".to_owned()),
        Just("a%00b".to_owned()),
        Just("x".repeat(10_000)),
        Just("%FF%FE".to_owned()),
    ]
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        3 => json_value().prop_map(Input::Json),
        3 => wrong_types().prop_map(Input::WrongTypes),
        2 => prop::collection::vec(any::<u8>(), 0..512).prop_map(Input::Bytes),
        1 => prop::sample::select(vec![20_000usize, 70_000]).prop_map(Input::Huge),
        2 => odd_text().prop_map(Input::OddPath),
        2 => (odd_text(), odd_text()).prop_map(|(k, v)| Input::OddQuery(format!("{k}={v}&since={v}&limit={v}&holder={v}"))),
    ]
}

/// The request for `input` against `op`; `None` when the URI is not even valid HTTP (the
/// client library would refuse it before it left the machine).
fn request(op: &Operation, input: &Input) -> Option<Request<Body>> {
    let mut path = op.path();
    let mut body: Option<Vec<u8>> = valid_body(op).map(|b| b.to_string().into_bytes());
    match input {
        Input::Json(v) | Input::WrongTypes(v) => body = Some(v.to_string().into_bytes()),
        Input::Bytes(b) => body = Some(b.clone()),
        Input::Huge(n) => {
            let huge = "A".repeat(*n);
            body = Some(
                serde_json::json!({"reason": huge, "label": huge, "holder": huge})
                    .to_string()
                    .into_bytes(),
            );
        }
        Input::OddPath(segment) => {
            if !op.template.contains('{') {
                path = format!("{path}/{segment}");
            } else {
                path = op.path_with(|_| segment.clone());
            }
        }
        Input::OddQuery(q) => path = format!("{path}?{q}"),
    }
    let builder = Request::builder()
        .method(op.method.as_str())
        .uri(&path)
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json");
    builder.body(body.map_or_else(Body::empty, Body::from)).ok()
}

async fn check(agent: &TestAgent, op: &Operation, input: &Input) -> Result<(), TestCaseError> {
    let Some(req) = request(op, input) else {
        return Ok(());
    };
    let call = bbctl_agent::routes::router(agent.state.clone()).oneshot(req);
    let Ok(resp) = tokio::time::timeout(Duration::from_secs(20), call).await else {
        return Err(TestCaseError::fail("no answer within 20 s"));
    };
    let resp = resp.expect("the router is infallible");
    let status = resp.status();
    // The event stream never ends: its head is enough.
    let streaming = resp
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if status == StatusCode::OK && streaming {
        return Ok(());
    }
    let bytes = match tokio::time::timeout(
        Duration::from_secs(5),
        axum::body::to_bytes(resp.into_body(), usize::MAX),
    )
    .await
    {
        Ok(b) => b.map_err(|e| TestCaseError::fail(format!("body: {e}")))?,
        Err(_) if status == StatusCode::OK => return Ok(()),
        Err(_) => return Err(TestCaseError::fail(format!("{status}: body never ended"))),
    };
    let text = String::from_utf8_lossy(&bytes);
    // `/readyz` answers 503 by design while the master is not running (docs/api.md).
    let by_design = op.template == "/readyz" && status == StatusCode::SERVICE_UNAVAILABLE;
    prop_assert!(
        by_design || !status.is_server_error(),
        "{} {}: {status} {text}",
        op.method,
        op.template
    );
    prop_assert!(!text.contains(TOKEN), "token echoed: {text}");
    if status.is_client_error()
        && let Ok(json) = serde_json::from_slice::<Value>(&bytes)
    {
        prop_assert!(json["error"]["code"].is_string(), "not an envelope: {text}");
    }
    Ok(())
}

#[test]
fn malformed_input_never_panics_or_answers_5xx() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let agent = TestAgent::new();
    let started = std::time::Instant::now();
    let mut tried = 0;
    for op in operations() {
        let mut runner = TestRunner::new(Config {
            cases: CASES,
            failure_persistence: None,
            ..Config::default()
        });
        let result = runner.run(&input(), |input| {
            runtime.block_on(check(&agent, &op, &input))
        });
        if let Err(e) = result {
            panic!("{} {}: {e}", op.method, op.template);
        }
        tried += 1;
    }
    assert!(tried >= 28, "only {tried} operations");
    eprintln!(
        "fuzzed {tried} operations x {CASES} cases in {:?}",
        started.elapsed()
    );
}
