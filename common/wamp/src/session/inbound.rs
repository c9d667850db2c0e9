//! What the session does with each frame from the router: answers matched to pending requests,
//! EVENTs fanned out to local subscribers, GOODBYE and ABORT, and protocol violations.

use tokio_tungstenite::tungstenite::Message as Frame;

use super::{End, Pending, Session, SubEntry, SubKey};
use crate::error::{Error, RouterError};
use crate::message::{Dict, Message, code};
use crate::types::{CallResult, EventMessage};

impl Session {
    pub(super) async fn handle_frame(&mut self, frame: Frame) -> Option<End> {
        let text = match frame {
            Frame::Text(text) => text,
            Frame::Close(_) => {
                return Some(if self.goodbye.is_some() {
                    End::Closed
                } else {
                    End::Lost("the router closed the WebSocket".into())
                });
            }
            Frame::Binary(_) => {
                return Some(self.abort("binary frame on a wamp.2.json connection").await);
            }
            // tungstenite answers pings itself.
            Frame::Ping(_) | Frame::Pong(_) | Frame::Frame(_) => return None,
        };
        match Message::from_json(&text) {
            Ok(message) => self.handle_message(message).await,
            Err(e) => Some(self.abort(&e.to_string()).await),
        }
    }

    /// Ends the session on a protocol violation by the router.
    async fn abort(&mut self, why: &str) -> End {
        let mut details = Dict::new();
        details.insert("message".into(), why.into());
        let _ = self
            .write(&Message::Abort {
                details,
                reason: "wamp.error.protocol_violation".into(),
            })
            .await;
        End::Lost(format!("protocol violation: {why}"))
    }

    async fn handle_message(&mut self, message: Message) -> Option<End> {
        match message {
            Message::Event {
                subscription,
                details,
                args,
                kwargs,
                ..
            } => self.deliver(subscription, details, args, kwargs).await,
            Message::Subscribed {
                request,
                subscription,
            } => match self.pending.remove(&request) {
                Some(Pending::Subscribe {
                    topic,
                    events,
                    reply,
                }) => {
                    self.next_local += 1;
                    let key = SubKey {
                        subscription,
                        local: self.next_local,
                    };
                    let entry =
                        self.subscriptions
                            .entry(subscription)
                            .or_insert_with(|| SubEntry {
                                topic,
                                sinks: Vec::new(),
                            });
                    entry.sinks.push((key.local, events));
                    let _ = reply.send(Ok(key));
                    None
                }
                other => self.unexpected(other, request, code::SUBSCRIBED).await,
            },
            Message::Unsubscribed {
                request: 0,
                details,
            } => {
                // The router revoked a subscription: its local subscribers see the end of events.
                let revoked = details
                    .as_ref()
                    .and_then(|d| d.get("subscription"))
                    .and_then(|s| s.as_u64());
                if let Some(subscription) = revoked {
                    self.subscriptions.remove(&subscription);
                }
                None
            }
            Message::Unsubscribed { request, .. } => match self.pending.remove(&request) {
                Some(Pending::Unsubscribe { reply }) => {
                    if let Some(reply) = reply {
                        let _ = reply.send(Ok(()));
                    }
                    None
                }
                other => self.unexpected(other, request, code::UNSUBSCRIBED).await,
            },
            Message::Published { request, .. } => match self.pending.remove(&request) {
                Some(Pending::Publish { reply }) => {
                    let _ = reply.send(Ok(()));
                    None
                }
                other => self.unexpected(other, request, code::PUBLISHED).await,
            },
            Message::Result {
                request,
                args,
                kwargs,
                ..
            } => match self.pending.remove(&request) {
                Some(Pending::Call { reply }) => {
                    let _ = reply.send(Ok(CallResult { args, kwargs }));
                    None
                }
                other => self.unexpected(other, request, code::RESULT).await,
            },
            Message::Error {
                request,
                details,
                error,
                args,
                kwargs,
                ..
            } => match self.pending.remove(&request) {
                Some(pending) => {
                    pending.fail(Error::Router(RouterError {
                        uri: error,
                        details,
                        args,
                        kwargs,
                    }));
                    None
                }
                None => Some(
                    self.abort(&format!("ERROR for unknown request {request}"))
                        .await,
                ),
            },
            Message::Goodbye { reason, .. } => {
                if self.goodbye.is_none() {
                    tracing::info!(
                        session_id = self.session_id,
                        reason,
                        "the WAMP router ended the session"
                    );
                    let reply = Message::Goodbye {
                        details: Dict::new(),
                        reason: "wamp.close.goodbye_and_out".into(),
                    };
                    let _ = self.write(&reply).await;
                }
                Some(End::Closed)
            }
            Message::Abort { reason, .. } => Some(End::Lost(format!(
                "the router aborted the session: {reason}"
            ))),
            other => Some(
                self.abort(&format!(
                    "unexpected message type {} for a client",
                    other.code()
                ))
                .await,
            ),
        }
    }

    async fn unexpected(
        &mut self,
        pending: Option<Pending>,
        request: u64,
        answer: u64,
    ) -> Option<End> {
        let why =
            format!("message type {answer} answers request {request}, which does not expect it");
        if let Some(pending) = pending {
            pending.fail(Error::Protocol(why.clone()));
        }
        Some(self.abort(&why).await)
    }

    async fn deliver(
        &mut self,
        subscription: u64,
        details: Dict,
        args: Vec<serde_json::Value>,
        kwargs: Dict,
    ) -> Option<End> {
        // An EVENT for a subscription just cancelled locally may still be in flight: ignore it.
        let entry = self.subscriptions.get_mut(&subscription)?;
        let topic = details
            .get("topic")
            .and_then(|t| t.as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| entry.topic.clone());
        let event = EventMessage {
            topic,
            args,
            kwargs,
            details,
        };
        entry
            .sinks
            .retain(|(_, sink)| sink.send(event.clone()).is_ok());
        if entry.sinks.is_empty() {
            // Every receiver was dropped without unsubscribing (their Drop raced with this event).
            self.subscriptions.remove(&subscription);
            let request = self.next_request_id();
            self.pending
                .insert(request, Pending::Unsubscribe { reply: None });
            if let Err(end) = self
                .write(&Message::Unsubscribe {
                    request,
                    subscription,
                })
                .await
            {
                return Some(end);
            }
        }
        None
    }
}
