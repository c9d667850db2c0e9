//! HTTP handlers, one module per resource. Each is thin: extract, call the domain module,
//! return the wire type.

pub mod configs;
pub mod drain;
pub mod events;
pub mod fleet_docs;
pub mod health;
pub mod history;
pub mod lifecycle;
pub mod master;
pub mod routing;
pub mod version;

use axum::http::HeaderMap;

use crate::master::operation::Requester;

/// The header a client may set to say who asks (`user@host`); recorded in operations and the
/// audit log.
pub const REQUESTED_BY: &str = "x-bbctl-requested-by";

pub fn actor(headers: &HeaderMap) -> Option<String> {
    headers
        .get(REQUESTED_BY)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(200).collect())
}

pub fn requester(headers: &HeaderMap, reason: Option<String>) -> Requester {
    Requester {
        actor: actor(headers),
        reason,
    }
}
