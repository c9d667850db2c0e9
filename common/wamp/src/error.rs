//! The errors of this crate: one enum for everything a caller of the client can meet, so that a
//! reconnecting supervisor can tell a lost connection (retry) from a refusal by the router (don't).

use serde_json::Value;

use crate::message::{CodecError, Dict};

/// An ERROR message returned by the router (or the callee) for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterError {
    /// The error URI, e.g. `wamp.error.no_such_procedure`.
    pub uri: String,
    /// The ERROR message's details.
    pub details: Dict,
    /// Positional arguments of the error (often one human-readable message).
    pub args: Vec<Value>,
    /// Keyword arguments of the error.
    pub kwargs: Dict,
}

impl std::fmt::Display for RouterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.uri)?;
        if let Some(Value::String(text)) = self.args.first() {
            write!(f, ": {text}")?;
        }
        Ok(())
    }
}

/// Everything that can go wrong talking to a WAMP router.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The router URL could not be turned into a WebSocket request.
    #[error("invalid WAMP router URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The WebSocket connection could not be opened.
    #[error("failed to connect to the WAMP router at `{url}`")]
    Connect {
        /// The router URL.
        url: String,
        /// The underlying WebSocket error.
        #[source]
        source: Box<tokio_tungstenite::tungstenite::Error>,
    },
    /// The router answered HELLO with ABORT (unknown realm, not authorized, ...).
    #[error("the WAMP router refused the session: {reason}{}", message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Aborted {
        /// The ABORT reason URI, e.g. `wamp.error.no_such_realm`.
        reason: String,
        /// The `message` from the ABORT details, when the router gave one.
        message: Option<String>,
    },
    /// The peer broke the WAMP protocol (a frame that does not parse, an unexpected message).
    #[error("WAMP protocol violation: {0}")]
    Protocol(String),
    /// A frame could not be decoded.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The connection was lost before the request was answered.
    #[error("the connection to the WAMP router was lost")]
    ConnectionLost,
    /// The session was closed (GOODBYE) by this client or by the router.
    #[error("the WAMP session is closed")]
    Closed,
    /// The reconnecting client is between connections.
    #[error("not connected to the WAMP router")]
    NotConnected,
    /// The router (or a callee) answered the request with ERROR.
    #[error("the WAMP router returned an error: {0}")]
    Router(RouterError),
    /// The router did not answer in time.
    #[error("timed out waiting for the WAMP router to {0}")]
    Timeout(&'static str),
}

impl Error {
    /// True when the failure is due to the connection (retrying on a new connection may succeed),
    /// false when the router refused the request itself.
    pub fn is_connection_error(&self) -> bool {
        matches!(
            self,
            Error::Connect { .. }
                | Error::ConnectionLost
                | Error::NotConnected
                | Error::Timeout(_)
                | Error::Protocol(_)
                | Error::Codec(_)
        )
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
