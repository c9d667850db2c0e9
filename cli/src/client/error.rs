//! The one place that turns a connection failure or an agent's error envelope into a typed error.

use bbctl_api::{ErrorCode, ErrorEnvelope};
use serde::de::DeserializeOwned;

/// What went wrong talking to one agent. `Display` starts with the agent's name, so `main`
/// prints `error: <agent>: <message>` with the agent's message verbatim; [`ApiError::reason`] is
/// the same without the name. A refused token is `token refused by agent <agent>: …` in both
/// (the agent answered: it is not unreachable, and never lumped with the agents that did not). An agent's own error is classified by its envelope's
/// [`ErrorCode`] (the contract), never by the HTTP status or the message text.
#[derive(Debug)]
pub enum ApiError {
    Unreachable {
        agent: String,
        detail: String,
    },
    Timeout {
        agent: String,
        secs: f64,
    },
    Unauthorized {
        agent: String,
        message: String,
    },
    Agent {
        agent: String,
        code: ErrorCode,
        message: String,
        details: Option<serde_json::Value>,
    },
    Protocol {
        agent: String,
        detail: String,
    },
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // The reason names the agent already: `token refused by agent m2: …`.
            ApiError::Unauthorized { .. } => f.write_str(&self.reason()),
            _ => write!(f, "{}: {}", self.agent(), self.reason()),
        }
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    /// The agent this error is about (its inventory name).
    pub fn agent(&self) -> &str {
        match self {
            ApiError::Unreachable { agent, .. }
            | ApiError::Timeout { agent, .. }
            | ApiError::Unauthorized { agent, .. }
            | ApiError::Agent { agent, .. }
            | ApiError::Protocol { agent, .. } => agent,
        }
    }

    /// What went wrong, without the agent's name (for table cells and step messages).
    pub fn reason(&self) -> String {
        match self {
            ApiError::Unreachable { detail, .. } => format!("unreachable ({detail})"),
            ApiError::Timeout { secs, .. } => format!("no answer within {secs}s"),
            ApiError::Unauthorized { agent, message } => format!(
                "token refused by agent {agent}: {message}; check the token bbctl sends it \
                 (token or token_file in the inventory; --token-file or ${} with --agent)",
                super::TOKEN_ENV
            ),
            ApiError::Agent { message, .. } => message.clone(),
            ApiError::Protocol { detail, .. } => format!("unexpected answer: {detail}"),
        }
    }

    /// The envelope's code, when the agent answered with its own error.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ApiError::Agent { code, .. } => Some(*code),
            ApiError::Unauthorized { .. } => Some(ErrorCode::Unauthorized),
            _ => None,
        }
    }

    /// Whether the agent answered with its own error of this code.
    pub fn is(&self, code: ErrorCode) -> bool {
        self.code() == Some(code)
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

    /// The details as the wire type the endpoint documents for them (e.g. the fleet lease's
    /// `Lease` in a conflict); `None` when absent or of another shape.
    pub fn details_as<T: DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_value(self.details()?.clone()).ok()
    }

    /// The log lines an agent attached to its error (`details.log_lines` of a failed operation,
    /// `details.output` of a failed check); empty when none.
    pub fn log_lines(&self) -> Vec<String> {
        self.details()
            .and_then(|d| d.get("log_lines").or_else(|| d.get("output")))
            .and_then(|v| v.as_array())
            .map(|lines| {
                lines
                    .iter()
                    .map(|l| l.as_str().map_or_else(|| l.to_string(), str::to_string))
                    .collect()
            })
            .unwrap_or_default()
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
        if body.code == ErrorCode::Unauthorized {
            return ApiError::Unauthorized {
                agent,
                message: body.message,
            };
        }
        ApiError::Agent {
            agent,
            code: body.code,
            message: body.message,
            details: body.details,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ApiError;
    use bbctl_api::ErrorCode;

    #[test]
    fn envelope_is_classified_by_its_code_and_keeps_message_verbatim() {
        let conflict = br#"{"error":{"code":"conflict","message":"master is already running"}}"#;
        let err = ApiError::from_answer("master-1", 409, conflict);
        assert_eq!(err.to_string(), "master-1: master is already running");
        assert_eq!(err.reason(), "master is already running");
        assert!(err.is(ErrorCode::Conflict));
        // The code decides, not the HTTP status that carried it.
        let odd = br#"{"error":{"code":"conflict","message":"held","details":{"x":1}}}"#;
        assert!(ApiError::from_answer("m", 400, odd).is(ErrorCode::Conflict));

        let unauthorized = br#"{"error":{"code":"unauthorized","message":"bad token"}}"#;
        let err = ApiError::from_answer("master-2", 401, unauthorized);
        assert!(
            err.to_string()
                .starts_with("token refused by agent master-2: bad token; check the token"),
            "{err}"
        );
        assert_eq!(err.to_string(), err.reason(), "the agent is named once");

        let garbage = ApiError::from_answer("m", 500, b"<html>oops</html>");
        assert!(matches!(garbage, ApiError::Protocol { .. }));
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
            code: ErrorCode::Upstream,
            message: "busy".into(),
            details: None,
        };
        assert_eq!(answered.unreachable_agent(), None);
        // A refused token is an answer: never lumped with the agents that did not answer.
        let refused_token = ApiError::from_answer(
            "m2",
            401,
            br#"{"error":{"code":"unauthorized","message":"missing or wrong bearer token"}}"#,
        );
        assert!(!refused_token.is_unreachable());
        assert_eq!(refused_token.code(), Some(ErrorCode::Unauthorized));
    }
}
