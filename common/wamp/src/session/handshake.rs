//! Opening a session: the WebSocket upgrade with the `wamp.2.json` subprotocol, HELLO with the
//! roles this client plays, and WELCOME (or ABORT) from the router.

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;

use super::{SUBPROTOCOL, Socket};
use crate::error::{Error, Result};
use crate::message::{Dict, Message};
use crate::types::ClientOptions;

/// Connects to `url` and joins `realm`; returns the socket and the session id.
pub(super) async fn open(url: &str, realm: &str, options: &ClientOptions) -> Result<(Socket, u64)> {
    let invalid = |reason: String| Error::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    let mut request = url
        .into_client_request()
        .map_err(|e| invalid(e.to_string()))?;
    request.headers_mut().insert(
        SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(SUBPROTOCOL),
    );
    let handshake = async {
        let (mut socket, _response) =
            tokio_tungstenite::connect_async(request)
                .await
                .map_err(|e| Error::Connect {
                    url: url.to_owned(),
                    source: Box::new(e),
                })?;
        send(
            &mut socket,
            &Message::Hello {
                realm: realm.to_owned(),
                details: hello_details(),
            },
        )
        .await?;
        let session = await_welcome(&mut socket).await?;
        Ok::<_, Error>((socket, session))
    };
    tokio::time::timeout(options.connect_timeout, handshake)
        .await
        .map_err(|_| Error::Timeout("complete the WAMP handshake"))?
}

fn hello_details() -> Dict {
    let details = json!({
        "agent": concat!("bbctl-wamp/", env!("CARGO_PKG_VERSION")),
        "roles": {
            "subscriber": {"features": {"pattern_based_subscription": true}},
            "publisher": {"features": {"publisher_exclusion": true}},
            "caller": {"features": {}},
        },
    });
    details.as_object().cloned().unwrap_or_default()
}

async fn await_welcome(socket: &mut Socket) -> Result<u64> {
    loop {
        let frame = socket
            .next()
            .await
            .ok_or(Error::ConnectionLost)?
            .map_err(|_| Error::ConnectionLost)?;
        let text = match frame {
            Frame::Text(text) => text,
            Frame::Close(_) => return Err(Error::ConnectionLost),
            Frame::Binary(_) => {
                return Err(Error::Protocol(
                    "binary frame on a wamp.2.json connection".into(),
                ));
            }
            _ => continue,
        };
        return match Message::from_json(&text)? {
            Message::Welcome { session, .. } => Ok(session),
            Message::Abort { details, reason } => {
                let message = details
                    .get("message")
                    .and_then(|m| m.as_str())
                    .map(str::to_owned);
                Err(Error::Aborted { reason, message })
            }
            other => Err(Error::Protocol(format!(
                "expected WELCOME, got message type {}",
                other.code()
            ))),
        };
    }
}

async fn send(socket: &mut Socket, message: &Message) -> Result<()> {
    socket
        .send(Frame::text(message.to_json()))
        .await
        .map_err(|_| Error::ConnectionLost)
}
