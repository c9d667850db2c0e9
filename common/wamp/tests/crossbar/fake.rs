//! A scripted fake router on a local socket, for what crossbar will not do on demand: drop the
//! connection while a call is pending, or send a frame that is not WAMP.

use bbctl_wamp::message::Message;
use bbctl_wamp::{Client, ClientOptions, Dict, Error, Match, SUBPROTOCOL};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::PATIENCE;

type Socket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// Accepts one client, answers HELLO with WELCOME, then hands the socket to `script`.
/// Returns the URL to connect to and the script's task.
async fn fake_router<F, Fut>(script: F) -> (String, tokio::task::JoinHandle<Vec<Message>>)
where
    F: FnOnce(Socket) -> Fut + Send + 'static,
    Fut: Future<Output = Vec<Message>> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("ws://{}/ws", listener.local_addr().expect("address"));
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        // The callback's signature (and its large error type) is tungstenite's.
        #[allow(clippy::result_large_err)]
        let mut socket =
            tokio_tungstenite::accept_hdr_async(stream, |_: &Request, mut response: Response| {
                response.headers_mut().insert(
                    "Sec-WebSocket-Protocol",
                    HeaderValue::from_static(SUBPROTOCOL),
                );
                Ok(response)
            })
            .await
            .expect("websocket handshake");
        let hello = read(&mut socket).await.expect("HELLO");
        assert!(
            matches!(&hello, Message::Hello { realm, .. } if realm == "buildbot"),
            "{hello:?}"
        );
        let welcome = Message::Welcome {
            session: 99,
            details: Dict::new(),
        };
        socket
            .send(Frame::text(welcome.to_json()))
            .await
            .expect("send WELCOME");
        script(socket).await
    });
    (url, task)
}

/// The next WAMP message from the client, or `None` when the connection ends.
async fn read(socket: &mut Socket) -> Option<Message> {
    loop {
        match socket.next().await? {
            Ok(Frame::Text(text)) => {
                return Some(Message::from_json(&text).expect("client sent valid WAMP"));
            }
            Ok(Frame::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

#[tokio::test]
async fn a_call_pending_when_the_connection_drops_fails_with_connection_lost() {
    let (url, router) = fake_router(|mut socket| async move {
        let call = read(&mut socket).await.expect("CALL");
        // Drop the TCP connection without any WAMP or WebSocket goodbye.
        drop(socket);
        vec![call]
    })
    .await;
    let client = Client::connect(&url, "buildbot", ClientOptions::default())
        .await
        .expect("connect");
    assert_eq!(client.session_id(), 99);
    let error = client
        .call("org.bbctl.test.slow", vec![json!(1)], Dict::new())
        .await
        .expect_err("lost");
    assert!(matches!(error, Error::ConnectionLost), "{error:?}");
    tokio::time::timeout(PATIENCE, client.closed())
        .await
        .expect("session ends");
    assert!(matches!(
        client.publish("org.x", vec![], Dict::new()).await,
        Err(Error::ConnectionLost)
    ));

    let seen = router.await.expect("router script");
    assert!(
        matches!(&seen[..], [Message::Call { request: 1, procedure, args, .. }] if procedure == "org.bbctl.test.slow" && args == &[json!(1)]),
        "{seen:?}"
    );
}

#[tokio::test]
async fn a_frame_that_is_not_wamp_aborts_the_session_without_panicking() {
    let (url, router) = fake_router(|mut socket| async move {
        let subscribe = read(&mut socket).await.expect("SUBSCRIBE");
        socket
            .send(Frame::text("[33, \"not an id\"]"))
            .await
            .expect("send garbage");
        let abort = read(&mut socket).await.expect("ABORT");
        vec![subscribe, abort]
    })
    .await;
    let client = Client::connect(&url, "buildbot", ClientOptions::default())
        .await
        .expect("connect");
    let error = client
        .subscribe("org.buildbot.mq.", Match::Prefix)
        .await
        .expect_err("protocol violation");
    assert!(error.is_connection_error(), "{error:?}");
    assert!(client.is_closed());

    let seen = router.await.expect("router script");
    let [
        Message::Subscribe { options, topic, .. },
        Message::Abort { reason, .. },
    ] = &seen[..]
    else {
        panic!("unexpected exchange {seen:?}");
    };
    assert_eq!(topic, "org.buildbot.mq.");
    assert_eq!(options.get("match"), Some(&json!("prefix")));
    assert_eq!(reason, "wamp.error.protocol_violation");
}
