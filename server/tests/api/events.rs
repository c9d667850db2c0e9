//! The SSE stream over TCP: replay with `?since=`, live agent events, and the polling source
//! turning REST changes into `buildbot.*` events.

use std::time::Duration;

use bbctl_agent::buildbot::MasterRef;
use bbctl_agent::buildbot::Worker;
use bbctl_api::Event;
use futures_util::StreamExt;

use crate::helpers::{TOKEN, TestAgent, master, stage_body};

/// Reads SSE events from `resp` until `want` matches one or `timeout` passes.
async fn next_matching(
    stream: &mut (impl futures_util::Stream<Item = reqwest::Result<axum::body::Bytes>> + Unpin),
    buf: &mut String,
    want: impl Fn(&Event) -> bool,
    timeout: Duration,
) -> Option<Event> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let data: String = block
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim_start)
                .collect();
            if data.is_empty() {
                continue;
            }
            let event: Event = serde_json::from_str(&data).unwrap();
            assert!(block.contains(&format!("id: {}", event.seq)), "{block}");
            assert!(block.contains(&format!("event: {}", event.kind)), "{block}");
            if want(&event) {
                return Some(event);
            }
        }
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .ok()??
            .ok()?;
        buf.push_str(&String::from_utf8_lossy(&chunk));
    }
}

async fn open(base: &str, query: &str) -> reqwest::Response {
    let resp = reqwest::Client::new()
        .get(format!("{base}/v1/events{query}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    resp
}

#[tokio::test]
async fn replays_the_backlog_and_streams_live_agent_events() {
    let agent = TestAgent::new();
    let base = agent.serve_tcp().await;
    agent
        .call("POST", "/v1/configs", Some(stage_body("v1", "x")))
        .await;
    let mut s = open(&base, "?since=0").await.bytes_stream();
    let mut buf = String::new();
    let first = next_matching(&mut s, &mut buf, |_| true, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(first.seq, 1);
    assert_eq!(first.kind, "agent.config");
    assert_eq!(first.source, "agent");
    assert_eq!(first.agent, "test-agent");

    // Live: an operation started after subscribing arrives on the same stream.
    agent.call("POST", "/v1/master/stop", None).await;
    let ev = next_matching(
        &mut s,
        &mut buf,
        |e| e.kind == "agent.operation",
        Duration::from_secs(5),
    )
    .await
    .expect("agent.operation event");
    assert!(ev.seq > first.seq);
    assert_eq!(ev.data["kind"], "stop");

    // Without ?since only new events come.
    let mut fresh = open(&base, "").await.bytes_stream();
    let mut buf2 = String::new();
    agent
        .call("POST", "/v1/configs", Some(stage_body("v2", "y")))
        .await;
    let ev = next_matching(&mut fresh, &mut buf2, |_| true, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(ev.kind, "agent.config");
    assert_eq!(ev.data["label"], "v2");
}

#[tokio::test]
async fn polling_turns_rest_changes_into_events_and_pauses_while_wamp_is_connected() {
    let agent = TestAgent::new();
    let base = agent.serve_tcp().await;
    agent
        .fake
        .set(|d| d.masters = vec![master(1, "vm:/m", false)]);
    let tasks = bbctl_agent::spawn_background(&agent.state);
    let mut s = open(&base, "").await.bytes_stream();
    let mut buf = String::new();
    tokio::time::sleep(Duration::from_millis(300)).await;
    agent.fake.set(|d| {
        d.masters[0].active = true;
        d.workers = vec![Worker {
            workerid: 3,
            name: "w".into(),
            paused: false,
            pause_reason: None,
            connected_to: vec![MasterRef { masterid: 1 }],
        }];
    });
    let started = next_matching(
        &mut s,
        &mut buf,
        |e| e.kind == "buildbot.masters.started",
        Duration::from_secs(3),
    )
    .await
    .expect("masters.started within the polling interval");
    assert_eq!(started.source, "polling");
    assert_eq!(started.data["masterid"], 1);
    let connected = next_matching(
        &mut s,
        &mut buf,
        |e| e.kind == "buildbot.workers.connected",
        Duration::from_secs(3),
    )
    .await
    .expect("workers.connected");
    assert_eq!(connected.data["name"], "w");

    // While WAMP is connected, polling emits nothing.
    agent.state.hub().set_wamp_connected(true);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = agent.state.hub().last_seq();
    agent.fake.set(|d| d.masters[0].active = false);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(agent.state.hub().last_seq(), before);
    // Back to polling: it re-reads a fresh snapshot and sees later changes.
    agent.state.hub().set_wamp_connected(false);
    tokio::time::sleep(Duration::from_millis(300)).await;
    agent.fake.set(|d| d.workers.clear());
    next_matching(
        &mut s,
        &mut buf,
        |e| e.kind == "buildbot.workers.disconnected",
        Duration::from_secs(3),
    )
    .await
    .expect("workers.disconnected after WAMP went away");
    for t in tasks {
        t.abort();
    }
}
