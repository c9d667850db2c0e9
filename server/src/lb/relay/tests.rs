//! The relay against plain TCP echo servers standing in for a master.

use super::*;
use crate::lb::test_support::{Client, EchoServer};

async fn relay_to(master: &EchoServer) -> Relay {
    Relay::start("127.0.0.1:0".parse().unwrap(), master.addr)
        .await
        .unwrap()
}

#[tokio::test]
async fn closes_exactly_the_logged_connection() {
    let master = EchoServer::start().await;
    let relay = relay_to(&master).await;
    let mut clients = Vec::new();
    for tag in ["w0", "w1", "w2"] {
        clients.push(
            Client::connect(relay.listen_addr(), tag)
                .await
                .expect("relayed"),
        );
    }
    assert_eq!(relay.connections().len(), 3);

    let attach = master.attach_of("w1").unwrap();
    // What the master sees is the relay's outbound side, never the worker's own address.
    assert!(
        relay
            .connections()
            .iter()
            .any(|c| c.outbound.port() == attach.peer_port)
    );
    let outcome = relay.close_worker_session(&attach).await.unwrap();
    assert!(
        matches!(outcome, CloseOutcome::Closed { ref session } if session.contains(&attach.peer_port.to_string()))
    );

    assert!(
        clients[1].sees_close().await,
        "the handed-off worker's connection must end"
    );
    assert!(clients[0].echo("still there").await);
    assert!(clients[2].echo("still there").await);
    assert_eq!(relay.connections().len(), 2);

    // Closing it again: the session is gone.
    let err = relay.close_worker_session(&attach).await.unwrap_err();
    assert!(
        matches!(err, LbError::SessionNotFound { ref worker, .. } if worker == "w1"),
        "{err}"
    );
}

#[tokio::test]
async fn stop_refuses_new_connections_and_resume_accepts_again() {
    let master = EchoServer::start().await;
    let relay = relay_to(&master).await;
    let listen = relay.listen_addr();
    let mut old = Client::connect(listen, "old").await.unwrap();
    assert_eq!(relay.routing_state().await.unwrap(), Routing::Ready);

    relay.stop_routing().await.unwrap();
    relay.stop_routing().await.unwrap();
    assert_eq!(relay.routing_state().await.unwrap(), Routing::Maint);
    let refused = TcpStream::connect(listen).await;
    assert!(
        refused.is_err(),
        "the port must be closed while routing is stopped"
    );
    assert!(old.echo("kept while stopped").await);

    relay.resume_routing().await.unwrap();
    relay.resume_routing().await.unwrap();
    assert_eq!(relay.routing_state().await.unwrap(), Routing::Ready);
    assert_eq!(relay.listen_addr(), listen);
    let mut new = Client::connect(listen, "new")
        .await
        .expect("accepted after resume");
    assert!(new.echo("hello").await);
    assert!(old.echo("still kept").await);
    assert_eq!(relay.connections().len(), 2);
}

#[tokio::test]
async fn unreachable_master_closes_the_worker_connection() {
    // A port that was free a moment ago: nothing listens there.
    let target = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let relay = Relay::start("127.0.0.1:0".parse().unwrap(), target)
        .await
        .unwrap();
    let stream = TcpStream::connect(relay.listen_addr()).await.unwrap();
    let mut stream = tokio::io::BufReader::new(stream);
    let mut buf = String::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio::io::AsyncBufReadExt::read_line(&mut stream, &mut buf),
    )
    .await
    .expect("closed promptly");
    assert!(matches!(read, Ok(0) | Err(_)));
    assert!(relay.connections().is_empty());
}

#[tokio::test]
async fn dropping_the_relay_closes_everything() {
    let master = EchoServer::start().await;
    let relay = relay_to(&master).await;
    let listen = relay.listen_addr();
    let mut client = Client::connect(listen, "w").await.unwrap();
    drop(relay);
    assert!(client.sees_close().await);
    // The accept task is aborted; the listener goes when the runtime drops the task.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while TcpStream::connect(listen).await.is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "the relay port stays open after drop"
        );
        tokio::task::yield_now().await;
    }
}
