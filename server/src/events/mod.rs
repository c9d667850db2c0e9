//! The agent's event hub: every event (the agent's own state changes and Buildbot MQ events from
//! the WAMP or the polling source) is numbered, kept in a bounded in-memory backlog for
//! `?since=SEQ` replays, and broadcast to the SSE subscribers.
//!
//! The hub also carries whether the WAMP source is connected: the polling source runs only while
//! it is not.

pub mod polling;
/// Written separately; spawned from `crate::startup::spawn_background`.
pub mod wamp_source;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bbctl_api::Event;
use tokio::sync::{broadcast, watch};

/// Events kept for replay.
pub const BACKLOG: usize = 1024;

#[derive(Clone)]
pub struct EventHub {
    inner: Arc<Inner>,
}

struct Inner {
    agent: String,
    state: Mutex<HubState>,
    tx: broadcast::Sender<Event>,
    wamp_connected: watch::Sender<bool>,
}

struct HubState {
    next_seq: u64,
    backlog: VecDeque<Event>,
}

impl EventHub {
    pub fn new(agent: impl Into<String>) -> Self {
        let (tx, _) = broadcast::channel(BACKLOG);
        let (wamp_connected, _) = watch::channel(false);
        EventHub {
            inner: Arc::new(Inner {
                agent: agent.into(),
                state: Mutex::new(HubState {
                    next_seq: 1,
                    backlog: VecDeque::new(),
                }),
                tx,
                wamp_connected,
            }),
        }
    }

    /// Numbers, stores and broadcasts one event.
    pub fn publish(
        &self,
        kind: &str,
        source: &str,
        summary: impl Into<String>,
        data: serde_json::Value,
    ) -> Event {
        let mut state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        let event = Event {
            seq: state.next_seq,
            at: crate::db::now(),
            agent: self.inner.agent.clone(),
            kind: kind.to_owned(),
            source: source.to_owned(),
            summary: summary.into(),
            data,
        };
        state.next_seq += 1;
        if state.backlog.len() == BACKLOG {
            state.backlog.pop_front();
        }
        state.backlog.push_back(event.clone());
        // Sending under the lock keeps the broadcast order equal to the seq order.
        let _ = self.inner.tx.send(event.clone());
        tracing::debug!(seq = event.seq, kind, source, "event");
        event
    }

    /// Publishes one of the agent's own events (`source` = `agent`).
    pub fn publish_agent(&self, kind: &str, summary: impl Into<String>, data: serde_json::Value) {
        self.publish(kind, "agent", summary, data);
    }

    /// A receiver of every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.tx.subscribe()
    }

    /// Atomically: the backlog events with `seq > since` and a receiver for everything after
    /// them, so that a replaying subscriber misses and duplicates nothing.
    pub fn subscribe_since(&self, since: u64) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        let rx = self.inner.tx.subscribe();
        let past = state
            .backlog
            .iter()
            .filter(|e| e.seq > since)
            .cloned()
            .collect();
        (past, rx)
    }

    /// The backlog events with `seq > since`.
    pub fn backlog_since(&self, since: u64) -> Vec<Event> {
        self.subscribe_since(since).0
    }

    /// The seq of the last event published (0 if none).
    pub fn last_seq(&self) -> u64 {
        self.inner
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .next_seq
            - 1
    }

    /// Called by the WAMP source when its session goes up or down.
    pub fn set_wamp_connected(&self, connected: bool) {
        self.inner.wamp_connected.send_replace(connected);
    }

    pub fn wamp_connected(&self) -> bool {
        *self.inner.wamp_connected.borrow()
    }

    /// Watches the WAMP connection flag (the polling source sleeps while it is true).
    pub fn watch_wamp(&self) -> watch::Receiver<bool> {
        self.inner.wamp_connected.subscribe()
    }

    /// `wamp` or `polling`: where Buildbot events come from right now.
    pub fn event_source(&self) -> &'static str {
        if self.wamp_connected() {
            "wamp"
        } else {
            "polling"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn seq_backlog_and_broadcast() {
        let hub = EventHub::new("m1");
        let mut rx = hub.subscribe();
        let a = hub.publish("agent.x", "agent", "a", serde_json::Value::Null);
        let b = hub.publish("agent.y", "agent", "b", serde_json::json!({"k": 1}));
        assert_eq!((a.seq, b.seq), (1, 2));
        assert_eq!(rx.recv().await.unwrap().seq, 1);
        assert_eq!(rx.recv().await.unwrap().seq, 2);
        assert_eq!(hub.backlog_since(1).len(), 1);
        assert_eq!(hub.backlog_since(0)[0].agent, "m1");
        assert_eq!(hub.last_seq(), 2);
    }

    #[test]
    fn backlog_is_bounded() {
        let hub = EventHub::new("m1");
        for _ in 0..BACKLOG + 10 {
            hub.publish("k", "agent", "s", serde_json::Value::Null);
        }
        let all = hub.backlog_since(0);
        assert_eq!(all.len(), BACKLOG);
        assert_eq!(all[0].seq, 11);
    }

    #[test]
    fn wamp_flag_selects_the_event_source() {
        let hub = EventHub::new("m1");
        assert_eq!(hub.event_source(), "polling");
        hub.set_wamp_connected(true);
        assert_eq!(hub.event_source(), "wamp");
        assert!(*hub.watch_wamp().borrow());
    }
}
