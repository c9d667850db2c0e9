//! The task that owns one WebSocket: it performs HELLO/WELCOME, then multiplexes the handles'
//! requests onto the connection, matches answers to requests by id, fans EVENTs out to the local
//! subscribers, and on connection loss fails everything still pending.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

mod command;
mod handshake;
mod inbound;

use crate::error::{Error, Result};
use crate::message::{Dict, MAX_ID, Message};
use crate::types::{CallResult, ClientOptions, EventMessage};
pub(crate) use command::{Command, Reply, SubKey};

/// The WebSocket subprotocol of WAMP v2 with the JSON serializer.
pub const SUBPROTOCOL: &str = "wamp.2.json";

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Whether the session is still running, and how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionStatus {
    Open,
    /// Ended by GOODBYE (from either side).
    Closed,
    /// The connection broke or the router violated the protocol.
    Lost,
}

/// Connects, joins `realm`, and spawns the session task. Returns the session id and the status
/// channel.
pub(crate) async fn start(
    url: &str,
    realm: &str,
    options: &ClientOptions,
    commands: mpsc::UnboundedReceiver<Command>,
) -> Result<(u64, watch::Receiver<SessionStatus>)> {
    let (socket, session_id) = handshake::open(url, realm, options).await?;
    tracing::debug!(url, realm, session_id, "joined WAMP realm");
    let (status_tx, status_rx) = watch::channel(SessionStatus::Open);
    let task = Session {
        socket,
        commands,
        status: status_tx,
        session_id,
        ping_interval: options.ping_interval,
        request_timeout: options.request_timeout,
        next_request: 0,
        next_local: 0,
        pending: HashMap::new(),
        subscriptions: HashMap::new(),
        goodbye: None,
    };
    tokio::spawn(task.run());
    Ok((session_id, status_rx))
}

/// A request waiting for the router's answer.
enum Pending {
    Subscribe {
        topic: String,
        events: mpsc::UnboundedSender<EventMessage>,
        reply: Reply<SubKey>,
    },
    Unsubscribe {
        reply: Option<Reply<()>>,
    },
    Publish {
        reply: Reply<()>,
    },
    Call {
        reply: Reply<CallResult>,
    },
}

impl Pending {
    fn fail(self, error: Error) {
        // A requester that stopped waiting is not an error.
        match self {
            Pending::Subscribe { reply, .. } => drop(reply.send(Err(error))),
            Pending::Unsubscribe { reply } => drop(reply.map(|r| r.send(Err(error)))),
            Pending::Publish { reply } => drop(reply.send(Err(error))),
            Pending::Call { reply } => drop(reply.send(Err(error))),
        }
    }
}

/// One router subscription and its local subscribers.
struct SubEntry {
    topic: String,
    sinks: Vec<(u64, mpsc::UnboundedSender<EventMessage>)>,
}

/// Why the run loop stopped.
enum End {
    Closed,
    Lost(String),
}

struct Session {
    socket: Socket,
    commands: mpsc::UnboundedReceiver<Command>,
    status: watch::Sender<SessionStatus>,
    session_id: u64,
    ping_interval: Option<Duration>,
    request_timeout: Duration,
    next_request: u64,
    next_local: u64,
    pending: HashMap<u64, Pending>,
    subscriptions: HashMap<u64, SubEntry>,
    /// Set once this side sent GOODBYE: who to tell, and until when to wait for the answer.
    goodbye: Option<(Option<Reply<()>>, Instant)>,
}

impl Session {
    async fn run(mut self) {
        let end = self.run_loop().await;
        let status = match &end {
            End::Closed => SessionStatus::Closed,
            End::Lost(reason) => {
                tracing::warn!(session_id = self.session_id, reason, "WAMP connection lost");
                SessionStatus::Lost
            }
        };
        let error = || {
            if status == SessionStatus::Closed {
                Error::Closed
            } else {
                Error::ConnectionLost
            }
        };
        // Publish the status before failing requests, so that handles report the right error.
        self.status.send_replace(status);
        for (_, pending) in self.pending.drain() {
            pending.fail(error());
        }
        if let Some((Some(reply), _)) = self.goodbye.take() {
            let _ = reply.send(if matches!(end, End::Closed) {
                Ok(())
            } else {
                Err(error())
            });
        }
        self.subscriptions.clear();
        let _ = self.socket.close(None).await;
    }

