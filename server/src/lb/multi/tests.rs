//! The group hook against fake HAProxy runtime APIs (`crate::lb::fake_haproxy`): two load
//! balancers, each with this master as `m1` in backend `masters`.

use super::*;
use crate::lb::fake_haproxy::FakeHaproxy;
use crate::lb::haproxy::AdminState;
use crate::lb::{LbConfig, LbStatus, build};

async fn two(ip1: &str, ip2: &str) -> (FakeHaproxy, FakeHaproxy, HaproxyGroup) {
    let lb1 = FakeHaproxy::start(ip1, "masters", &["m1", "m2"]).await;
    let lb2 = FakeHaproxy::start(ip2, "masters", &["m1", "m2"]).await;
    let group = HaproxyGroup::new(
        vec![lb1.socket(), lb2.socket()],
        "masters".into(),
        "m1".into(),
    );
    (lb1, lb2, group)
}

fn attach(peer: &str) -> WorkerAttach {
    let peer: std::net::SocketAddr = peer.parse().unwrap();
    WorkerAttach {
        worker: "w1".into(),
        peer_host: peer.ip().to_string(),
        peer_port: peer.port(),
    }
}

fn shutdowns(lb: &FakeHaproxy) -> Vec<String> {
    lb.commands()
        .into_iter()
        .filter(|c| c.starts_with("shutdown"))
        .collect()
}

#[tokio::test]
async fn stop_and_resume_change_every_load_balancer() {
    let (lb1, lb2, group) = two("127.0.0.1", "127.0.0.1").await;
    assert_eq!(group.routing_state().await.unwrap(), Routing::Ready);
    group.stop_routing().await.unwrap();
    assert_eq!(
        (lb1.admin("m1"), lb2.admin("m1")),
        (AdminState::Maint, AdminState::Maint)
    );
    assert_eq!(
        lb1.admin("m2"),
        AdminState::Ready,
        "only this master's server"
    );
    assert_eq!(group.routing_state().await.unwrap(), Routing::Maint);
    group.stop_routing().await.unwrap();
    group.resume_routing().await.unwrap();
    assert_eq!(
        (lb1.admin("m1"), lb2.admin("m1")),
        (AdminState::Ready, AdminState::Ready)
    );
    assert_eq!(group.routing_state().await.unwrap(), Routing::Ready);
}

#[tokio::test]
async fn one_load_balancer_down_is_named_and_the_other_still_changes() {
    let (mut lb1, mut lb2, group) = two("127.0.0.1", "127.0.0.1").await;
    lb2.stop().await;
    let err = group.stop_routing().await.unwrap_err();
    assert_eq!(err.failed_load_balancers(), vec![lb2.name().as_str()]);
    let LbError::Partial { ref ok, .. } = err else {
        panic!("expected a partial failure, got {err}");
    };
    assert_eq!(ok, &vec![lb1.name()]);
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("stop routing: failed on {} (", lb2.name())),
        "{text}"
    );
    assert!(
        text.ends_with(&format!("; worked on {}", lb1.name())),
        "{text}"
    );
    assert_eq!(lb1.admin("m1"), AdminState::Maint);
    // While it is down the routing state cannot be told, and the error says who said what.
    let err = group.routing_state().await.unwrap_err();
    assert_eq!(err.failed_load_balancers(), vec![lb2.name().as_str()]);
    assert!(
        err.to_string()
            .contains(&format!("worked on {} (maint)", lb1.name())),
        "{err}"
    );

    // Back again: the same call, retried, finishes the job.
    lb2.restart().await;
    assert_eq!(lb2.admin("m1"), AdminState::Ready);
    group.stop_routing().await.unwrap();
    assert_eq!(lb2.admin("m1"), AdminState::Maint);
    assert_eq!(group.routing_state().await.unwrap(), Routing::Maint);

    // The first one down: the ones after it are still changed.
    lb1.stop().await;
    let err = group.resume_routing().await.unwrap_err();
    assert_eq!(err.failed_load_balancers(), vec![lb1.name().as_str()]);
    assert!(
        err.to_string().starts_with("resume routing: failed on "),
        "{err}"
    );
    assert_eq!(lb2.admin("m1"), AdminState::Ready);
    assert_eq!(lb1.admin("m1"), AdminState::Maint);
}

