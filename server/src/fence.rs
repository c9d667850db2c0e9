//! Fencing middleware (docs/fleet-store.md, design §2.3): every mutating `/v1` call (POST, PUT,
//! PATCH, DELETE) that carries `X-Bbctl-Lease-Epoch: <fleet>:<epoch>` is refused with 409
//! `stale_epoch` — before its handler runs, so nothing is done — when the epoch is older than
//! the highest this agent knows (`crate::fleet_store::fence`). A call without the header is
//! let through (manual commands). The lease and journal routes (`/v1/lease`, `/v1/upgrades…`)
//! are not fenced here: they check the epoch in their own statement.

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::AppError;
use crate::fleet_store::fence::Fence;

/// Whether a call of `method` on `path` (under `/v1`) is fenced.
pub fn is_fenced(method: &Method, path: &str) -> bool {
    let mutating = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let own_check = ["/lease", "/upgrades"].iter().any(|p| {
        let path = path.strip_prefix("/v1").unwrap_or(path);
        path == *p || path.starts_with(&format!("{p}/")) || path.starts_with(&format!("{p}?"))
    });
    mutating && !own_check
}

pub async fn check_epoch(State(fence): State<Fence>, req: Request, next: Next) -> Response {
    if !is_fenced(req.method(), req.uri().path()) {
        return next.run(req).await;
    }
    let Some(value) = req.headers().get(bbctl_api::LEASE_EPOCH_HEADER) else {
        return next.run(req).await;
    };
    let Ok(value) = value.to_str() else {
        return AppError::from(crate::fleet_store::fence::FenceError::Malformed).into_response();
    };
    match fence.check(value).await {
        Ok(()) => next.run(req).await,
        Err(e) => {
            tracing::warn!(path = %req.uri().path(), error = %e, "refused a fenced call");
            AppError::from(e).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutating_calls_are_fenced_except_the_lease_and_journals() {
        for (method, path, fenced) in [
            (Method::POST, "/v1/master/stop", true),
            (Method::DELETE, "/v1/drain", true),
            (Method::PATCH, "/v1/drain", true),
            (Method::POST, "/v1/buildbot-db/masters/expire", true),
            (Method::GET, "/v1/master", false),
            (Method::PUT, "/v1/lease", false),
            (Method::DELETE, "/v1/lease", false),
            (Method::PUT, "/v1/upgrades/up-1", false),
            (Method::PUT, "/v1/leases", true),
        ] {
            assert_eq!(is_fenced(&method, path), fenced, "{method} {path}");
        }
    }
}
