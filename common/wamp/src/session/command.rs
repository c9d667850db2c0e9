//! What a [`crate::Client`] handle asks of its session task: the requests it sends and the
//! key of one local subscriber. It lives with the session (the side that serves these requests),
//! so the handle depends on the session and never the other way round.

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::error::Result;
use crate::message::Dict;
use crate::types::{CallResult, EventMessage, Match};

/// Identifies one local subscriber: the router's subscription id and a number local to the session
/// (several local subscribers may share one router subscription).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SubKey {
    pub subscription: u64,
    pub local: u64,
}

pub(crate) type Reply<T> = oneshot::Sender<Result<T>>;

/// A request from a handle to the session task.
pub(crate) enum Command {
    Subscribe {
        topic: String,
        matching: Match,
        events: mpsc::UnboundedSender<EventMessage>,
        reply: Reply<SubKey>,
    },
    Unsubscribe {
        key: SubKey,
        reply: Option<Reply<()>>,
    },
    Publish {
        topic: String,
        args: Vec<Value>,
        kwargs: Dict,
        reply: Reply<()>,
    },
    Call {
        procedure: String,
        args: Vec<Value>,
        kwargs: Dict,
        reply: Reply<CallResult>,
    },
    Goodbye {
        reply: Reply<()>,
    },
}
