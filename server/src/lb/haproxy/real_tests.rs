//! The `haproxy` hook against a real HAProxy (Debian 2.6, `/usr/sbin/haproxy`) started from a
//! generated config: two echo servers stand in for masters, clients stand in for workers.

use super::*;
use crate::lb::real_haproxy::Haproxy;
use crate::lb::test_support::{Client, EchoServer};
use crate::lb::{LbConfig, build};

#[tokio::test]
async fn closes_one_worker_session_and_keeps_the_others() {
    let (m1, m2) = (EchoServer::start().await, EchoServer::start().await);
    let haproxy = Haproxy::start(m1.addr, m2.addr).await;
    let hook = HaproxyHook::new(haproxy.socket(), "masters".into(), "s1".into());

    let tags = ["c0", "c1", "c2", "c3"];
    let mut clients = Vec::new();
    for tag in tags {
        clients.push(
            Client::connect(haproxy.frontend, tag)
                .await
                .expect("through haproxy"),
        );
    }
    let on_m1: Vec<usize> = (0..tags.len())
        .filter(|i| m1.attach_of(tags[*i]).is_some())
        .collect();
    assert_eq!(on_m1.len(), 2, "roundrobin puts two of four on s1");
    let victim = on_m1[0];
    // Exactly what the master would have logged: the peer of the connection it accepted.
    let attach = m1.attach_of(tags[victim]).unwrap();
    let session = hook
        .find_session(&attach)
        .await
        .unwrap()
        .expect("listed by show sess all");
    assert_eq!(
        session.backend_addr.map(|a| a.port()),
        Some(attach.peer_port)
    );
    assert_eq!(session.server_addr, Some(m1.addr));

    let outcome = hook.close_worker_session(&attach).await.unwrap();
    assert_eq!(
        outcome,
        CloseOutcome::Closed {
            session: session.id.clone()
        }
    );
    assert!(
        clients[victim].sees_close().await,
        "the handed-off worker's connection must end"
    );
    for (i, client) in clients.iter_mut().enumerate().filter(|(i, _)| *i != victim) {
        assert!(
            client.echo("still there").await,
            "client {i} must keep its session"
        );
    }

    let err = hook.close_worker_session(&attach).await.unwrap_err();
    assert!(matches!(err, LbError::SessionNotFound { .. }), "{err}");
    // A session on the other server is not this master's to close.
    let other = (0..tags.len()).find(|i| !on_m1.contains(i)).unwrap();
    let err = hook
        .close_worker_session(&m2.attach_of(tags[other]).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, LbError::SessionNotFound { .. }), "{err}");
    assert!(clients[other].echo("untouched").await);
}

#[tokio::test]
async fn maint_and_ready_round_trip_over_the_tcp_api() {
    let (m1, m2) = (EchoServer::start().await, EchoServer::start().await);
    let mut haproxy = Haproxy::start(m1.addr, m2.addr).await;
    let cfg = LbConfig::Haproxy {
        runtime_sockets: vec![haproxy.tcp_socket()],
        backend: "masters".into(),
        server: "s1".into(),
    };
    let hook = build(&cfg).await.unwrap();
    assert_eq!(hook.kind(), "haproxy");
    assert_eq!(hook.routing_state().await.unwrap(), Routing::Ready);

    let mut kept = Vec::new();
    for tag in ["k0", "k1"] {
        kept.push(Client::connect(haproxy.frontend, tag).await.unwrap());
    }
    assert!(m1.attach_of("k0").is_some() || m1.attach_of("k1").is_some());

    hook.stop_routing().await.unwrap();
    hook.stop_routing().await.unwrap();
    assert_eq!(hook.routing_state().await.unwrap(), Routing::Maint);
    for tag in ["n0", "n1", "n2"] {
        let mut c = Client::connect(haproxy.frontend, tag)
            .await
            .expect("routed to s2");
        assert!(c.echo("x").await);
        assert!(
            m1.attach_of(tag).is_none() && m2.attach_of(tag).is_some(),
            "{tag} reached s1 in maint"
        );
    }
    for c in &mut kept {
        assert!(c.echo("maint keeps existing sessions").await);
    }

    hook.resume_routing().await.unwrap();
    assert_eq!(hook.routing_state().await.unwrap(), Routing::Ready);
    haproxy.wait_until_up(&["s1"]).await;
    let mut reached_s1 = false;
    for tag in ["r0", "r1", "r2"] {
        let _c = Client::connect(haproxy.frontend, tag).await.unwrap();
        reached_s1 |= m1.attach_of(tag).is_some();
    }
    assert!(reached_s1, "s1 gets new connections after resume");
}

