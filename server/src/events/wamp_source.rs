//! The WAMP event source: follows the fleet's Buildbot message queue on the crossbar router
//! (prefix subscription on `org.buildbot.mq.`) and turns each resource event into a `buildbot.*`
//! hub event with source `wamp`. It keeps the hub's "WAMP connected" flag equal to the state of
//! its session, so the polling source runs exactly while this one cannot deliver.
//!
//! Buildbot publishes one event on several routing keys (a build on `builds.<buildid>.new`,
//! `builders.<builderid>.builds.<number>.new` and `workers.<workerid>.builds.<buildid>.new`); only
//! the canonical `<collection>.<id>.<event>` form is forwarded, so each event appears once. Log
//! events (`logs.<id>.append` for every chunk) and control messages are not forwarded.

use bbctl_wamp::{EventMessage, Match, ReconnectOptions, ReconnectingClient};
use serde_json::{Value, json};

use crate::config::WampConfig;
use crate::events::EventHub;

/// The topic prefix under which Buildbot's WAMP MQ publishes (`WampMQ.NAMESPACE` + `.`).
pub const TOPIC_PREFIX: &str = "org.buildbot.mq.";

/// Collections whose events are too chatty or not about fleet state.
const SKIPPED_COLLECTIONS: &[&str] = &["logs"];

/// Runs until the task is aborted: subscribes (re-subscribing after every reconnection),
/// publishes events, and tracks the connection flag.
pub async fn run(hub: EventHub, wamp: WampConfig) {
    // Lowered however this task ends, aborted included, so that polling takes over.
    let _flag = LowerOnDrop(&hub);
    let client =
        match ReconnectingClient::start(&wamp.router_url, &wamp.realm, ReconnectOptions::default())
        {
            Ok(client) => client,
            Err(e) => {
                tracing::error!(error = %e, "WAMP event source disabled");
                return;
            }
        };
    let mut events = match client.subscribe(TOPIC_PREFIX, Match::Prefix).await {
        Ok(events) => events,
        Err(e) => {
            tracing::error!(error = %e, router = wamp.router_url, "WAMP event source cannot subscribe");
            return;
        }
    };
    let mut state = client.watch_state();
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(event) => {
                    if let Some((kind, summary, data)) = translate(&event) {
                        hub.publish(&kind, "wamp", summary, data);
                    }
                }
                None => break,
            },
            changed = state.changed() => {
                if changed.is_err() {
                    break;
                }
                // `Connected` is reported only once the subscription is in place again.
                let connected = state.borrow_and_update().is_connected();
                if connected != hub.wamp_connected() {
                    tracing::info!(connected, router = wamp.router_url, "WAMP event source");
                    hub.set_wamp_connected(connected);
                }
            }
        }
    }
}

/// Sets the hub's WAMP flag to false when dropped.
struct LowerOnDrop<'a>(&'a EventHub);

impl Drop for LowerOnDrop<'_> {
    fn drop(&mut self) {
        self.0.set_wamp_connected(false);
    }
}

/// The hub event (kind, summary, data) for one MQ event, or `None` when it is not forwarded.
pub fn translate(event: &EventMessage) -> Option<(String, String, Value)> {
    let key = event.topic.strip_prefix(TOPIC_PREFIX)?;
    let [collection, id, action] = key.split('.').collect::<Vec<_>>()[..] else {
        return None;
    };
    if id.is_empty()
        || !id.bytes().all(|b| b.is_ascii_digit())
        || SKIPPED_COLLECTIONS.contains(&collection)
    {
        return None;
    }
    let data = match &event.args[..] {
        [body] if event.kwargs.is_empty() => body.clone(),
        _ => json!({"args": event.args, "kwargs": event.kwargs}),
    };
    let summary = summarize(collection, id, action, &data);
    Some((format!("buildbot.{collection}.{action}"), summary, data))
}

