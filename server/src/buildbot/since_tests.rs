//! [`BuildbotApi::builds_started_since`] against a stub www: the query it sends (Buildbot's
//! field filters), and rows a www that ignored the filters returned kept out of the answer.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use serde_json::json;

use super::{BuildbotApi, RestClient};

/// A www answering `/api/v2/builds` with builds of master 2 (one before the filter's time) and
/// of master 3, whatever the query; it records the query.
async fn www() -> (String, Arc<Mutex<Option<String>>>) {
    let seen = Arc::new(Mutex::new(None));
    let app = Router::new()
        .route(
            "/api/v2/builds",
            get(
                |State(seen): State<Arc<Mutex<Option<String>>>>, RawQuery(q): RawQuery| async move {
                    *seen.lock().unwrap() = q;
                    axum::Json(json!({"builds": [
                        {"buildid": 1, "builderid": 5, "number": 1, "masterid": 2,
                         "started_at": 99, "complete_at": 120, "complete": true, "results": 0},
                        {"buildid": 2, "builderid": 5, "number": 2, "masterid": 2,
                         "started_at": 100, "complete_at": 130.5, "complete": true, "results": 2},
                        {"buildid": 3, "builderid": 5, "number": 3, "masterid": 3,
                         "started_at": 101, "complete": false},
                        {"buildid": 4, "builderid": 6, "number": 1, "masterid": 2,
                         "started_at": 102, "complete_at": null, "complete": false}
                    ], "meta": {"total": 4}}))
                },
            ),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

#[tokio::test]
async fn builds_started_since_filters_by_master_and_start_in_the_query_and_locally() {
    let (url, seen) = www().await;
    let rest = RestClient::with_timeout(&url, Duration::from_secs(5));
    let builds = rest.builds_started_since(2, 100).await.unwrap();
    assert_eq!(
        seen.lock().unwrap().as_deref(),
        Some("masterid=2&started_at__ge=100")
    );
    let ids: Vec<i64> = builds.iter().map(|b| b.buildid).collect();
    assert_eq!(ids, [2, 4]);
    assert_eq!(builds[0].complete_at, Some(130.5));
    assert_eq!(builds[0].results, Some(2));
    assert_eq!(builds[1].complete_at, None);
}
