//! Calls, session establishment and the clean end of a session against crossbar.

use bbctl_wamp::{Client, ClientOptions, Dict, Error};

use crate::router::{self, free_port};
use crate::{PATIENCE, connect_shared};

#[tokio::test]
async fn calls_a_router_meta_procedure() {
    let first = connect_shared().await;
    let _second = connect_shared().await;
    let result = first
        .call("wamp.session.count", vec![], Dict::new())
        .await
        .expect("call");
    let count = result
        .args
        .first()
        .and_then(|c| c.as_u64())
        .expect("a count");
    assert!(count >= 2, "at least our two sessions, got {count}");

    let result = first
        .call(
            "wamp.session.get",
            vec![first.session_id().into()],
            Dict::new(),
        )
        .await
        .expect("call");
    let session = result
        .args
        .first()
        .and_then(|s| s.get("session"))
        .and_then(|s| s.as_u64());
    assert_eq!(session, Some(first.session_id()));
}

#[tokio::test]
async fn calling_an_unknown_procedure_is_a_router_error() {
    let client = connect_shared().await;
    let error = client
        .call("org.bbctl.test.nobody_home", vec![], Dict::new())
        .await
        .expect_err("no callee");
    match error {
        Error::Router(e) => assert_eq!(e.uri, "wamp.error.no_such_procedure"),
        other => panic!("expected a router error, got {other:?}"),
    }
}

#[tokio::test]
async fn goodbye_closes_the_session_cleanly() {
    let client = connect_shared().await;
    let observer = connect_shared().await;
    let id = client.session_id();
    tokio::time::timeout(PATIENCE, client.close())
        .await
        .expect("in time")
        .expect("goodbye answered");
    assert!(client.is_closed());
    assert!(matches!(
        client
            .publish("org.bbctl.test.late", vec![], Dict::new())
            .await,
        Err(Error::Closed)
    ));

    // The router forgot the session.
    let error = observer
        .call("wamp.session.get", vec![id.into()], Dict::new())
        .await
        .expect_err("gone");
    assert!(
        matches!(&error, Error::Router(e) if e.uri == "wamp.error.no_such_session"),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_unknown_realm_is_aborted() {
    let router = router::shared();
    let error = Client::connect(&router.url(), "nosuchrealm", ClientOptions::default())
        .await
        .expect_err("abort");
    assert!(
        matches!(&error, Error::Aborted { reason, .. } if reason == "wamp.error.no_such_realm"),
        "{error:?}"
    );
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error() {
    let url = format!("ws://127.0.0.1:{}/ws", free_port());
    let error = Client::connect(&url, router::REALM, ClientOptions::default())
        .await
        .expect_err("refused");
    assert!(matches!(error, Error::Connect { .. }), "{error:?}");
    assert!(error.is_connection_error());
}
