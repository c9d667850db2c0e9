//! Publish/subscribe through crossbar: prefix, wildcard and exact matches deliver each event with
//! the topic it was published on, publications are acknowledged, and a reserved topic is refused.

use bbctl_wamp::{Dict, Error, Match};
use serde_json::json;

use crate::{PATIENCE, connect_shared, next_with_nonce, nonce};

#[tokio::test]
async fn prefix_subscription_receives_buildbot_events_with_their_real_topic() {
    let subscriber = connect_shared().await;
    let publisher = connect_shared().await;
    let mut events = subscriber
        .subscribe("org.buildbot.mq.", Match::Prefix)
        .await
        .expect("subscribe");
    let nonce = nonce();

    // Outside the prefix: must not arrive.
    publisher
        .publish(
            "org.other.builds.1.new",
            vec![json!({"nonce": nonce, "n": 0})],
            Dict::new(),
        )
        .await
        .expect("publish");
    for (n, topic) in [
        (1, "org.buildbot.mq.builds.12.new"),
        (2, "org.buildbot.mq.workers.3.connected"),
    ] {
        publisher
            .publish(topic, vec![json!({"nonce": nonce, "n": n})], Dict::new())
            .await
            .expect("acknowledged");
    }

    let first = next_with_nonce(&mut events, &nonce).await;
    assert_eq!(first.topic, "org.buildbot.mq.builds.12.new");
    assert_eq!(first.args, vec![json!({"nonce": nonce, "n": 1})]);
    assert!(first.kwargs.is_empty());
    let second = next_with_nonce(&mut events, &nonce).await;
    assert_eq!(second.topic, "org.buildbot.mq.workers.3.connected");
}

#[tokio::test]
async fn wildcard_subscription_matches_one_component() {
    let subscriber = connect_shared().await;
    let publisher = connect_shared().await;
    let mut events = subscriber
        .subscribe("org.buildbot.mq.builds..new", Match::Wildcard)
        .await
        .expect("subscribe");
    let nonce = nonce();

    let mut kwargs = Dict::new();
    kwargs.insert("extra".into(), json!(true));
    publisher
        .publish(
            "org.buildbot.mq.builds.8.finished",
            vec![json!({"nonce": nonce})],
            Dict::new(),
        )
        .await
        .expect("publish");
    publisher
        .publish(
            "org.buildbot.mq.builds.8.new",
            vec![json!({"nonce": nonce})],
            kwargs.clone(),
        )
        .await
        .expect("publish");

    // Router order is publication order, so the first event we see must be the matching one.
    let event = next_with_nonce(&mut events, &nonce).await;
    assert_eq!(event.topic, "org.buildbot.mq.builds.8.new");
    assert_eq!(event.kwargs, kwargs);
}

#[tokio::test]
async fn exact_subscription_reports_the_subscribed_topic() {
    let subscriber = connect_shared().await;
    let publisher = connect_shared().await;
    let nonce = nonce();
    let topic = format!("org.bbctl.test.exact.n{}", nonce.replace('-', "_"));
    let mut events = subscriber
        .subscribe(&topic, Match::Exact)
        .await
        .expect("subscribe");

    publisher
        .publish(
            &format!("{topic}.longer"),
            vec![json!({"nonce": nonce, "n": 1})],
            Dict::new(),
        )
        .await
        .expect("publish");
    publisher
        .publish(&topic, vec![json!({"nonce": nonce, "n": 2})], Dict::new())
        .await
        .expect("publish");

    let event = next_with_nonce(&mut events, &nonce).await;
    assert_eq!(event.topic, topic);
    assert_eq!(event.args, vec![json!({"nonce": nonce, "n": 2})]);
}

/// The router's exact subscription on `topic`, if any (crossbar's meta procedure).
async fn lookup(client: &bbctl_wamp::Client, topic: &str) -> Option<u64> {
    let result = client
        .call("wamp.subscription.lookup", vec![json!(topic)], Dict::new())
        .await
        .expect("lookup");
    result.args.first().and_then(|id| id.as_u64())
}

#[tokio::test]
async fn the_router_subscription_lasts_until_the_last_local_subscriber_leaves() {
    let subscriber = connect_shared().await;
    let publisher = connect_shared().await;
    let nonce = nonce();
    let topic = format!("org.bbctl.test.unsub.n{}", nonce.replace('-', "_"));
    let first = subscriber
        .subscribe(&topic, Match::Exact)
        .await
        .expect("subscribe");
    let mut second = subscriber
        .subscribe(&topic, Match::Exact)
        .await
        .expect("subscribe");
    assert!(
        lookup(&publisher, &topic).await.is_some(),
        "router knows the subscription"
    );

    first.unsubscribe().await.expect("unsubscribed locally");
    assert!(
        lookup(&publisher, &topic).await.is_some(),
        "still needed by the second subscriber"
    );
    publisher
        .publish(&topic, vec![json!({"nonce": nonce})], Dict::new())
        .await
        .expect("publish");
    assert_eq!(next_with_nonce(&mut second, &nonce).await.topic, topic);

    second
        .unsubscribe()
        .await
        .expect("unsubscribed at the router");
    assert_eq!(
        lookup(&publisher, &topic).await,
        None,
        "router dropped the subscription"
    );
}

#[tokio::test]
async fn publishing_on_a_restricted_topic_is_refused_by_the_router() {
    let publisher = connect_shared().await;
    // Crossbar reserves `wamp.` topics for itself and answers an acknowledged PUBLISH with ERROR.
    let error = publisher
        .publish("wamp.bbctl.test", vec![], Dict::new())
        .await
        .expect_err("restricted URI");
    match error {
        Error::Router(e) => assert_eq!(e.uri, "wamp.error.invalid_uri", "{e}"),
        other => panic!("expected a router error, got {other:?}"),
    }
    // The session is still usable afterwards.
    tokio::time::timeout(
        PATIENCE,
        publisher.publish("org.bbctl.test.ok", vec![], Dict::new()),
    )
    .await
    .expect("in time")
    .expect("acknowledged");
}
