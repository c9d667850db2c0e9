//! A minimal server-sent-events reader: enough of the format for the agent's `/v1/events`
//! (`event:`, `data:`, `id:`, comments, blank-line dispatch).

use bbctl_api::Event;
use futures_util::{Stream, StreamExt};

use super::ApiError;

/// Turns the body of an SSE response into the events it carries. A `data:` payload that is
/// not an [`Event`] ends the stream with a protocol error.
pub fn events<S, B>(
    agent: String,
    bytes: S,
) -> impl Stream<Item = Result<Event, ApiError>> + use<S, B>
where
    S: Stream<Item = reqwest::Result<B>> + Unpin,
    B: AsRef<[u8]>,
{
    let state = (bytes, Parser::default(), agent, false);
    futures_util::stream::unfold(state, |(mut bytes, mut parser, agent, done)| async move {
        if done {
            return None;
        }
        loop {
            if let Some(data) = parser.next_data() {
                let item = serde_json::from_str::<Event>(&data).map_err(|err| ApiError::Protocol {
                    agent: agent.clone(),
                    detail: format!("event: {err}"),
                });
                let failed = item.is_err();
                return Some((item, (bytes, parser, agent, failed)));
            }
            match bytes.next().await {
                Some(Ok(chunk)) => parser.push(chunk.as_ref()),
                Some(Err(err)) => {
                    let item = Err(ApiError::transport(&agent, err, 0.0));
                    return Some((item, (bytes, parser, agent, true)));
                }
                None => return None,
            }
        }
    })
}

/// Accumulates bytes and hands out the `data` of each complete event.
#[derive(Default)]
struct Parser {
    buffer: Vec<u8>,
    data: Vec<String>,
    ready: std::collections::VecDeque<String>,
}

impl Parser {
    fn push(&mut self, chunk: &[u8]) {
        self.buffer.extend_from_slice(chunk);
        while let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buffer.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            self.line(line.trim_end_matches(['\n', '\r']));
        }
    }

    fn line(&mut self, line: &str) {
        if line.is_empty() {
            if !self.data.is_empty() {
                self.ready.push_back(self.data.join("\n"));
                self.data.clear();
            }
            return;
        }
        if let Some(value) = line.strip_prefix("data:") {
            self.data
                .push(value.strip_prefix(' ').unwrap_or(value).to_string());
        }
        // `event:`, `id:`, `retry:` and `:` comments carry nothing the CLI needs: the event's
        // kind and sequence number are inside the data.
    }

    fn next_data(&mut self) -> Option<String> {
        self.ready.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::Parser;

    #[test]
    fn splits_events_across_chunks_and_ignores_comments() {
        let mut parser = Parser::default();
        parser.push(b": keep-alive\n\nevent: agent.drain\ndata: {\"a\":");
        assert_eq!(parser.next_data(), None);
        parser.push(b"1}\r\nid: 7\n\ndata: x\ndata: y\n\n");
        assert_eq!(parser.next_data().as_deref(), Some("{\"a\":1}"));
        assert_eq!(parser.next_data().as_deref(), Some("x\ny"));
        assert_eq!(parser.next_data(), None);
    }
}
