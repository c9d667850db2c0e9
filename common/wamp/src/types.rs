//! The public value types of the client API: how a topic is matched, what an event or a call result
//! carries, and the knobs of one connection.

use std::time::Duration;

use serde_json::Value;

use crate::message::Dict;

/// How a subscription's topic is matched against published topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Match {
    /// The published topic equals the subscribed one.
    Exact,
    /// The published topic starts with the subscribed one (`org.buildbot.mq.` matches every
    /// Buildbot event).
    Prefix,
    /// Empty components of the subscribed topic match any one component
    /// (`org.buildbot.mq.builds..new` matches `org.buildbot.mq.builds.7.new`).
    Wildcard,
}

impl Match {
    /// The `match` option of SUBSCRIBE, or `None` for an exact match (the default).
    pub(crate) fn option(self) -> Option<&'static str> {
        match self {
            Match::Exact => None,
            Match::Prefix => Some("prefix"),
            Match::Wildcard => Some("wildcard"),
        }
    }

    /// The SUBSCRIBE options for this kind of match.
    pub(crate) fn options(self) -> Dict {
        let mut options = Dict::new();
        if let Some(kind) = self.option() {
            options.insert("match".into(), kind.into());
        }
        options
    }
}

/// One event delivered to a subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct EventMessage {
    /// The topic the event was published on: for a prefix or wildcard subscription the real topic
    /// (from the EVENT details), for an exact one the subscribed topic.
    pub topic: String,
    /// Positional arguments; a Buildbot master publishes exactly one, the message body.
    pub args: Vec<Value>,
    /// Keyword arguments.
    pub kwargs: Dict,
    /// The EVENT details as sent by the router.
    pub details: Dict,
}

/// The RESULT of a call.
#[derive(Debug, Clone, PartialEq)]
pub struct CallResult {
    /// Positional results.
    pub args: Vec<Value>,
    /// Keyword results.
    pub kwargs: Dict,
}

/// Settings of one connection to a router.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Limit for opening the WebSocket and completing HELLO/WELCOME.
    pub connect_timeout: Duration,
    /// Limit for the router to answer one request (SUBSCRIBE, PUBLISH, CALL, GOODBYE).
    pub request_timeout: Duration,
    /// How often to ping the router when nothing arrives; a router silent for this long after a
    /// ping is considered gone. `None` disables pings.
    pub ping_interval: Option<Duration>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            ping_interval: Some(Duration::from_secs(15)),
        }
    }
}
