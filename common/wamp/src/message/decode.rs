//! Decoding of frames into [`Message`]s, validating every field so that a bad frame becomes a
//! [`CodecError`] instead of a panic.

use serde_json::Value;

use super::{CodecError, Dict, MAX_ID, Message, code};

impl Message {
    /// Decodes one JSON text frame.
    pub fn from_json(text: &str) -> Result<Message, CodecError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| CodecError::Json(e.to_string()))?;
        Message::from_value(&value)
    }

    /// Decodes one message from its JSON array form.
    pub fn from_value(value: &Value) -> Result<Message, CodecError> {
        let items = value.as_array().ok_or(CodecError::NotAnArray)?;
        let code = items
            .first()
            .and_then(Value::as_u64)
            .ok_or(CodecError::NotAnArray)?;
        let f = Fields { code, items };
        let message = match code {
            code::HELLO => Message::Hello {
                realm: f.uri(1)?,
                details: f.dict(2)?,
            },
            code::WELCOME => Message::Welcome {
                session: f.id(1)?,
                details: f.dict(2)?,
            },
            code::ABORT => Message::Abort {
                details: f.dict(1)?,
                reason: f.uri(2)?,
            },
            code::GOODBYE => Message::Goodbye {
                details: f.dict(1)?,
                reason: f.uri(2)?,
            },
            code::ERROR => Message::Error {
                request_type: f.id(1)?,
                request: f.id(2)?,
                details: f.dict(3)?,
                error: f.uri(4)?,
                args: f.opt_list(5)?,
                kwargs: f.opt_dict(6)?,
            },
            code::PUBLISH => Message::Publish {
                request: f.id(1)?,
                options: f.dict(2)?,
                topic: f.uri(3)?,
                args: f.opt_list(4)?,
                kwargs: f.opt_dict(5)?,
            },
            code::PUBLISHED => Message::Published {
                request: f.id(1)?,
                publication: f.id(2)?,
            },
            code::SUBSCRIBE => Message::Subscribe {
                request: f.id(1)?,
                options: f.dict(2)?,
                topic: f.uri(3)?,
            },
            code::SUBSCRIBED => Message::Subscribed {
                request: f.id(1)?,
                subscription: f.id(2)?,
            },
            code::UNSUBSCRIBE => Message::Unsubscribe {
                request: f.id(1)?,
                subscription: f.id(2)?,
            },
            code::UNSUBSCRIBED => Message::Unsubscribed {
                request: f.id(1)?,
                details: if items.len() > 2 {
                    Some(f.dict(2)?)
                } else {
                    None
                },
            },
            code::EVENT => Message::Event {
                subscription: f.id(1)?,
                publication: f.id(2)?,
                details: f.dict(3)?,
                args: f.opt_list(4)?,
                kwargs: f.opt_dict(5)?,
            },
            code::CALL => Message::Call {
                request: f.id(1)?,
                options: f.dict(2)?,
                procedure: f.uri(3)?,
                args: f.opt_list(4)?,
                kwargs: f.opt_dict(5)?,
            },
            code::RESULT => Message::Result {
                request: f.id(1)?,
                details: f.dict(2)?,
                args: f.opt_list(3)?,
                kwargs: f.opt_dict(4)?,
            },
            other => return Err(CodecError::UnknownType(other)),
        };
        Ok(message)
    }
}

/// Typed access to the fields of one message array.
struct Fields<'a> {
    code: u64,
    items: &'a [Value],
}

impl Fields<'_> {
    fn bad(&self, index: usize, problem: &'static str) -> CodecError {
        CodecError::BadField {
            code: self.code,
            index,
            problem,
        }
    }

    fn get(&self, index: usize) -> Result<&Value, CodecError> {
        self.items
            .get(index)
            .ok_or_else(|| self.bad(index, "is missing"))
    }

    fn id(&self, index: usize) -> Result<u64, CodecError> {
        match self.get(index)?.as_u64() {
            Some(id) if id <= MAX_ID => Ok(id),
            _ => Err(self.bad(index, "is not an id (an integer in 0..=2^53)")),
        }
    }

    fn uri(&self, index: usize) -> Result<String, CodecError> {
        match self.get(index)?.as_str() {
            Some(uri) if !uri.is_empty() => Ok(uri.to_owned()),
            _ => Err(self.bad(index, "is not a non-empty URI string")),
        }
    }

    fn dict(&self, index: usize) -> Result<Dict, CodecError> {
        self.get(index)?
            .as_object()
            .cloned()
            .ok_or_else(|| self.bad(index, "is not a dictionary"))
    }

    fn opt_list(&self, index: usize) -> Result<Vec<Value>, CodecError> {
        match self.items.get(index) {
            None => Ok(Vec::new()),
            Some(value) => value
                .as_array()
                .cloned()
                .ok_or_else(|| self.bad(index, "is not a list")),
        }
    }

    fn opt_dict(&self, index: usize) -> Result<Dict, CodecError> {
        match self.items.get(index) {
            None => Ok(Dict::new()),
            Some(_) => self.dict(index),
        }
    }
}
