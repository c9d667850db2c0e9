//! Bearer-token authentication for every `/v1` route: `Authorization: Bearer <token>` compared
//! in constant time; anything else is a 401 with the error envelope, before any handler runs.
//! The presented token is never logged.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::AppError;
use crate::state::AppState;

pub async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
        .map(<[u8]>::trim_ascii);
    match presented {
        Some(token) if state.config().token.matches(token) => next.run(req).await,
        _ => {
            tracing::warn!(path = %req.uri().path(), "rejected request: missing or wrong bearer token");
            AppError::unauthorized().into_response()
        }
    }
}
