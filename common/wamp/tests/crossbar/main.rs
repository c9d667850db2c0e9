//! Integration tests of `bbctl-wamp` against a real crossbar.io router (started by `router`),
//! plus a scripted fake router for failures a real one does not produce on demand.

mod fake;
mod pubsub;
mod reconnect;
mod router;
mod rpc;

use std::time::Duration;

use bbctl_wamp::{Client, ClientOptions, EventMessage, Subscription};

/// How long any single expected event may take.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Connects a plain client to the shared router.
pub async fn connect_shared() -> Client {
    let router = router::shared();
    Client::connect(&router.url(), router::REALM, ClientOptions::default())
        .await
        .expect("connect to crossbar")
}

/// A string unique to this call, to tell this test's events from other tests' on the shared router.
pub fn nonce() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The next event on `subscription` whose first argument has `"nonce": nonce`, skipping others.
pub async fn next_with_nonce(subscription: &mut Subscription, nonce: &str) -> EventMessage {
    let wait = async {
        loop {
            let event = subscription.recv().await.expect("subscription ended");
            if event
                .args
                .first()
                .and_then(|a| a.get("nonce"))
                .and_then(|n| n.as_str())
                == Some(nonce)
            {
                return event;
            }
        }
    };
    tokio::time::timeout(PATIENCE, wait)
        .await
        .expect("no event with our nonce in time")
}
