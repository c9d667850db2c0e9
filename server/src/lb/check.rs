//! Whether the `[load_balancer]` settings work against the real load balancer (issue 12: a
//! wrong HAProxy backend or server name used to be accepted, and a drain then retried its first
//! step forever).
//!
//! For `haproxy` the check asks the runtime API three things: that it answers at all, that it
//! runs at `level admin` (`show cli level`; a drain needs `set server` and `shutdown session`,
//! which a lower level refuses with "Permission denied"), and that `show servers state BACKEND`
//! lists the configured server. `relay` has nothing to check once its listener is bound (the
//! hook is built only then); `none` has nothing to check.
//!
//! The agent runs the check at start ([`at_start`]): a load balancer that answers and says a
//! setting is wrong stops the agent with one line naming the setting; one that does not answer
//! lets it start, and `/readyz` reports it (through [`super::LbStatus`]) until it answers right.
//! With several load balancers ([`super::multi`]) each is checked, and the line names the one
//! that is wrong or does not answer.

use super::{LbError, LoadBalancerHook};

/// Why the load-balancer settings do not work (yet).
#[derive(Debug, thiserror::Error)]
pub enum LbCheckError {
    /// The load balancer did not answer (or answered something unreadable): nothing is known
    /// about the settings yet.
    #[error("load balancer unavailable: {0}")]
    Unavailable(#[source] LbError),
    /// The load balancer answered, and a setting does not match what it has. `key` is the
    /// dotted setting name, e.g. `load_balancer.backend`.
    #[error("bad setting `{key}`: {message}")]
    Setting { key: &'static str, message: String },
}

impl LbCheckError {
    /// Whether the agent should refuse to start over it.
    pub fn is_setting(&self) -> bool {
        matches!(self, LbCheckError::Setting { .. })
    }
}

/// The check at agent start: `Err` (one line naming the setting) when the load balancer
/// answers and a setting is wrong; an unavailable load balancer is logged and let through.
pub async fn at_start(hook: &dyn LoadBalancerHook) -> Result<(), LbCheckError> {
    match hook.check().await {
        Ok(()) => Ok(()),
        Err(e) if e.is_setting() => Err(e),
        Err(e) => {
            tracing::warn!(
                hook = hook.kind(),
                error = %e,
                "cannot check the load-balancer settings now; /readyz reports it until the \
                 load balancer answers"
            );
            Ok(())
        }
    }
}

/// What the HAProxy runtime API answered to `show cli level` (`admin`, `operator`, `user`).
/// `None` when the answer is none of them (an HAProxy without the command): the level is then
/// not checked, and a lower level shows when the hook acts.
pub(crate) fn cli_level(reply: &str) -> Option<&str> {
    let level = reply.trim();
    matches!(level, "admin" | "operator" | "user").then_some(level)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_levels_are_recognised() {
        assert_eq!(cli_level("admin\n\n"), Some("admin"));
        assert_eq!(cli_level("operator\n"), Some("operator"));
        assert_eq!(cli_level("user\n"), Some("user"));
        assert_eq!(cli_level("Unknown command: 'show cli level'\n"), None);
    }

    #[test]
    fn only_a_setting_error_refuses_the_start() {
        let setting = LbCheckError::Setting {
            key: "load_balancer.server",
            message: "no such server".into(),
        };
        assert!(setting.is_setting());
        assert_eq!(
            setting.to_string(),
            "bad setting `load_balancer.server`: no such server"
        );
        let down = LbCheckError::Unavailable(LbError::Timeout {
            what: "HAProxy runtime API at /x".into(),
            secs: 1,
        });
        assert!(!down.is_setting());
    }
}
