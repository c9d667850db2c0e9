//! Values that must never reach a log line or an error message: the API token ([`Secret`]) and
//! the password inside a database URL ([`DbUrl`]).
//!
//! `Debug` and `Display` print `[redacted]`; the only way to the value is [`Secret::expose`], which
//! is called where the token is compared and nowhere else.

use subtle::ConstantTimeEq;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value. Call sites are deliberately few: grep for `expose`.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares `candidate` with the secret in constant time (for equal lengths; the length
    /// itself is not hidden, which is standard for bearer tokens).
    pub fn matches(&self, candidate: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(candidate).into()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A database URL (`sqlite://…`, `postgres://user:password@host/db`) whose `Debug` and
/// `Display` hide the password ([`redact_url`]). The full URL is reached through `Deref` or
/// [`DbUrl::as_str`], where the connection is opened or handed to `buildbot create-master`.
#[derive(Clone, PartialEq, Eq)]
pub struct DbUrl(String);

impl DbUrl {
    pub fn new(url: impl Into<String>) -> Self {
        DbUrl(url.into())
    }

    /// The full URL, password included.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for DbUrl {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<&str> for DbUrl {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl std::fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DbUrl({:?})", redact_url(&self.0))
    }
}

impl std::fmt::Display for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

/// `scheme://user:password@host…` → `scheme://user:***@host…`, and a `password=` query
/// parameter (libpq accepts one) → `password=***`. Anything else is returned unchanged.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = out[rest_start..]
            .find(['/', '?', '#'])
            .map_or(out.len(), |i| rest_start + i);
        if let Some(at) = out[rest_start..authority_end].rfind('@') {
            let userinfo = rest_start..rest_start + at;
            if let Some(colon) = out[userinfo.clone()].find(':') {
                out.replace_range(rest_start + colon + 1..userinfo.end, "***");
            }
        }
    }
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{head}{}", query.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_urls_hide_the_password() {
        let cases = [
            (
                "postgres://bbctl:s3cr%40t@127.0.0.1:5432/db",
                "postgres://bbctl:***@127.0.0.1:5432/db",
            ),
            (
                "postgresql://u:p@@h/db?sslmode=require&password=q2",
                "postgresql://u:***@h/db?sslmode=require&password=***",
            ),
            ("postgres://u@h/db", "postgres://u@h/db"),
            ("sqlite:///tmp/x.sqlite3", "sqlite:///tmp/x.sqlite3"),
            ("sqlite:////a@b:c/x.sqlite3", "sqlite:////a@b:c/x.sqlite3"),
        ];
        for (url, want) in cases {
            assert_eq!(redact_url(url), want, "{url}");
            let d = DbUrl::new(url);
            assert_eq!(d.to_string(), want);
            assert_eq!(format!("{d:?}"), format!("DbUrl({want:?})"));
            assert_eq!(d.as_str(), url);
        }
    }

    #[test]
    fn debug_and_display_redact() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{s}").contains("hunter2"));
    }

    #[test]
    fn matches_only_the_exact_value() {
        let s = Secret::new("abc");
        assert!(s.matches(b"abc"));
        assert!(!s.matches(b"abd"));
        assert!(!s.matches(b"ab"));
        assert!(!s.matches(b"abcd"));
    }
}
