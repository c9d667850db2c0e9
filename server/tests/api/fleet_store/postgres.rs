//! The fleet store on a real PostgreSQL: the same matrices, the epoch across agents and agent
//! restarts, a PostgreSQL restart (503 `store_unavailable` meanwhile, then it works again), an
//! unreachable store, two agents migrating one store and appending to one journal at once.

use axum::http::StatusCode;
use serde_json::json;

use super::{pg_agent, pg_store, take};
use crate::helpers::{assert_error, free_port};

#[tokio::test]
async fn the_lease_and_journal_matrices_on_postgres() {
    let (_pg, url) = pg_store();
    super::lease::lease_matrix(&pg_agent(&url)).await;
    let (_pg2, url2) = pg_store();
    super::journal::journal_matrix(&pg_agent(&url2)).await;
}

#[tokio::test]
async fn every_agent_of_the_fleet_sees_one_lease_whose_epoch_never_goes_down() {
    let (_pg, url) = pg_store();
    // Two agents created at once migrate the same empty store (advisory lock: one waits).
    let (a, b) = (pg_agent(&url), pg_agent(&url));
    let (x, y) = tokio::join!(
        a.call("GET", "/v1/fleet/store", None),
        b.call("GET", "/v1/fleet/store", None)
    );
    for info in [&x.1, &y.1] {
        assert_eq!(info["reachable"], true, "{info}");
        assert_eq!(info["backend"], "postgres");
        assert!(
            info["store_key"]
                .as_str()
                .unwrap()
                .ends_with("/bbctl_fleet"),
            "{info}"
        );
        assert!(
            !info.to_string().contains("postgres@"),
            "no user in the key: {info}"
        );
    }
    let (_, l) = a
        .call(
            "PUT",
            "/v1/lease",
            Some(take("up-1/a@h/1-0001", "up-1", 60.0, false)),
        )
        .await;
    assert_eq!(
        (l["epoch"].as_i64(), l["fleet"].as_str()),
        (Some(1), Some("prod")),
        "{l}"
    );
    // Through the other agent: held, then taken over (resume from another machine).
    let (status, body) = b
        .call(
            "PUT",
            "/v1/lease",
            Some(take("up-1/b@h/2-0002", "up-1", 60.0, false)),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict");
    let (_, l) = b
        .call(
            "PUT",
            "/v1/lease",
            Some(take("up-1/b@h/2-0002", "up-1", 60.0, true)),
        )
        .await;
    assert_eq!(l["epoch"], 2, "{l}");
    // A stale header at agent A (which never saw epoch 2 itself) is refused: A reads the store.
    let (status, body) = super::call_h(
        &a,
        "POST",
        "/v1/master/stop",
        Some(json!({})),
        &[("x-bbctl-lease-epoch", "prod:1")],
    )
    .await;
    assert_error(status, &body, StatusCode::CONFLICT, "stale_epoch");
    // A restarted agent (a new one on the same store) continues from the store's epoch.
    drop(a);
    let c = pg_agent(&url);
    let path = "/v1/lease?holder=up-1%2Fb%40h%2F2-0002&epoch=2";
    assert_eq!(c.call("DELETE", path, None).await.0, StatusCode::OK);
    let (_, l) = c
        .call(
            "PUT",
            "/v1/lease",
            Some(take("up-9/c@h/3-0003", "up-9", 60.0, false)),
        )
        .await;
    assert_eq!(l["epoch"], 3, "{l}");
}

#[tokio::test]
async fn a_postgres_restart_answers_503_then_the_store_works_again() {
    let (pg, url) = pg_store();
    let agent = pg_agent(&url);
    let (_, l) = agent
        .call(
            "PUT",
            "/v1/lease",
            Some(take("up-1/a@h/1-0001", "up-1", 600.0, false)),
        )
        .await;
    assert_eq!(l["epoch"], 1, "{l}");
    pg.stop();
    for path in ["/v1/lease", "/v1/upgrades", "/v1/fleet/agents"] {
        let (status, body) = agent.call("GET", path, None).await;
        assert_error(
            status,
            &body,
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
        );
        assert!(!body.to_string().contains("password"), "{body}");
    }
    let (status, body) = agent
        .call(
            "PUT",
            "/v1/upgrades/up-1",
            Some(json!({"holder": "up-1/a@h/1-0001", "epoch": 1, "doc": {}})),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
    );
    let (status, info) = agent.call("GET", "/v1/fleet/store", None).await;
    assert_eq!(
        (status, &info["reachable"]),
        (StatusCode::OK, &json!(false)),
        "{info}"
    );
    assert!(
        info["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{info}"
    );
    pg.start_again();
    // The same agent, no restart: the next call reconnects.
    let (status, l) = agent.call("GET", "/v1/lease", None).await;
    assert_eq!(
        (status, l["epoch"].as_i64()),
        (StatusCode::OK, Some(1)),
        "{l}"
    );
    let (status, body) = agent
        .call(
            "PUT",
            "/v1/upgrades/up-1",
            Some(json!({"holder": "up-1/a@h/1-0001", "epoch": 1, "doc": {}})),
        )
        .await;
    assert_eq!(
        (status, body["version"].as_i64()),
        (StatusCode::OK, Some(1)),
        "{body}"
    );
}

#[tokio::test]
async fn an_unreachable_store_answers_503_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("fleet.pw");
    std::fs::write(&pw, "s3cret-fleet-pw\n").unwrap();
    let agent = crate::helpers::TestAgent::with(crate::helpers::AgentOptions {
        extra_toml: format!(
            "[fleet]\ndb_url = \"postgres://bbctl@127.0.0.1:{}/bbctl_fleet\"\npassword_file = {:?}\n",
            free_port(),
            pw.display().to_string()
        ),
        ..Default::default()
    });
    let (status, body) = agent
        .call(
            "PUT",
            "/v1/lease",
            Some(take("up-1/a@h/1-0001", "up-1", 60.0, false)),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
    );
    let (_, info) = agent.call("GET", "/v1/fleet/store", None).await;
    assert_eq!(info["reachable"], false, "{info}");
    for text in [body.to_string(), info.to_string()] {
        assert!(!text.contains("s3cret-fleet-pw"), "password leaked: {text}");
    }
}

#[tokio::test]
async fn of_two_appends_through_two_agents_at_once_exactly_one_wins() {
    let (_pg, url) = pg_store();
    let (a, b) = (pg_agent(&url), pg_agent(&url));
    let h = "up-1/a@h/1-0001";
    let (_, l) = a
        .call("PUT", "/v1/lease", Some(take(h, "up-1", 60.0, false)))
        .await;
    let e = l["epoch"].as_i64().unwrap();
    let body = |step: &str| json!({"holder": h, "epoch": e, "doc": {"step": step}});
    for round in 0..5 {
        let expected = (round > 0).then_some(round);
        let mut x = body("x");
        let mut y = body("y");
        x["expected_version"] = json!(expected);
        y["expected_version"] = json!(expected);
        let (rx, ry) = tokio::join!(
            a.call("PUT", "/v1/upgrades/up-1", Some(x)),
            b.call("PUT", "/v1/upgrades/up-1", Some(y)),
        );
        let mut statuses = [rx.0, ry.0];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::CONFLICT],
            "{} {}",
            rx.1,
            ry.1
        );
        let loser = if rx.0 == StatusCode::OK { &ry.1 } else { &rx.1 };
        assert_eq!(loser["error"]["code"], "conflict", "{loser}");
    }
    let (_, entries) = b.call("GET", "/v1/upgrades/up-1/entries", None).await;
    assert_eq!(entries.as_array().unwrap().len(), 5, "{entries}");
}