/// One human line, in the words the polling source uses for the same transitions.
fn summarize(collection: &str, id: &str, action: &str, data: &Value) -> String {
    let text = |field: &str| data.get(field).and_then(Value::as_str).map(str::to_owned);
    let number = |field: &str| data.get(field).and_then(Value::as_i64);
    let named = |what: &str| match text("name") {
        Some(name) => format!("{what} {name}"),
        None => format!("{what} {id}"),
    };
    match (collection, action) {
        ("masters", _) => format!("{} {action}", named("master")),
        ("workers", _) => format!("{} {action}", named("worker")),
        ("builders", _) => format!("{} {action}", named("builder")),
        ("builds", _) => {
            let builder = number("builderid")
                .map(|b| format!(" of builder {b}"))
                .unwrap_or_default();
            let verb = match action {
                "new" => "started".to_owned(),
                "finished" => match number("results").and_then(result_name) {
                    Some(result) => format!("finished: {result}"),
                    None => "finished".to_owned(),
                },
                other => other.to_owned(),
            };
            format!("build {id}{builder} {verb}")
        }
        ("buildrequests", "new") => format!("build request {id} submitted"),
        ("buildrequests", "claimed") => match number("claimed_by_masterid") {
            Some(master) => format!("build request {id} claimed by master {master}"),
            None => format!("build request {id} claimed"),
        },
        ("buildrequests", _) => format!("build request {id} {action}"),
        _ => format!("{collection} {id} {action}"),
    }
}

/// Buildbot's result codes (`buildbot.process.results`).
fn result_name(code: i64) -> Option<&'static str> {
    const NAMES: [&str; 7] = [
        "success",
        "warnings",
        "failure",
        "skipped",
        "exception",
        "retry",
        "cancelled",
    ];
    usize::try_from(code)
        .ok()
        .and_then(|i| NAMES.get(i).copied())
}

#[cfg(test)]
mod tests {
    use bbctl_wamp::Dict;

    use super::*;

    fn event(topic: &str, body: Value) -> EventMessage {
        EventMessage {
            topic: topic.into(),
            args: vec![body],
            kwargs: Dict::new(),
            details: Dict::new(),
        }
    }

    fn check(topic: &str, body: Value, expected: Option<(&str, &str)>) {
        let got = translate(&event(topic, body.clone()));
        match expected {
            None => assert_eq!(got, None, "{topic}"),
            Some((kind, summary)) => assert_eq!(
                got,
                Some((kind.to_owned(), summary.to_owned(), body)),
                "{topic}"
            ),
        }
    }

    #[test]
    fn canonical_keys_become_buildbot_events() {
        check(
            "org.buildbot.mq.masters.1.started",
            json!({"masterid": 1, "name": "h:/m1", "active": true}),
            Some(("buildbot.masters.started", "master h:/m1 started")),
        );
        check(
            "org.buildbot.mq.workers.7.connected",
            json!({"workerid": 7, "name": "w1", "connected_to": [{"masterid": 1}]}),
            Some(("buildbot.workers.connected", "worker w1 connected")),
        );
        check(
            "org.buildbot.mq.builds.9.new",
            json!({"buildid": 9, "builderid": 2, "number": 1}),
            Some(("buildbot.builds.new", "build 9 of builder 2 started")),
        );
        check(
            "org.buildbot.mq.builds.9.finished",
            json!({"buildid": 9, "builderid": 2, "results": 0}),
            Some((
                "buildbot.builds.finished",
                "build 9 of builder 2 finished: success",
            )),
        );
        check(
            "org.buildbot.mq.buildrequests.4.claimed",
            json!({"buildrequestid": 4, "claimed_by_masterid": 3}),
            Some((
                "buildbot.buildrequests.claimed",
                "build request 4 claimed by master 3",
            )),
        );
        check(
            "org.buildbot.mq.buildsets.5.complete",
            json!({"bsid": 5}),
            Some(("buildbot.buildsets.complete", "buildsets 5 complete")),
        );
    }

    #[test]
    fn duplicate_keys_logs_and_control_messages_are_dropped() {
        let body = json!({"buildid": 9});
        for topic in [
            "org.buildbot.mq.builders.2.builds.1.new",
            "org.buildbot.mq.workers.7.builds.9.new",
            "org.buildbot.mq.buildsets.5.builders.2.buildrequests.4.new",
            "org.buildbot.mq.logs.3.append",
            "org.buildbot.mq.control.worker.7.stop",
            "org.buildbot.mq.builds.x.new",
            "org.other.builds.9.new",
        ] {
            check(topic, body.clone(), None);
        }
    }

    #[test]
    fn payload_other_than_one_argument_is_kept_whole() {
        let mut kwargs = Dict::new();
        kwargs.insert("k".into(), json!(1));
        let event = EventMessage {
            topic: "org.buildbot.mq.changes.3.new".into(),
            args: vec![],
            kwargs,
            details: Dict::new(),
        };
        let (kind, _, data) = translate(&event).expect("forwarded");
        assert_eq!(kind, "buildbot.changes.new");
        assert_eq!(data, json!({"args": [], "kwargs": {"k": 1}}));
    }
}