#[tokio::test]
async fn unknown_backend_or_server_is_a_typed_error() {
    let (m1, m2) = (EchoServer::start().await, EchoServer::start().await);
    let haproxy = Haproxy::start(m1.addr, m2.addr).await;
    let no_server = HaproxyHook::new(haproxy.socket(), "masters".into(), "nope".into());
    for err in [
        no_server.stop_routing().await.unwrap_err(),
        no_server.routing_state().await.unwrap_err(),
    ] {
        assert!(
            matches!(err, LbError::NoSuchServer { ref server, .. } if server == "nope"),
            "{err}"
        );
    }
    let no_backend = HaproxyHook::new(haproxy.socket(), "nope".into(), "s1".into());
    for err in [
        no_backend.resume_routing().await.unwrap_err(),
        no_backend.routing_state().await.unwrap_err(),
    ] {
        assert!(
            matches!(err, LbError::NoSuchServer { ref backend, .. } if backend == "nope"),
            "{err}"
        );
    }
    let missing = RuntimeClient::new(HaproxySocket::Unix(haproxy.dir.path().join("absent.sock")));
    let err = missing.command("show info").await.unwrap_err();
    assert!(matches!(err, LbError::Io { .. }), "{err}");
    assert!(err.to_string().contains("absent.sock"), "{err}");
}

/// The settings check (issue 12): a wrong backend or server name, or a runtime API below `level
/// admin`, names the setting to fix; a runtime API that does not answer is only unavailable.
#[tokio::test]
async fn the_settings_check_names_the_wrong_setting() {
    let (m1, m2) = (EchoServer::start().await, EchoServer::start().await);
    let haproxy = Haproxy::start(m1.addr, m2.addr).await;
    let hook = |socket: HaproxySocket, backend: &str, server: &str| {
        HaproxyHook::new(socket, backend.into(), server.into())
    };
    hook(haproxy.socket(), "masters", "s1")
        .check()
        .await
        .unwrap();
    let tcp = HaproxySocket::Tcp(haproxy.tcp_api.to_string());
    hook(tcp, "masters", "s2").check().await.unwrap();

    let key_of = |err: LbCheckError| match err {
        LbCheckError::Setting { key, message } => (key, message),
        other => panic!("expected a setting error, got {other}"),
    };
    let (key, message) = key_of(
        hook(haproxy.socket(), "workers-pool", "s1")
            .check()
            .await
            .unwrap_err(),
    );
    assert_eq!(key, "load_balancer.backend");
    assert!(message.contains("no backend `workers-pool`"), "{message}");
    let (key, message) = key_of(
        hook(haproxy.socket(), "masters", "m9")
            .check()
            .await
            .unwrap_err(),
    );
    assert_eq!(key, "load_balancer.server");
    assert!(
        message.contains("no server `m9` (it has: s1, s2)"),
        "{message}"
    );
    let operator = HaproxySocket::Unix(haproxy.dir.path().join("operator.sock"));
    let (key, message) = key_of(hook(operator, "masters", "s1").check().await.unwrap_err());
    assert_eq!(key, "load_balancer.runtime_socket");
    assert!(message.contains("level `operator`"), "{message}");

    let absent = HaproxySocket::Unix(haproxy.dir.path().join("absent.sock"));
    let err = hook(absent, "masters", "s1").check().await.unwrap_err();
    assert!(matches!(err, LbCheckError::Unavailable(_)), "{err}");
    assert!(err.to_string().contains("absent.sock"), "{err}");
}
