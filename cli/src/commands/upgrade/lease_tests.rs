//! Tests of the fleet lease: messages, the run token, fencing.

use super::*;

pub(crate) fn lease(holder: &str, epoch: i64) -> Lease {
    Lease {
        fleet: "prod".into(),
        operation: "up-1".into(),
        epoch,
        db_now: 1312.0,
        holder: holder.into(),
        reason: "upgrade to v2 by a@h".into(),
        kind: LeaseKind::Upgrade,
        acquired_at: 1000.0,
        renewed_at: 1300.0,
        expires_at: 1390.0,
    }
}

fn held_run() -> Held {
    Held {
        fleet: "prod".into(),
        operation: "up-1".into(),
        holder: "up-1/a@h/42-0001".into(),
        epoch: 6,
        reason: "r".into(),
        kind: LeaseKind::Upgrade,
    }
}

/// Issue 12: "cannot check the fleet lease (is an upgrade running?)" was printed whatever
/// went wrong; the warning says what did.
#[test]
fn an_unchecked_lease_says_what_happened() {
    let down = ApiError::Unreachable {
        agent: "m1".into(),
        detail: "connection refused".into(),
    };
    assert_eq!(
        unchecked(&down),
        "warning: cannot tell whether an upgrade holds the fleet (the lease is kept by agent \
         m1): m1: unreachable (connection refused); going on without that check"
    );
}

#[test]
fn a_held_lease_says_since_when_by_the_store_clock() {
    assert_eq!(
        describe(&lease("up-1/a@h/42-9f3a", 1)),
        "up-1/a@h/42-9f3a (upgrade to v2 by a@h), taken 5m12s ago"
    );
}

#[test]
fn a_refusal_names_the_holder_and_the_expiry_by_the_store_clock() {
    let body = serde_json::json!({"error": {"code": "conflict",
        "message": "the fleet is held", "details": lease("up-1/a@h/42-9f3a", 2)}});
    let err = ApiError::from_answer("m1", 409, body.to_string().as_bytes());
    let refused = refusal(err.details_as::<Lease>());
    assert_eq!(refused.exit(), crate::exit::Exit::Refused);
    assert_eq!(
        refused.to_string(),
        "refusing to upgrade: the fleet is held by up-1/a@h/42-9f3a (upgrade to v2 by a@h), \
         taken 5m12s ago, kind upgrade; it expires in 1m18s unless renewed"
    );
}

#[test]
fn the_run_token_names_the_operation_the_operator_and_the_process() {
    let token = run_token("up-17");
    let parts: Vec<&str> = token.split('/').collect();
    assert_eq!(parts.len(), 3, "{token}");
    assert_eq!(parts[0], "up-17");
    assert_eq!(parts[1], crate::operator::requested_by());
    let (pid, rand) = parts[2].split_once('-').unwrap();
    assert_eq!(pid, std::process::id().to_string());
    assert_eq!(rand.len(), 4);
    assert!(rand.chars().all(|c| c.is_ascii_hexdigit()), "{token}");
}

#[test]
fn a_stale_epoch_ends_the_run_naming_the_new_holder() {
    let body = serde_json::json!({"error": {"code": "stale_epoch", "message": "stale",
        "details": {"fleet": "prod", "presented": 6, "current": 7,
            "holder": "up-1/b@h2/7-beef"}}});
    let err = ApiError::from_answer("m2", 409, body.to_string().as_bytes());
    let stop = fenced(&held_run(), &err).unwrap();
    assert_eq!(stop.exit(), crate::exit::Exit::Refused);
    assert!(
        stop.to_string()
            .contains("taken over by up-1/b@h2/7-beef (epoch 7; this run held epoch 6)"),
        "{stop}"
    );
    let conflict = ApiError::from_answer(
        "m2",
        409,
        br#"{"error":{"code":"conflict","message":"journal version mismatch"}}"#,
    );
    assert!(fenced(&held_run(), &conflict).is_none());
}

/// A renewal answered `stale_epoch` stops the renewals and tells the runner at once.
#[tokio::test]
async fn a_fenced_renewal_stops_the_runner() {
    use axum::routing::put;
    let app = axum::Router::new().route(
        "/v1/lease",
        put(|| async {
            let body = serde_json::json!({"error": {"code": "stale_epoch",
                "message": "lease epoch 6 is older than 7",
                "details": {"fleet": "prod", "presented": 6, "current": 7,
                    "holder": "up-1/b@h2/7-beef"}}});
            (axum::http::StatusCode::CONFLICT, axum::Json(body))
        }),
    );
    let coord = Coordinator::single(crate::client::test_agent(app).await);
    let period = std::time::Duration::from_millis(50);
    let mut renewal = Renewal::every(period, coord, held_run());
    let steps = std::future::pending::<()>();
    let stop = tokio::select! {
        _ = steps => unreachable!("the steps never end"),
        stop = renewal.fenced() => stop,
    };
    assert_eq!(stop.exit(), crate::exit::Exit::Refused);
    assert!(stop.to_string().contains("up-1/b@h2/7-beef"), "{stop}");
}
