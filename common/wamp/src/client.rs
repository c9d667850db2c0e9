//! The handle to one WAMP session: [`Client`] sends requests to the task that owns the WebSocket
//! (see `session`) and awaits their answers; [`Subscription`] receives the events of one SUBSCRIBE.
//! A client never reconnects: once its connection is gone every request fails with
//! [`Error::ConnectionLost`]. See [`crate::ReconnectingClient`] for a client that comes back.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::Stream;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};

use crate::error::{Error, Result};
use crate::message::Dict;
use crate::session::{self, Command, Reply, SessionStatus, SubKey};
use crate::types::{CallResult, ClientOptions, EventMessage, Match};

/// A connected WAMP session (cheap to clone; every clone talks to the same session).
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
}

struct Shared {
    commands: mpsc::UnboundedSender<Command>,
    status: watch::Receiver<SessionStatus>,
    session_id: u64,
    options: ClientOptions,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("session_id", &self.shared.session_id)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Opens a WebSocket to `url` (e.g. `ws://127.0.0.1:8080/ws`) with the `wamp.2.json`
    /// subprotocol and joins `realm`.
    pub async fn connect(url: &str, realm: &str, options: ClientOptions) -> Result<Client> {
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (session_id, status) = session::start(url, realm, &options, command_rx).await?;
        Ok(Client {
            shared: Arc::new(Shared {
                commands,
                status,
                session_id,
                options,
            }),
        })
    }

    /// The session id the router gave in WELCOME.
    pub fn session_id(&self) -> u64 {
        self.shared.session_id
    }

    /// True once the session has ended (GOODBYE or lost connection).
    pub fn is_closed(&self) -> bool {
        *self.shared.status.borrow() != SessionStatus::Open
    }

    /// Resolves when the session ends (GOODBYE or lost connection).
    pub async fn closed(&self) {
        let mut status = self.shared.status.clone();
        // An error means the task is gone, which also means closed.
        let _ = status.wait_for(|s| *s != SessionStatus::Open).await;
    }

    /// Subscribes to `topic`; events arrive on the returned [`Subscription`] until it is dropped
    /// or the session ends.
    pub async fn subscribe(&self, topic: &str, matching: Match) -> Result<Subscription> {
        let (events, receiver) = mpsc::unbounded_channel();
        let key = self.subscribe_into(topic, matching, events).await?;
        Ok(Subscription {
            receiver,
            handle: Some(SubscriptionHandle {
                client: self.clone(),
                key,
            }),
        })
    }

    /// Subscribes, delivering events into an existing channel (used by the reconnecting client so
    /// that one channel survives many sessions).
    pub(crate) async fn subscribe_into(
        &self,
        topic: &str,
        matching: Match,
        events: mpsc::UnboundedSender<EventMessage>,
    ) -> Result<SubKey> {
        self.request("subscribe", |reply| Command::Subscribe {
            topic: topic.to_owned(),
            matching,
            events,
            reply,
        })
        .await
    }

    pub(crate) async fn unsubscribe_key(&self, key: SubKey) -> Result<()> {
        self.request("unsubscribe", |reply| Command::Unsubscribe {
            key,
            reply: Some(reply),
        })
        .await
    }

    /// Publishes an event and waits for the router to acknowledge it (PUBLISHED). The publisher
    /// itself does not receive the event (the router's default `exclude_me`).
    pub async fn publish(&self, topic: &str, args: Vec<Value>, kwargs: Dict) -> Result<()> {
        self.request("acknowledge a publication", |reply| Command::Publish {
            topic: topic.to_owned(),
            args,
            kwargs,
            reply,
        })
        .await
    }

    /// Calls a remote procedure and returns its RESULT (an ERROR becomes [`Error::Router`]).
    pub async fn call(
        &self,
        procedure: &str,
        args: Vec<Value>,
        kwargs: Dict,
    ) -> Result<CallResult> {
        self.request("answer a call", |reply| Command::Call {
            procedure: procedure.to_owned(),
            args,
            kwargs,
            reply,
        })
        .await
    }

    /// Ends the session cleanly: sends GOODBYE, waits for the router's GOODBYE, closes the
    /// WebSocket. Calling it on a session that has already ended returns [`Error::Closed`] or
    /// [`Error::ConnectionLost`].
    pub async fn close(&self) -> Result<()> {
        self.request("say goodbye", |reply| Command::Goodbye { reply })
            .await
    }

    async fn request<T>(
        &self,
        what: &'static str,
        command: impl FnOnce(Reply<T>) -> Command,
    ) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        if self.shared.commands.send(command(reply)).is_err() {
            return Err(self.ended_error());
        }
        match tokio::time::timeout(self.shared.options.request_timeout, answer).await {
            Err(_) => Err(Error::Timeout(what)),
            Ok(Err(_)) => Err(self.ended_error()),
            Ok(Ok(result)) => result,
        }
    }

    fn ended_error(&self) -> Error {
        match *self.shared.status.borrow() {
            SessionStatus::Closed => Error::Closed,
            SessionStatus::Open | SessionStatus::Lost => Error::ConnectionLost,
        }
    }

    fn forget(&self, key: SubKey) {
        // Best effort: when the session has ended there is nothing to unsubscribe from.
        let _ = self
            .shared
            .commands
            .send(Command::Unsubscribe { key, reply: None });
    }
}

struct SubscriptionHandle {
    client: Client,
    key: SubKey,
}

/// The events of one subscription on one session. Dropping it unsubscribes.
/// `recv` returns `None` once the session has ended.
pub struct Subscription {
    receiver: mpsc::UnboundedReceiver<EventMessage>,
    handle: Option<SubscriptionHandle>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("key", &self.handle.as_ref().map(|h| h.key))
            .finish()
    }
}

impl Subscription {
    /// The next event, or `None` when the session has ended or the subscription was cancelled.
    pub async fn recv(&mut self) -> Option<EventMessage> {
        self.receiver.recv().await
    }

    /// Unsubscribes and waits for the router to confirm (UNSUBSCRIBED).
    pub async fn unsubscribe(mut self) -> Result<()> {
        match self.handle.take() {
            Some(handle) => handle.client.unsubscribe_key(handle.key).await,
            None => Ok(()),
        }
    }
}

impl Stream for Subscription {
    type Item = EventMessage;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<EventMessage>> {
        self.receiver.poll_recv(cx)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.client.forget(handle.key);
        }
    }
}
