//! The reconnecting client against a router that dies and comes back on the same port: the state
//! goes connected → disconnected → connected, requests fail with a typed error meanwhile, and the
//! same subscription delivers again on the new session.

use std::time::Duration;

use bbctl_wamp::{
    BackoffPolicy, Client, ClientOptions, ConnectionState, Dict, Error, Match, ReconnectOptions,
    ReconnectingClient,
};
use serde_json::json;

use crate::PATIENCE;
use crate::router::{REALM, Router, free_port};

fn options() -> ReconnectOptions {
    ReconnectOptions {
        client: ClientOptions {
            connect_timeout: Duration::from_secs(5),
            ..ClientOptions::default()
        },
        backoff: BackoffPolicy {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(1),
            multiplier: 2.0,
            jitter: 0.2,
        },
    }
}

/// Publishes from a fresh plain client, as a Buildbot master would.
async fn publish_once(url: &str, topic: &str, body: serde_json::Value) {
    let publisher = Client::connect(url, REALM, ClientOptions::default())
        .await
        .expect("publisher connects");
    publisher
        .publish(topic, vec![body], Dict::new())
        .await
        .expect("acknowledged");
    publisher.close().await.expect("goodbye");
}

#[tokio::test]
async fn survives_a_router_restart_and_resubscribes() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let port = free_port();
    let mut router = Router::start(dir.path(), port);
    let url = router.url();

    let client = ReconnectingClient::start(&url, REALM, options()).expect("start");
    let mut states = client.watch_state();
    let mut events = client
        .subscribe("org.buildbot.mq.", Match::Prefix)
        .await
        .expect("subscribe");
    let first_session = tokio::time::timeout(PATIENCE, client.wait_connected())
        .await
        .expect("in time")
        .expect("connected");

    publish_once(&url, "org.buildbot.mq.builds.1.new", json!({"buildid": 1})).await;
    let event = tokio::time::timeout(PATIENCE, events.recv())
        .await
        .expect("in time")
        .expect("event");
    assert_eq!(
        (event.topic.as_str(), &event.args[..]),
        ("org.buildbot.mq.builds.1.new", &[json!({"buildid": 1})][..])
    );

    router.kill();
    let down = tokio::time::timeout(
        PATIENCE,
        states.wait_for(|s| matches!(s, ConnectionState::Disconnected { .. })),
    )
    .await
    .expect("disconnection reported in time")
    .expect("state channel open")
    .clone();
    let ConnectionState::Disconnected { retry_in, .. } = down else {
        unreachable!()
    };
    assert!(
        retry_in <= Duration::from_secs(1),
        "backoff capped by max: {retry_in:?}"
    );
    let error = client
        .publish("org.buildbot.mq.x", vec![], Dict::new())
        .await
        .expect_err("no session");
    assert!(
        matches!(error, Error::NotConnected | Error::ConnectionLost),
        "{error:?}"
    );

    // Stay down through a few failed attempts, then come back on the same port.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        matches!(client.state(), ConnectionState::Disconnected { attempts, .. } if attempts >= 1),
        "{:?}",
        client.state()
    );
    let _router = Router::start(dir.path(), port);
    let second_session = tokio::time::timeout(Duration::from_secs(30), client.wait_connected())
        .await
        .expect("reconnected in time")
        .expect("connected");
    assert_ne!(first_session, second_session);

    publish_once(
        &url,
        "org.buildbot.mq.workers.2.connected",
        json!({"workerid": 2}),
    )
    .await;
    let event = tokio::time::timeout(PATIENCE, events.recv())
        .await
        .expect("in time")
        .expect("event after reconnect");
    assert_eq!(event.topic, "org.buildbot.mq.workers.2.connected");

    client.close().await.expect("goodbye");
    assert_eq!(client.state(), ConnectionState::Closed);
    assert!(
        events.recv().await.is_none(),
        "subscription ends once the client is closed"
    );
}

#[tokio::test]
async fn reports_disconnected_while_no_router_runs() {
    let url = format!("ws://127.0.0.1:{}/ws", free_port());
    let client = ReconnectingClient::start(&url, REALM, options()).expect("start");
    // Subscribing without a session registers the subscription for later.
    let _events = client
        .subscribe("org.buildbot.mq.", Match::Prefix)
        .await
        .expect("registered");
    let mut states = client.watch_state();
    let state = tokio::time::timeout(
        PATIENCE,
        states.wait_for(
            |s| matches!(s, ConnectionState::Disconnected { attempts, .. } if *attempts >= 2),
        ),
    )
    .await
    .expect("attempts reported in time")
    .expect("state channel open")
    .clone();
    let ConnectionState::Disconnected { reason, .. } = state else {
        unreachable!()
    };
    assert!(reason.contains("failed to connect"), "{reason}");
    assert!(matches!(
        client.call("wamp.session.count", vec![], Dict::new()).await,
        Err(Error::NotConnected)
    ));
    client.close().await.expect("close while offline");
    assert_eq!(client.state(), ConnectionState::Closed);
}
