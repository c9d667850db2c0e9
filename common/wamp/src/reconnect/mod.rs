//! A client that survives router restarts: a supervisor task connects, re-subscribes every
//! [`DurableSubscription`] on each new session, reconnects with backoff when the connection is
//! lost, and publishes the [`ConnectionState`] on a watch channel. Events published while no
//! session exists are not delivered (WAMP has no replay); callers that care use the state to know
//! when to fall back to polling.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

mod supervisor;

use crate::backoff::BackoffPolicy;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::message::Dict;
use crate::types::{CallResult, ClientOptions, EventMessage, Match};

/// Settings of a [`ReconnectingClient`].
#[derive(Debug, Clone, Default)]
pub struct ReconnectOptions {
    /// Settings of each session.
    pub client: ClientOptions,
    /// Delays between connection attempts.
    pub backoff: BackoffPolicy,
}

/// Where the reconnecting client stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// The first connection attempt is under way.
    Connecting,
    /// A session is open and every subscription is in place.
    Connected {
        /// The router's id of the current session.
        session_id: u64,
    },
    /// No session; the next attempt happens after `retry_in`.
    Disconnected {
        /// Failed attempts since the last successful connection.
        attempts: u32,
        /// Why the last session or attempt ended.
        reason: String,
        /// Delay before the next attempt.
        retry_in: Duration,
    },
    /// Closed by [`ReconnectingClient::close`]; no more attempts.
    Closed,
}

impl ConnectionState {
    /// True when a session is open.
    pub fn is_connected(&self) -> bool {
        matches!(self, ConnectionState::Connected { .. })
    }
}

enum Command {
    Subscribe {
        id: u64,
        topic: String,
        matching: Match,
        events: mpsc::UnboundedSender<EventMessage>,
        reply: oneshot::Sender<Result<()>>,
    },
    Remove {
        id: u64,
    },
    Close {
        reply: oneshot::Sender<Result<()>>,
    },
}

/// A WAMP client that reconnects by itself (cheap to clone).
#[derive(Clone)]
pub struct ReconnectingClient {
    commands: mpsc::UnboundedSender<Command>,
    state: watch::Receiver<ConnectionState>,
    current: watch::Receiver<Option<Client>>,
    next_id: Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for ReconnectingClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReconnectingClient")
            .field("state", &*self.state.borrow())
            .finish_non_exhaustive()
    }
}

impl ReconnectingClient {
    /// Starts the supervisor (it must run inside a tokio runtime) and returns at once; the first
    /// connection is attempted in the background. Fails only when `url` is not a WebSocket URL.
    pub fn start(url: &str, realm: &str, options: ReconnectOptions) -> Result<ReconnectingClient> {
        url.into_client_request().map_err(|e| Error::InvalidUrl {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (state_tx, state) = watch::channel(ConnectionState::Connecting);
        let (current_tx, current) = watch::channel(None);
        let supervisor =
            supervisor::Supervisor::new(url, realm, options, command_rx, state_tx, current_tx);
        tokio::spawn(supervisor.run());
        Ok(ReconnectingClient {
            commands,
            state,
            current,
            next_id: Arc::default(),
        })
    }

    /// The current connection state.
    pub fn state(&self) -> ConnectionState {
        self.state.borrow().clone()
    }

    /// A receiver of every state change (it sees the latest state, not necessarily every one).
    pub fn watch_state(&self) -> watch::Receiver<ConnectionState> {
        self.state.clone()
    }

    /// Waits until a session is open with every subscription in place. Fails with
    /// [`Error::Closed`] if the client is closed first.
    pub async fn wait_connected(&self) -> Result<u64> {
        let mut state = self.state.clone();
        let state = state
            .wait_for(|s| {
                matches!(
                    s,
                    ConnectionState::Connected { .. } | ConnectionState::Closed
                )
            })
            .await
            .map_err(|_| Error::Closed)?;
        match *state {
            ConnectionState::Connected { session_id } => Ok(session_id),
            _ => Err(Error::Closed),
        }
    }

    /// Subscribes now and again on every new session. If no session is open the subscription is
    /// registered and takes effect on the next one; if the router refuses it, the error is
    /// returned and nothing is registered.
    pub async fn subscribe(&self, topic: &str, matching: Match) -> Result<DurableSubscription> {
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (events, receiver) = mpsc::unbounded_channel();
        let (reply, answer) = oneshot::channel();
        let command = Command::Subscribe {
            id,
            topic: topic.to_owned(),
            matching,
            events,
            reply,
        };
        self.commands.send(command).map_err(|_| Error::Closed)?;
        answer.await.map_err(|_| Error::Closed)??;
        Ok(DurableSubscription {
            receiver,
            id,
            commands: self.commands.clone(),
        })
    }

    /// Publishes (acknowledged) on the current session; [`Error::NotConnected`] when there is
    /// none, [`Error::ConnectionLost`] when it breaks before the acknowledgement.
    pub async fn publish(&self, topic: &str, args: Vec<Value>, kwargs: Dict) -> Result<()> {
        self.client()?.publish(topic, args, kwargs).await
    }

    /// Calls a procedure on the current session (same failure rules as [`Self::publish`]).
    pub async fn call(
        &self,
        procedure: &str,
        args: Vec<Value>,
        kwargs: Dict,
    ) -> Result<CallResult> {
        self.client()?.call(procedure, args, kwargs).await
    }

    /// Says GOODBYE on the current session (if any) and stops reconnecting.
    pub async fn close(&self) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Close { reply })
            .map_err(|_| Error::Closed)?;
        answer.await.map_err(|_| Error::Closed)?
    }

    fn client(&self) -> Result<Client> {
        if *self.state.borrow() == ConnectionState::Closed {
            return Err(Error::Closed);
        }
        self.current.borrow().clone().ok_or(Error::NotConnected)
    }
}

/// Events of a subscription kept across reconnections. Dropping it unsubscribes.
/// `recv` returns `None` only once the [`ReconnectingClient`] is closed.
#[derive(Debug)]
pub struct DurableSubscription {
    receiver: mpsc::UnboundedReceiver<EventMessage>,
    id: u64,
    commands: mpsc::UnboundedSender<Command>,
}

impl DurableSubscription {
    /// The next event, or `None` once the client is closed.
    pub async fn recv(&mut self) -> Option<EventMessage> {
        self.receiver.recv().await
    }
}

impl Stream for DurableSubscription {
    type Item = EventMessage;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<EventMessage>> {
        self.receiver.poll_recv(cx)
    }
}

impl Drop for DurableSubscription {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Remove { id: self.id });
    }
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Subscribe { id, topic, .. } => write!(f, "Subscribe({id}, {topic})"),
            Command::Remove { id } => write!(f, "Remove({id})"),
            Command::Close { .. } => f.write_str("Close"),
        }
    }
}
