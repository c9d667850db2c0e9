//! The shared snapshot against a stub www that counts how often it is read.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::json;

use super::{EventSeq, SnapshotCache};
use crate::buildbot::rest::RestClient;

/// A www with one master and nothing else; counts the reads of `/masters` (one per snapshot).
/// `down` answers 500 to everything.
async fn www(down: bool) -> (String, Arc<AtomicUsize>) {
    let reads = Arc::new(AtomicUsize::new(0));
    let empty = |key: &'static str| move || async move { axum::Json(json!({key: [], "meta": {}})) };
    let app = Router::new()
        .route(
            "/api/v2/masters",
            get(move |State(reads): State<Arc<AtomicUsize>>| async move {
                reads.fetch_add(1, Ordering::SeqCst);
                // Slow enough that concurrent readers arrive while it is taken.
                tokio::time::sleep(Duration::from_millis(100)).await;
                if down {
                    return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response_boxed();
                }
                axum::Json(json!({"masters": [
                    {"masterid": 1, "name": "h:/m1", "active": true, "last_active": 1}
                ], "meta": {}}))
                .into_response_boxed()
            }),
        )
        .route("/api/v2/workers", get(empty("workers")))
        .route("/api/v2/builds", get(empty("builds")))
        .route("/api/v2/builders", get(empty("builders")))
        .route("/api/v2/buildrequests", get(empty("buildrequests")))
        .with_state(reads.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, reads)
}

trait Boxed {
    fn into_response_boxed(self) -> axum::response::Response;
}

impl<T: axum::response::IntoResponse> Boxed for T {
    fn into_response_boxed(self) -> axum::response::Response {
        self.into_response()
    }
}

fn cache(url: &str, seq: Arc<AtomicU64>, ttl: Duration) -> Arc<SnapshotCache> {
    let rest = Arc::new(RestClient::with_timeout(url, Duration::from_secs(5)));
    let seq: EventSeq = Arc::new(move || seq.load(Ordering::SeqCst));
    Arc::new(SnapshotCache::with_ttl(rest, seq, ttl))
}

#[tokio::test]
async fn concurrent_readers_share_one_snapshot() {
    let (url, reads) = www(false).await;
    let c = cache(&url, Arc::new(AtomicU64::new(0)), Duration::from_secs(60));
    let all = futures_util::future::join_all((0..20).map(|_| {
        let c = c.clone();
        async move { c.get().await }
    }))
    .await;
    assert!(
        all.iter()
            .all(|s| s.snap.as_ref().unwrap().masters.len() == 1)
    );
    assert_eq!(reads.load(Ordering::SeqCst), 1, "20 readers, one snapshot");
    // Later readers are told how old it is.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let later = c.get().await;
    assert!(later.age >= Duration::from_millis(50), "{:?}", later.age);
    assert_eq!(reads.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_event_or_the_ttl_makes_the_next_reader_take_a_new_one() {
    let (url, reads) = www(false).await;
    let seq = Arc::new(AtomicU64::new(7));
    let c = cache(&url, seq.clone(), Duration::from_millis(300));
    c.get().await;
    c.get().await;
    assert_eq!(reads.load(Ordering::SeqCst), 1);
    seq.store(8, Ordering::SeqCst);
    c.get().await;
    assert_eq!(reads.load(Ordering::SeqCst), 2, "an event since");
    tokio::time::sleep(Duration::from_millis(350)).await;
    c.get().await;
    assert_eq!(reads.load(Ordering::SeqCst), 3, "older than the TTL");
}

#[tokio::test]
async fn a_failed_read_is_shared_too() {
    let (url, reads) = www(true).await;
    let c = cache(&url, Arc::new(AtomicU64::new(0)), Duration::from_secs(60));
    assert!(c.get().await.snap.is_err());
    assert!(c.get().await.snap.is_err());
    assert_eq!(
        reads.load(Ordering::SeqCst),
        1,
        "a master that fails is asked once per TTL"
    );
}