#[tokio::test]
async fn routing_is_maint_only_when_every_load_balancer_says_so() {
    let (lb1, lb2, group) = two("127.0.0.1", "127.0.0.1").await;
    lb1.set_admin("m1", AdminState::Maint);
    // One has it out of rotation: the master is not in rotation (a start puts it back on all).
    assert_eq!(group.routing_state().await.unwrap(), Routing::Maint);
    lb1.set_admin("m1", AdminState::Ready);
    lb2.set_admin("m1", AdminState::Drain);
    assert_eq!(group.routing_state().await.unwrap(), Routing::Drain);
    lb2.set_admin("m1", AdminState::Ready);
    assert_eq!(group.routing_state().await.unwrap(), Routing::Ready);
    assert_eq!(
        most_drained(&[Routing::Ready, Routing::Maint, Routing::Drain]),
        Some(Routing::Maint)
    );
    assert_eq!(most_drained(&[]), None);
}

#[tokio::test]
async fn the_session_is_found_by_port_on_the_second_load_balancer_sharing_the_host() {
    let (lb1, lb2, group) = two("127.0.0.1", "127.0.0.1").await;
    lb1.add_session("0x1", "m1", "127.0.0.1:40001");
    lb1.add_session("0x2", "m2", "127.0.0.1:40002");
    lb2.add_session("0x3", "m1", "127.0.0.1:40002");
    let outcome = group
        .close_worker_session(&attach("127.0.0.1:40002"))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        CloseOutcome::Closed {
            session: format!("0x3 on {}", lb2.name())
        }
    );
    assert_eq!(shutdowns(&lb2), vec!["shutdown session 0x3"]);
    assert!(
        shutdowns(&lb1).is_empty(),
        "m2's session on lb1 is not ours"
    );
    assert_eq!(lb1.session_ids(), vec!["0x1", "0x2"]);
}

#[tokio::test]
async fn the_load_balancer_at_the_peer_address_is_searched_first() {
    let (mut lb1, lb2, group) = two("127.0.0.1", "127.0.0.2").await;
    // Same port on both; only the host tells them apart.
    lb1.add_session("0x1", "m1", "127.0.0.1:40001");
    lb2.add_session("0x2", "m1", "127.0.0.2:40001");
    lb2.add_session("0x3", "m1", "127.0.0.2:40003");
    let outcome = group
        .close_worker_session(&attach("127.0.0.2:40001"))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        CloseOutcome::Closed {
            session: format!("0x2 on {}", lb2.name())
        }
    );
    assert!(
        lb1.commands().is_empty(),
        "lb2 is at the peer address: lb1 is not asked"
    );
    assert_eq!(lb1.session_ids(), vec!["0x1"]);
    // So a load balancer that is down does not hold up the workers behind the other.
    lb1.stop().await;
    let outcome = group
        .close_worker_session(&attach("127.0.0.2:40003"))
        .await
        .unwrap();
    assert!(matches!(outcome, CloseOutcome::Closed { .. }));
    assert!(lb2.session_ids().is_empty());
}

#[tokio::test]
async fn session_not_found_only_when_every_load_balancer_answered() {
    let (mut lb1, lb2, group) = two("127.0.0.1", "127.0.0.1").await;
    lb2.add_session("0x9", "m1", "127.0.0.1:40009");
    let err = group
        .close_worker_session(&attach("127.0.0.1:40001"))
        .await
        .unwrap_err();
    assert!(matches!(err, LbError::SessionNotFound { .. }), "{err}");

    // lb1 does not answer: the session may be there, so nothing is claimed.
    lb1.stop().await;
    let err = group
        .close_worker_session(&attach("127.0.0.1:40001"))
        .await
        .unwrap_err();
    let LbError::SessionSearchIncomplete { ref searched, .. } = err else {
        panic!("expected an incomplete search, got {err}");
    };
    assert_eq!(searched, &vec![lb2.name()]);
    assert_eq!(err.failed_load_balancers(), vec![lb1.name().as_str()]);
    assert!(
        err.to_string().starts_with(
            "cannot tell where worker `w1`'s session from 127.0.0.1:40001 is: failed on "
        ),
        "{err}"
    );
    assert!(shutdowns(&lb2).is_empty());
    // A session found on the one that answers is closed even while the other is down.
    let outcome = group
        .close_worker_session(&attach("127.0.0.1:40009"))
        .await
        .unwrap();
    assert!(matches!(outcome, CloseOutcome::Closed { .. }));
}

