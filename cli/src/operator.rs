//! Who runs this CLI, for the agents' audit trail: `user@host`, worked out once. The API client
//! sends it as `X-Bbctl-Requested-By` on every call that changes something, and drains and
//! upgrade journals record it as their `requested_by`.

use std::sync::OnceLock;

/// `user@host` of the operator: `$USER` (else `$LOGNAME`, else `unknown`) at `$HOSTNAME` (else
/// `/etc/hostname`, else `localhost`).
pub fn requested_by() -> &'static str {
    static WHO: OnceLock<String> = OnceLock::new();
    WHO.get_or_init(|| {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let user = var("USER")
            .or_else(|| var("LOGNAME"))
            .unwrap_or_else(|| "unknown".into());
        let host = var("HOSTNAME")
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into());
        format!("{}@{host}", user.trim())
    })
}
