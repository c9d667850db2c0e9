//! The group hook against two real HAProxy processes (`crate::lb::real_haproxy`), each in front
//! of the same two echo servers standing in for masters, runtime API over TCP on 127.0.0.1.

use super::*;
use crate::lb::haproxy::RuntimeClient;
use crate::lb::real_haproxy::Haproxy;
use crate::lb::test_support::{Client, EchoServer};
use crate::lb::{LbConfig, build};

async fn admin(socket: HaproxySocket) -> super::super::haproxy::AdminState {
    RuntimeClient::new(socket)
        .server_state("masters", "s1")
        .await
        .unwrap()
        .admin
}

#[tokio::test]
async fn two_real_haproxies_stop_resume_and_close_on_the_right_one() {
    use super::super::haproxy::AdminState;
    let (m1, m2) = (EchoServer::start().await, EchoServer::start().await);
    let mut lb1 = Haproxy::start(m1.addr, m2.addr).await;
    let lb2 = Haproxy::start(m1.addr, m2.addr).await;
    let cfg = LbConfig::Haproxy {
        runtime_sockets: vec![lb1.tcp_socket(), lb2.tcp_socket()],
        backend: "masters".into(),
        server: "s1".into(),
    };
    let hook = build(&cfg).await.unwrap();
    hook.check().await.unwrap();

    // Workers through both load balancers; roundrobin puts one of each pair on s1 (m1).
    let mut via1 = Vec::new();
    let mut via2 = Vec::new();
    for tag in ["a0", "a1"] {
        via1.push((tag, Client::connect(lb1.frontend, tag).await.unwrap()));
    }
    for tag in ["b0", "b1"] {
        via2.push((tag, Client::connect(lb2.frontend, tag).await.unwrap()));
    }
    let on_m1 = |clients: &[(&str, Client)]| {
        clients
            .iter()
            .position(|(tag, _)| m1.attach_of(tag).is_some())
            .expect("one on s1")
    };
    let (i1, i2) = (on_m1(&via1), on_m1(&via2));

    // The worker behind lb2: its session is on lb2 only, found by its port.
    let attach = m1.attach_of(via2[i2].0).unwrap();
    let outcome = hook.close_worker_session(&attach).await.unwrap();
    let CloseOutcome::Closed { session } = outcome;
    assert!(
        session.ends_with(&format!(" on {}", lb2.tcp_socket())),
        "{session}"
    );
    assert!(via2[i2].1.sees_close().await, "its connection ends");
    for (tag, c) in via1
        .iter_mut()
        .chain(via2.iter_mut().filter(|(t, _)| *t != attach.worker))
    {
        assert!(c.echo("still here").await, "{tag} keeps its session");
    }
    let err = hook.close_worker_session(&attach).await.unwrap_err();
    assert!(matches!(err, LbError::SessionNotFound { .. }), "{err}");

    hook.stop_routing().await.unwrap();
    assert_eq!(hook.routing_state().await.unwrap(), Routing::Maint);
    assert_eq!(admin(lb1.tcp_socket()).await, AdminState::Maint);
    assert_eq!(admin(lb2.tcp_socket()).await, AdminState::Maint);

    // lb1 goes away: resuming names it, and lb2 is still put back.
    lb1.kill();
    let err = hook.resume_routing().await.unwrap_err();
    assert_eq!(
        err.failed_load_balancers(),
        vec![lb1.tcp_socket().to_string().as_str()]
    );
    assert_eq!(admin(lb2.tcp_socket()).await, AdminState::Ready);
    // The worker behind lb1 may be there: nothing is claimed closed.
    let attach = m1.attach_of(via1[i1].0).unwrap();
    let err = hook.close_worker_session(&attach).await.unwrap_err();
    assert!(
        matches!(err, LbError::SessionSearchIncomplete { .. }),
        "{err}"
    );
    assert!(!hook.check().await.unwrap_err().is_setting());
}
