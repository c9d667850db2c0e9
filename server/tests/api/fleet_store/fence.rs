//! The fence: every documented mutating `/v1` operation (from openapi.yaml, so new routes are
//! covered without editing this file) refuses a stale `X-Bbctl-Lease-Epoch` before doing
//! anything; the lease and journal routes check the epoch themselves.

use axum::http::StatusCode;
use serde_json::json;

use super::{call_h, take};
use crate::helpers::{TestAgent, assert_error};
use crate::spec::{operations, valid_body};

const HEADER: &str = "x-bbctl-lease-epoch";

/// Takes the lease three times (releasing in between): the store's epoch is 3.
async fn epoch_three(agent: &TestAgent) {
    for n in 1..=3 {
        let holder = format!("up-{n}/a@h/1-000{n}");
        let (status, lease) = agent
            .call(
                "PUT",
                "/v1/lease",
                Some(take(&holder, &format!("up-{n}"), 60.0, false)),
            )
            .await;
        assert_eq!(
            (status, lease["epoch"].as_i64()),
            (StatusCode::OK, Some(n)),
            "{lease}"
        );
        if n < 3 {
            let path = format!("/v1/lease?holder={}", super::lease::enc(&holder));
            assert_eq!(agent.call("DELETE", &path, None).await.0, StatusCode::OK);
        }
    }
}

fn fenced_ops() -> Vec<crate::spec::Operation> {
    operations()
        .into_iter()
        .filter(|o| o.is_v1() && o.method != "GET")
        .filter(|o| !o.template.starts_with("/v1/lease") && !o.template.starts_with("/v1/upgrades"))
        .collect()
}

#[tokio::test]
async fn a_stale_epoch_is_refused_on_every_fenced_route_and_nothing_happens() {
    let agent = TestAgent::new();
    epoch_three(&agent).await;
    let ops = fenced_ops();
    for must in [
        "/v1/master/stop",
        "/v1/drain",
        "/v1/configs",
        "/v1/routing/resume",
    ] {
        assert!(ops.iter().any(|o| o.template == must), "{must} not fenced");
    }
    for op in &ops {
        let (status, body) = call_h(
            &agent,
            &op.method,
            &op.path(),
            valid_body(op),
            &[(HEADER, "default:2")],
        )
        .await;
        assert_error(status, &body, StatusCode::CONFLICT, "stale_epoch");
        let details = &body["error"]["details"];
        assert_eq!(
            (details["presented"].as_i64(), details["current"].as_i64()),
            (Some(2), Some(3)),
            "{} {}: {body}",
            op.method,
            op.template
        );
        assert_eq!(details["holder"], "up-3/a@h/1-0003");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("nothing was done")
        );
    }
    for path in ["/v1/operations", "/v1/configs", "/v1/buildbot-db/ops/u-1"] {
        let (status, json) = agent.call("GET", path, None).await;
        assert_eq!((status, json), (StatusCode::OK, json!([])), "{path}");
    }
    assert!(!agent.basedir().exists(), "no master was created");
}

#[tokio::test]
async fn bad_headers_are_refused_and_the_agents_own_row_remembers() {
    let agent = TestAgent::new();
    epoch_three(&agent).await;
    let stop = |h: &'static str| {
        let agent = &agent;
        async move {
            call_h(
                agent,
                "POST",
                "/v1/master/stop",
                Some(json!({})),
                &[(HEADER, h)],
            )
            .await
        }
    };
    for bad in ["default", "default:x", "default:0", ":3"] {
        let (status, body) = stop(bad).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    }
    let (status, body) = stop("prod:3").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("fleet prod"),
        "{body}"
    );

    // The current epoch passes the fence (the handler then answers as it would).
    let (_, body) = stop("default:3").await;
    assert_ne!(body["error"]["code"], "stale_epoch", "{body}");
    // A higher epoch seen once is remembered by the agent, whatever the store says.
    let (_, body) = stop("default:7").await;
    assert_ne!(body["error"]["code"], "stale_epoch", "{body}");
    let (status, body) = stop("default:5").await;
    assert_error(status, &body, StatusCode::CONFLICT, "stale_epoch");
    assert_eq!(body["error"]["details"]["current"], 7, "{body}");
    // No header: let through (manual commands).
    let (_, body) = call_h(&agent, "POST", "/v1/master/stop", Some(json!({})), &[]).await;
    assert_ne!(body["error"]["code"], "stale_epoch", "{body}");
    // The lease and journal routes are not fenced by the header: their SQL checks.
    let (status, body) = call_h(
        &agent,
        "PUT",
        "/v1/lease",
        Some(super::renew("up-3/a@h/1-0003", 3)),
        &[(HEADER, "default:1")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
