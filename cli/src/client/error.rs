//! The one place that turns a connection failure or an agent's error envelope into a typed error.

use bbctl_api::{ErrorCode, ErrorEnvelope};

use crate::exit::Exit;

/// What went wrong talking to one agent. `Display` starts with the agent's name, so `main`
/// prints `error: <agent>: <message>` with the agent's message verbatim.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{agent}: unreachable ({detail})")]
    Unreachable { agent: String, detail: String },
    #[error("{agent}: no answer within {secs}s")]
    Timeout { agent: String, secs: f64 },
    #[error("{agent}: token rejected by agent {agent}: {message}")]
    Unauthorized { agent: String, message: String },
    #[error("{agent}: {message}")]
    Agent {
        agent: String,
        status: u16,
        code: Option<ErrorCode>,
        message: String,
        details: Option<serde_json::Value>,
    },
    #[error("{agent}: unexpected answer: {detail}")]
    Protocol { agent: String, detail: String },
}

impl ApiError {
    /// The exit code this error maps to: unreachable → 3, conflict → 5, everything else → 1.
    pub fn exit(&self) -> Exit {
        match self {
            ApiError::Unreachable { .. } | ApiError::Timeout { .. } => Exit::Partial,
            ApiError::Agent { status: 409, .. } => Exit::Refused,
            _ => Exit::Failed,
        }
    }

    /// Whether the agent could not be reached at all (as opposed to answering with an error).
    pub fn is_unreachable(&self) -> bool {
        self.unreachable_agent().is_some()
    }

    /// The agent that could not be reached (refused, reset, timed out), if that is what this
    /// says; an agent that answered with an error is not unreachable.
    pub fn unreachable_agent(&self) -> Option<&str> {
        match self {
            ApiError::Unreachable { agent, .. } | ApiError::Timeout { agent, .. } => Some(agent),
            _ => None,
        }
    }

    /// The structured details of an agent error (e.g. log lines of a failed start), if any.
    pub fn details(&self) -> Option<&serde_json::Value> {
        match self {
            ApiError::Agent { details, .. } => details.as_ref(),
            _ => None,
        }
    }

    /// A short description without the agent's name, for table cells.
    pub fn short(&self) -> String {
        let full = self.to_string();
        full.split_once(": ")
            .map_or(full.clone(), |(_, rest)| rest.to_string())
    }

    /// Classifies a transport error from reqwest.
    pub(crate) fn transport(agent: &str, err: reqwest::Error, secs: f64) -> ApiError {
        if err.is_timeout() {
            return ApiError::Timeout {
                agent: agent.to_string(),
                secs,
            };
        }
        if err.is_connect() || err.is_request() {
            let mut detail = err.to_string();
            let mut source = std::error::Error::source(&err);
            let mut certificate = false;
            while let Some(cause) = source {
                detail = cause.to_string();
                certificate |= detail.contains("certificate");
                source = cause.source();
            }
            if certificate {
                detail = format!(
                    "TLS certificate not trusted: {detail}; give the CA that signed the agent's \
                     certificate with --ca-file, $BBCTL_CA_FILE or ca_file in the inventory"
                );
            }
            return ApiError::Unreachable {
                agent: agent.to_string(),
                detail,
            };
        }
        ApiError::Protocol {
            agent: agent.to_string(),
            detail: err.to_string(),
        }
    }

    /// Classifies a non-2xx answer; `body` is the raw response body.
    pub(crate) fn from_answer(agent: &str, status: u16, body: &[u8]) -> ApiError {
        let agent = agent.to_string();
        let Ok(envelope) = serde_json::from_slice::<ErrorEnvelope>(body) else {
            let text = String::from_utf8_lossy(body);
            let snippet: String = text.trim().chars().take(200).collect();
            return ApiError::Protocol {
                agent,
                detail: format!("HTTP {status}: {snippet}"),
            };
        };
        let body = envelope.error;
        if status == 401 || body.code == ErrorCode::Unauthorized {
            return ApiError::Unauthorized {
                agent,
                message: body.message,
            };
        }
        ApiError::Agent {
            agent,
            status,
            code: Some(body.code),
            message: body.message,
            details: body.details,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ApiError;
    use crate::exit::Exit;

    #[test]
    fn envelope_maps_to_exit_codes_and_keeps_message_verbatim() {
        let conflict = br#"{"error":{"code":"conflict","message":"master is already running"}}"#;
        let err = ApiError::from_answer("master-1", 409, conflict);
        assert_eq!(err.exit(), Exit::Refused);
        assert_eq!(err.to_string(), "master-1: master is already running");

        let unauthorized = br#"{"error":{"code":"unauthorized","message":"bad token"}}"#;
        let err = ApiError::from_answer("master-2", 401, unauthorized);
        assert_eq!(err.exit(), Exit::Failed);
        assert!(err.to_string().contains("token rejected by agent master-2"));

        let garbage = ApiError::from_answer("m", 500, b"<html>oops</html>");
        assert!(matches!(garbage, ApiError::Protocol { .. }));
        assert_eq!(garbage.exit(), Exit::Failed);
    }

    #[test]
    fn only_transport_failures_are_unreachable() {
        let refused = ApiError::Unreachable {
            agent: "m2".into(),
            detail: "connection refused".into(),
        };
        assert_eq!(refused.unreachable_agent(), Some("m2"));
        let timeout = ApiError::Timeout {
            agent: "m3".into(),
            secs: 5.0,
        };
        assert_eq!(timeout.unreachable_agent(), Some("m3"));
        let answered = ApiError::Agent {
            agent: "m2".into(),
            status: 503,
            code: None,
            message: "busy".into(),
            details: None,
        };
        assert_eq!(answered.unreachable_agent(), None);
    }
}
