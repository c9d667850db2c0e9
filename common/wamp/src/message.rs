//! The WAMP v2 messages this client speaks and their JSON encoding (`wamp.2.json`): each message is
//! a JSON array whose first element is the message type code. Decoding validates every field, so a
//! bad frame becomes a [`CodecError`], never a panic.

use serde_json::{Map, Value};

/// A WAMP dictionary (details, options, keyword arguments).
pub type Dict = Map<String, Value>;

/// The largest WAMP id: ids are integers in `[0, 2^53]`.
pub const MAX_ID: u64 = 1 << 53;

/// Message type codes from the WAMP v2 specification.
pub mod code {
    #![allow(missing_docs)]
    pub const HELLO: u64 = 1;
    pub const WELCOME: u64 = 2;
    pub const ABORT: u64 = 3;
    pub const GOODBYE: u64 = 6;
    pub const ERROR: u64 = 8;
    pub const PUBLISH: u64 = 16;
    pub const PUBLISHED: u64 = 17;
    pub const SUBSCRIBE: u64 = 32;
    pub const SUBSCRIBED: u64 = 33;
    pub const UNSUBSCRIBE: u64 = 34;
    pub const UNSUBSCRIBED: u64 = 35;
    pub const EVENT: u64 = 36;
    pub const CALL: u64 = 48;
    pub const RESULT: u64 = 50;
}

/// A frame that is not a valid WAMP message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// Not JSON at all.
    #[error("frame is not valid JSON: {0}")]
    Json(String),
    /// JSON, but not a non-empty array starting with an integer type code.
    #[error("frame is not a WAMP message array")]
    NotAnArray,
    /// A type code this client does not know.
    #[error("unknown WAMP message type {0}")]
    UnknownType(u64),
    /// A field is missing or has the wrong JSON type.
    #[error("WAMP message type {code}: field {index} {problem}")]
    BadField {
        /// The message type code.
        code: u64,
        /// The position of the field in the array.
        index: usize,
        /// What is wrong with it.
        problem: &'static str,
    },
}

/// One WAMP message, as sent or received by a client with the subscriber, publisher and caller
/// roles.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum Message {
    Hello {
        realm: String,
        details: Dict,
    },
    Welcome {
        session: u64,
        details: Dict,
    },
    Abort {
        details: Dict,
        reason: String,
    },
    Goodbye {
        details: Dict,
        reason: String,
    },
    Error {
        request_type: u64,
        request: u64,
        details: Dict,
        error: String,
        args: Vec<Value>,
        kwargs: Dict,
    },
    Publish {
        request: u64,
        options: Dict,
        topic: String,
        args: Vec<Value>,
        kwargs: Dict,
    },
    Published {
        request: u64,
        publication: u64,
    },
    Subscribe {
        request: u64,
        options: Dict,
        topic: String,
    },
    Subscribed {
        request: u64,
        subscription: u64,
    },
    Unsubscribe {
        request: u64,
        subscription: u64,
    },
    /// `details` is present only when the router revokes a subscription (request 0).
    Unsubscribed {
        request: u64,
        details: Option<Dict>,
    },
    Event {
        subscription: u64,
        publication: u64,
        details: Dict,
        args: Vec<Value>,
        kwargs: Dict,
    },
    Call {
        request: u64,
        options: Dict,
        procedure: String,
        args: Vec<Value>,
        kwargs: Dict,
    },
    Result {
        request: u64,
        details: Dict,
        args: Vec<Value>,
        kwargs: Dict,
    },
}

