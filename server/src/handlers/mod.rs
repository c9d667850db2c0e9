//! HTTP handlers, one module per resource. Each is thin: extract, call one domain service,
//! return the wire type (a domain error becomes the envelope through `crate::error`).
//!
//! Who asks is derived here, once: [`RequestedBy`] reads the documented `X-Bbctl-Requested-By`
//! header ([`bbctl_api::REQUESTED_BY_HEADER`]) for the operations table and the audit log.

pub mod analysis;
pub mod buildbot_db;
pub mod configs;
pub mod drain;
pub mod errors;
pub mod events;
pub mod fleet;
pub mod fleet_docs;
pub mod health;
pub mod history;
pub mod lifecycle;
pub mod master;
pub mod masters_table;
pub mod moves;
pub mod routing;
pub mod version;

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use bbctl_api::REQUESTED_BY_HEADER;

use crate::master::operation::Requester;

/// The longest actor recorded, in characters.
const MAX_ACTOR_CHARS: usize = 200;

/// The auditing actor of a request (`user@host`): the `X-Bbctl-Requested-By` header, cut to
/// 200 characters; `None` without one (or when it is not text).
pub fn requested_by(headers: &HeaderMap) -> Option<String> {
    headers
        .get(REQUESTED_BY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(MAX_ACTOR_CHARS).collect())
}

/// Extracts [`requested_by`]; never rejects.
#[derive(Debug, Clone, Default)]
pub struct RequestedBy(pub Option<String>);

impl RequestedBy {
    /// The requester of an operation: this actor and the request's `reason`.
    pub fn with_reason(self, reason: Option<String>) -> Requester {
        Requester {
            actor: self.0,
            reason,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestedBy {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestedBy(requested_by(&parts.headers)))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn the_actor_is_the_header_cut_to_200_characters() {
        let mut headers = HeaderMap::new();
        assert_eq!(requested_by(&headers), None);
        headers.insert(REQUESTED_BY_HEADER, HeaderValue::from_static("alice@host"));
        assert_eq!(requested_by(&headers).as_deref(), Some("alice@host"));
        let long = "a".repeat(300);
        headers.insert(REQUESTED_BY_HEADER, HeaderValue::from_str(&long).unwrap());
        assert_eq!(requested_by(&headers).map(|a| a.len()), Some(200));
    }
}
