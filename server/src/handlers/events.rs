//! `GET /v1/events`: the event hub as server-sent events. `?since=SEQ` first replays the
//! backlog after SEQ; a client may also send `Last-Event-ID`. Each SSE event has `id:` = seq,
//! `event:` = kind and `data:` = the `Event` as JSON.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use bbctl_api::Event;
use futures_util::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use crate::extract::ApiQuery;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Since {
    since: Option<u64>,
}

pub async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<Since>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let last_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let since = q
        .since
        .or(last_id)
        .unwrap_or_else(|| state.hub().last_seq());
    let (past, rx) = state.hub().subscribe_since(since);
    let live = stream::unfold((rx, since), |(mut rx, mut last)| async move {
        loop {
            match rx.recv().await {
                // Events already replayed from the backlog are skipped.
                Ok(e) if e.seq <= last => continue,
                Ok(e) => {
                    last = e.seq;
                    return Some((e, (rx, last)));
                }
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "SSE subscriber lagged behind");
                    continue;
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    let events = stream::iter(past).chain(live).map(|e| Ok(to_sse(&e)));
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

fn to_sse(e: &Event) -> SseEvent {
    SseEvent::default()
        .id(e.seq.to_string())
        .event(e.kind.clone())
        .data(serde_json::to_string(e).unwrap_or_default())
}