    async fn run_loop(&mut self) -> End {
        let ping_every = self.ping_interval.unwrap_or(Duration::from_secs(3600));
        let mut last_received = Instant::now();
        let mut ping_sent: Option<Instant> = None;
        let mut ticker = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
        loop {
            let goodbye_deadline = self.goodbye.as_ref().map(|(_, deadline)| *deadline);
            tokio::select! {
                command = self.commands.recv(), if self.goodbye.is_none() => {
                    let result = match command {
                        Some(command) => self.handle_command(command).await,
                        // Every handle is gone: leave politely.
                        None => self.say_goodbye(None).await,
                    };
                    if let Err(end) = result {
                        return end;
                    }
                }
                frame = self.socket.next() => {
                    last_received = Instant::now();
                    ping_sent = None;
                    match frame {
                        None => return End::Lost("the router closed the connection".into()),
                        Some(Err(e)) => return End::Lost(e.to_string()),
                        Some(Ok(frame)) => {
                            if let Some(end) = self.handle_frame(frame).await {
                                return end;
                            }
                        }
                    }
                }
                _ = ticker.tick(), if self.ping_interval.is_some() => {
                    if let Some(sent) = ping_sent && sent.elapsed() >= ping_every {
                        return End::Lost("the router did not answer a ping".into());
                    }
                    if ping_sent.is_none() && last_received.elapsed() >= ping_every {
                        if self.socket.send(Frame::Ping(Default::default())).await.is_err() {
                            return End::Lost("failed to send a ping".into());
                        }
                        ping_sent = Some(Instant::now());
                    }
                }
                _ = sleep_until(goodbye_deadline), if goodbye_deadline.is_some() => {
                    return End::Lost("the router did not answer GOODBYE".into());
                }
            }
        }
    }

    fn next_request_id(&mut self) -> u64 {
        self.next_request = if self.next_request >= MAX_ID {
            1
        } else {
            self.next_request + 1
        };
        self.next_request
    }

    async fn write(&mut self, message: &Message) -> Result<(), End> {
        self.socket
            .send(Frame::text(message.to_json()))
            .await
            .map_err(|e| End::Lost(e.to_string()))
    }

    async fn say_goodbye(&mut self, reply: Option<Reply<()>>) -> Result<(), End> {
        let message = Message::Goodbye {
            details: Dict::new(),
            reason: "wamp.close.close_realm".into(),
        };
        self.goodbye = Some((reply, Instant::now() + self.request_timeout));
        self.write(&message).await
    }

    async fn handle_command(&mut self, command: Command) -> Result<(), End> {
        let request = self.next_request_id();
        let (message, pending) = match command {
            Command::Goodbye { reply } => return self.say_goodbye(Some(reply)).await,
            Command::Subscribe {
                topic,
                matching,
                events,
                reply,
            } => (
                Message::Subscribe {
                    request,
                    options: matching.options(),
                    topic: topic.clone(),
                },
                Pending::Subscribe {
                    topic,
                    events,
                    reply,
                },
            ),
            Command::Unsubscribe { key, reply } => {
                match self.remove_sink(key) {
                    Some(message) => (message(request), Pending::Unsubscribe { reply }),
                    None => {
                        // Other local subscribers remain, or it was never there: nothing to ask.
                        if let Some(reply) = reply {
                            let _ = reply.send(Ok(()));
                        }
                        return Ok(());
                    }
                }
            }
            Command::Publish {
                topic,
                args,
                kwargs,
                reply,
            } => {
                let mut options = Dict::new();
                options.insert("acknowledge".into(), true.into());
                (
                    Message::Publish {
                        request,
                        options,
                        topic,
                        args,
                        kwargs,
                    },
                    Pending::Publish { reply },
                )
            }
            Command::Call {
                procedure,
                args,
                kwargs,
                reply,
            } => (
                Message::Call {
                    request,
                    options: Dict::new(),
                    procedure,
                    args,
                    kwargs,
                },
                Pending::Call { reply },
            ),
        };
        self.pending.insert(request, pending);
        self.write(&message).await
    }

    /// Removes one local subscriber; returns how to build the UNSUBSCRIBE when it was the last.
    fn remove_sink(&mut self, key: SubKey) -> Option<impl FnOnce(u64) -> Message + use<>> {
        let entry = self.subscriptions.get_mut(&key.subscription)?;
        entry.sinks.retain(|(local, _)| *local != key.local);
        if !entry.sinks.is_empty() {
            return None;
        }
        self.subscriptions.remove(&key.subscription);
        let subscription = key.subscription;
        Some(move |request| Message::Unsubscribe {
            request,
            subscription,
        })
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