impl Message {
    /// The message type code.
    pub fn code(&self) -> u64 {
        match self {
            Message::Hello { .. } => code::HELLO,
            Message::Welcome { .. } => code::WELCOME,
            Message::Abort { .. } => code::ABORT,
            Message::Goodbye { .. } => code::GOODBYE,
            Message::Error { .. } => code::ERROR,
            Message::Publish { .. } => code::PUBLISH,
            Message::Published { .. } => code::PUBLISHED,
            Message::Subscribe { .. } => code::SUBSCRIBE,
            Message::Subscribed { .. } => code::SUBSCRIBED,
            Message::Unsubscribe { .. } => code::UNSUBSCRIBE,
            Message::Unsubscribed { .. } => code::UNSUBSCRIBED,
            Message::Event { .. } => code::EVENT,
            Message::Call { .. } => code::CALL,
            Message::Result { .. } => code::RESULT,
        }
    }

    /// Encodes the message as a JSON array. Trailing empty `args`/`kwargs` are left out, as the
    /// specification asks.
    pub fn to_value(&self) -> Value {
        let mut out = vec![Value::from(self.code())];
        match self {
            Message::Hello { realm, details } => {
                push_all(&mut out, [realm.as_str().into(), dict(details)])
            }
            Message::Welcome { session, details } => {
                push_all(&mut out, [(*session).into(), dict(details)])
            }
            Message::Abort { details, reason } | Message::Goodbye { details, reason } => {
                push_all(&mut out, [dict(details), reason.as_str().into()])
            }
            Message::Error {
                request_type,
                request,
                details,
                error,
                args,
                kwargs,
            } => {
                push_all(
                    &mut out,
                    [
                        (*request_type).into(),
                        (*request).into(),
                        dict(details),
                        error.as_str().into(),
                    ],
                );
                push_payload(&mut out, args, kwargs);
            }
            Message::Publish {
                request,
                options,
                topic,
                args,
                kwargs,
            } => {
                push_all(
                    &mut out,
                    [(*request).into(), dict(options), topic.as_str().into()],
                );
                push_payload(&mut out, args, kwargs);
            }
            Message::Published {
                request,
                publication,
            } => push_all(&mut out, [(*request).into(), (*publication).into()]),
            Message::Subscribe {
                request,
                options,
                topic,
            } => push_all(
                &mut out,
                [(*request).into(), dict(options), topic.as_str().into()],
            ),
            Message::Subscribed {
                request,
                subscription,
            }
            | Message::Unsubscribe {
                request,
                subscription,
            } => push_all(&mut out, [(*request).into(), (*subscription).into()]),
            Message::Unsubscribed { request, details } => {
                out.push((*request).into());
                if let Some(details) = details {
                    out.push(dict(details));
                }
            }
            Message::Event {
                subscription,
                publication,
                details,
                args,
                kwargs,
            } => {
                push_all(
                    &mut out,
                    [(*subscription).into(), (*publication).into(), dict(details)],
                );
                push_payload(&mut out, args, kwargs);
            }
            Message::Call {
                request,
                options,
                procedure,
                args,
                kwargs,
            } => {
                push_all(
                    &mut out,
                    [(*request).into(), dict(options), procedure.as_str().into()],
                );
                push_payload(&mut out, args, kwargs);
            }
            Message::Result {
                request,
                details,
                args,
                kwargs,
            } => {
                push_all(&mut out, [(*request).into(), dict(details)]);
                push_payload(&mut out, args, kwargs);
            }
        }
        Value::Array(out)
    }

    /// Encodes the message as JSON text, ready for a WebSocket text frame.
    pub fn to_json(&self) -> String {
        self.to_value().to_string()
    }
}

fn dict(d: &Dict) -> Value {
    Value::Object(d.clone())
}

fn push_all<const N: usize>(out: &mut Vec<Value>, values: [Value; N]) {
    out.extend(values);
}

fn push_payload(out: &mut Vec<Value>, args: &[Value], kwargs: &Dict) {
    if args.is_empty() && kwargs.is_empty() {
        return;
    }
    out.push(Value::Array(args.to_vec()));
    if !kwargs.is_empty() {
        out.push(dict(kwargs));
    }
}

mod decode;
#[cfg(test)]
mod tests;
