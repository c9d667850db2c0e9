//! The REST client against a www that sends an answer's headers and then leaves its body unsent
//! past the timeout, as a loaded Buildbot 4.3 master was seen to do once: a read is asked once
//! more, a control call never.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::{BuildbotApi, RestClient, RestError, WorkerAction, WorkerRef};

const MASTERS: &str = r#"{"masters": [{"masterid": 1, "name": "m:/b", "active": true, "last_active": 1}], "meta": {}}"#;
const RESULT: &str = r#"{"jsonrpc": "2.0", "result": null, "id": 1}"#;

/// A www whose first `stalled` answers send their headers and half their body, then nothing for
/// 10 s; later answers are whole. Counts the requests it got.
async fn stalling_www(stalled: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    tokio::spawn(async move {
        loop {
            let (mut conn, _) = listener.accept().await.unwrap();
            let counted = counted.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = conn.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).into_owned();
                let n = counted.fetch_add(1, Ordering::SeqCst);
                let body = if head.starts_with("POST") {
                    RESULT
                } else {
                    MASTERS
                };
                let headers = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(headers.as_bytes()).await;
                if n < stalled {
                    let _ = conn.write_all(&body.as_bytes()[..body.len() / 2]).await;
                    tokio::time::sleep(Duration::from_secs(10)).await;
                } else {
                    let _ = conn.write_all(body.as_bytes()).await;
                }
            });
        }
    });
    (url, requests)
}

#[tokio::test]
async fn a_read_whose_body_stalls_is_asked_once_more() {
    let (url, requests) = stalling_www(1).await;
    let rest = RestClient::with_timeout(&url, Duration::from_millis(500));
    let masters = rest.masters().await.expect("the second answer is whole");
    assert_eq!(masters.len(), 1);
    assert_eq!(requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_read_stalled_twice_is_a_transport_error() {
    let (url, requests) = stalling_www(2).await;
    let rest = RestClient::with_timeout(&url, Duration::from_millis(500));
    let err = rest.masters().await.unwrap_err();
    assert!(matches!(err, RestError::Transport { .. }), "{err:?}");
    assert_eq!(requests.load(Ordering::SeqCst), 2, "asked twice, not more");
}

#[tokio::test]
async fn a_control_call_is_never_sent_twice() {
    let (url, requests) = stalling_www(1).await;
    let rest = RestClient::with_timeout(&url, Duration::from_millis(500));
    let worker = WorkerRef {
        id: 1,
        name: Some("w"),
    };
    // The headers said 200: the call was taken, whatever its cut body held.
    let _ = rest.control_worker(worker, WorkerAction::Pause, "t").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(requests.load(Ordering::SeqCst), 1);
}
