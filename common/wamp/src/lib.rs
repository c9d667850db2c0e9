//! `bbctl-wamp`: a small async WAMP v2 client (JSON serializer, `wamp.2.json`) on
//! tokio-tungstenite, written because the crates.io `wamp-client` does not build on stable Rust,
//! never sends SUBSCRIBE and panics on connection loss.
//!
//! It speaks the client side of the Basic Profile that bbctl needs to follow a Buildbot fleet's
//! message queue (a crossbar.io router): HELLO/WELCOME/ABORT, SUBSCRIBE with exact, `prefix` or
//! `wildcard` matching (each event carries the topic it was really published on), PUBLISH with
//! acknowledgement, CALL, and a clean GOODBYE.
//!
//! - [`Client`] is one session; when its connection is lost, pending requests fail with
//!   [`Error::ConnectionLost`] and its subscriptions end.
//! - [`ReconnectingClient`] supervises sessions: it reconnects with exponential backoff and jitter,
//!   re-establishes every subscription, and reports [`ConnectionState`] changes.
//!
//! ```no_run
//! # async fn demo() -> Result<(), bbctl_wamp::Error> {
//! use bbctl_wamp::{Match, ReconnectOptions, ReconnectingClient};
//! let client = ReconnectingClient::start("ws://127.0.0.1:8080/ws", "buildbot", ReconnectOptions::default())?;
//! let mut events = client.subscribe("org.buildbot.mq.", Match::Prefix).await?;
//! while let Some(event) = events.recv().await {
//!     println!("{} {:?}", event.topic, event.args);
//! }
//! # Ok(()) }
//! ```

mod backoff;
mod client;
mod error;
pub mod message;
mod reconnect;
mod session;
mod types;

pub use backoff::BackoffPolicy;
pub use client::{Client, Subscription};
pub use error::{Error, Result, RouterError};
pub use message::Dict;
pub use reconnect::{ConnectionState, DurableSubscription, ReconnectOptions, ReconnectingClient};
pub use session::SUBPROTOCOL;
pub use types::{CallResult, ClientOptions, EventMessage, Match};