#[tokio::test]
async fn the_check_names_the_load_balancer() {
    let (mut lb1, lb2, group) = two("127.0.0.1", "127.0.0.1").await;
    group.check().await.unwrap();

    lb2.set_level("operator");
    match group.check().await.unwrap_err() {
        LbCheckError::Setting { key, message } => {
            assert_eq!(key, "load_balancer.runtime_sockets");
            assert!(message.contains(&lb2.name()), "{message}");
        }
        other => panic!("expected a setting error, got {other}"),
    }
    lb2.set_level("admin");

    let wrong = HaproxyGroup::new(
        vec![lb1.socket(), lb2.socket()],
        "masters".into(),
        "m9".into(),
    );
    match wrong.check().await.unwrap_err() {
        LbCheckError::Setting { key, message } => {
            assert_eq!(key, "load_balancer.server");
            assert!(message.contains(&lb1.name()), "{message}");
        }
        other => panic!("expected a setting error, got {other}"),
    }

    lb1.stop().await;
    let err = group.check().await.unwrap_err();
    assert!(!err.is_setting(), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("failed on {}", lb1.name())),
        "{err}"
    );
}

#[tokio::test]
async fn readers_see_each_load_balancer() {
    let (mut lb1, lb2, _) = two("127.0.0.1", "127.0.0.1").await;
    let cfg = LbConfig::Haproxy {
        runtime_sockets: vec![lb1.socket(), lb2.socket()],
        backend: "masters".into(),
        server: "m1".into(),
    };
    let hook = build(&cfg).await.unwrap();
    assert_eq!(hook.load_balancers().len(), 2);
    let status = LbStatus::default();
    status.set(hook);
    assert_eq!(status.routing().await, Ok(Routing::Ready));
    assert_eq!(status.check().await, Ok(()));

    lb1.set_admin("m1", AdminState::Maint);
    let why = status.routing().await.unwrap_err();
    assert_eq!(
        why,
        format!(
            "the load balancers disagree about this master: maint on {}, ready on {}",
            lb1.name(),
            lb2.name()
        )
    );

    lb1.stop().await;
    let why = status.check().await.unwrap_err();
    assert!(why.contains(&lb1.name()), "{why}");
    assert!(!why.contains(&lb2.name()), "{why}");
    let why = status.routing().await.unwrap_err();
    assert!(why.contains(&lb1.name()), "{why}");
    assert!(
        why.ends_with(&format!("(the others: ready on {})", lb2.name())),
        "{why}"
    );

    // One load balancer configured: the hook of one, as before.
    let one = LbConfig::Haproxy {
        runtime_sockets: vec![lb2.socket()],
        backend: "masters".into(),
        server: "m1".into(),
    };
    assert!(build(&one).await.unwrap().load_balancers().is_empty());
}

#[tokio::test]
async fn a_silent_load_balancer_is_named_and_asked_again_only_after_a_while() {
    let (lb1, lb2, group) = two("127.0.0.1", "127.0.0.1").await;
    let status = LbStatus::default();
    status.set(std::sync::Arc::new(group));
    lb2.set_silent(true);
    let why = status.check().await.unwrap_err();
    assert_eq!(
        why,
        format!("the load balancer {} did not answer within 1 s", lb2.name())
    );
    let asked = lb2.connections();
    // Asked again at once: lb2's failure comes from memory, lb1 is asked afresh.
    let lb1_before = lb1.commands().len();
    let why = status.routing().await.unwrap_err();
    assert!(
        why.starts_with(&format!("the load balancer {} did not answer", lb2.name())),
        "{why}"
    );
    assert!(
        why.ends_with(&format!("(the others: ready on {})", lb1.name())),
        "{why}"
    );
    assert_eq!(lb2.connections(), asked);
    assert_eq!(lb1.commands().len(), lb1_before + 1);
}
