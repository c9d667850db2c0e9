//! The supervisor task behind [`super::ReconnectingClient`]: connect, re-subscribe, serve
//! commands while the session lives, and wait out the backoff (still serving commands) after a loss.

use tokio::sync::{mpsc, watch};

use super::{Command, ConnectionState, ReconnectOptions};
use crate::backoff::Backoff;
use crate::client::Client;
use crate::error::Error;
use crate::session::SubKey;
use crate::types::{EventMessage, Match};

/// One registered subscription and, while a session is open, its key in that session.
struct Entry {
    id: u64,
    topic: String,
    matching: Match,
    events: mpsc::UnboundedSender<EventMessage>,
    key: Option<SubKey>,
}

/// What to do after handling a command.
enum Flow {
    Continue,
    Stop,
}

pub(super) struct Supervisor {
    url: String,
    realm: String,
    options: ReconnectOptions,
    backoff: Backoff,
    commands: mpsc::UnboundedReceiver<Command>,
    state: watch::Sender<ConnectionState>,
    current: watch::Sender<Option<Client>>,
    entries: Vec<Entry>,
}

impl Supervisor {
    pub(super) fn new(
        url: &str,
        realm: &str,
        options: ReconnectOptions,
        commands: mpsc::UnboundedReceiver<Command>,
        state: watch::Sender<ConnectionState>,
        current: watch::Sender<Option<Client>>,
    ) -> Self {
        Supervisor {
            url: url.to_owned(),
            realm: realm.to_owned(),
            backoff: Backoff::new(options.backoff.clone()),
            options,
            commands,
            state,
            current,
            entries: Vec::new(),
        }
    }

    pub(super) async fn run(mut self) {
        let mut attempts = 0u32;
        loop {
            let reason = match self.connect().await {
                Connect::Stop => break,
                Connect::Failed(reason) => {
                    attempts += 1;
                    reason
                }
                Connect::Up(client) => {
                    attempts = 0;
                    self.backoff.reset();
                    match self.serve(client).await {
                        Flow::Stop => break,
                        Flow::Continue => "the connection to the router was lost".to_owned(),
                    }
                }
            };
            let retry_in = self.backoff.next_delay();
            tracing::info!(
                url = self.url,
                attempts,
                reason,
                ?retry_in,
                "WAMP router unreachable; will retry"
            );
            self.state.send_replace(ConnectionState::Disconnected {
                attempts,
                reason,
                retry_in,
            });
            let wait = tokio::time::sleep(retry_in);
            if self.offline_until(wait).await.is_none() {
                break;
            }
        }
        self.current.send_replace(None);
        self.state.send_replace(ConnectionState::Closed);
    }

    /// One connection attempt plus re-subscription, handling commands meanwhile.
    async fn connect(&mut self) -> Connect {
        let (url, realm, options) = (
            self.url.clone(),
            self.realm.clone(),
            self.options.client.clone(),
        );
        let attempt = async move { Client::connect(&url, &realm, options).await };
        let client = match self.offline_until(attempt).await {
            None => return Connect::Stop,
            Some(Ok(client)) => client,
            Some(Err(e)) => return Connect::Failed(error_chain(&e)),
        };
        for entry in &mut self.entries {
            match client
                .subscribe_into(&entry.topic, entry.matching, entry.events.clone())
                .await
            {
                Ok(key) => entry.key = Some(key),
                Err(e) if e.is_connection_error() => return Connect::Failed(error_chain(&e)),
                Err(e) => {
                    tracing::warn!(topic = entry.topic, error = %e, "the WAMP router refused a subscription")
                }
            }
        }
        Connect::Up(client)
    }

    /// Runs `work` while serving commands without a session; `None` when told to stop.
    async fn offline_until<F: Future>(&mut self, work: F) -> Option<F::Output> {
        let mut work = std::pin::pin!(work);
        loop {
            tokio::select! {
                output = &mut work => return Some(output),
                command = self.commands.recv() => {
                    let command = command?;
                    match command {
                        Command::Subscribe { id, topic, matching, events, reply } => {
                            self.entries.push(Entry { id, topic, matching, events, key: None });
                            let _ = reply.send(Ok(()));
                        }
                        Command::Remove { id } => self.entries.retain(|e| e.id != id),
                        Command::Close { reply } => {
                            let _ = reply.send(Ok(()));
                            return None;
                        }
                    }
                }
            }
        }
    }

    /// Serves commands on an open session until it ends (`Continue`) or the client closes (`Stop`).
    async fn serve(&mut self, client: Client) -> Flow {
        self.current.send_replace(Some(client.clone()));
        self.state.send_replace(ConnectionState::Connected {
            session_id: client.session_id(),
        });
        tracing::info!(
            url = self.url,
            session_id = client.session_id(),
            "connected to the WAMP router"
        );
        let flow = loop {
            let command = tokio::select! {
                _ = client.closed() => break Flow::Continue,
                command = self.commands.recv() => command,
            };
            match command {
                None => {
                    let _ = client.close().await;
                    break Flow::Stop;
                }
                Some(Command::Close { reply }) => {
                    let _ = reply.send(client.close().await);
                    break Flow::Stop;
                }
                Some(Command::Remove { id }) => {
                    let removed: Vec<Entry> = self.entries.extract_if(.., |e| e.id == id).collect();
                    for key in removed.into_iter().filter_map(|e| e.key) {
                        let client = client.clone();
                        tokio::spawn(async move { client.unsubscribe_key(key).await });
                    }
                }
                Some(Command::Subscribe {
                    id,
                    topic,
                    matching,
                    events,
                    reply,
                }) => {
                    let key = match client
                        .subscribe_into(&topic, matching, events.clone())
                        .await
                    {
                        Ok(key) => Some(key),
                        // Registered anyway: the next session subscribes it.
                        Err(e) if e.is_connection_error() => None,
                        Err(e) => {
                            let _ = reply.send(Err(e));
                            continue;
                        }
                    };
                    self.entries.push(Entry {
                        id,
                        topic,
                        matching,
                        events,
                        key,
                    });
                    let _ = reply.send(Ok(()));
                }
            }
        };
        self.current.send_replace(None);
        for entry in &mut self.entries {
            entry.key = None;
        }
        flow
    }
}

enum Connect {
    Up(Client),
    Failed(String),
    Stop,
}

fn error_chain(error: &Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
