//! The `[master.rest_auth]` section: the credentials the agent presents to its master's www
//! (`crate::buildbot::auth`). Exactly one form — `user` + `password_file`, or `header` +
//! `header_value_file` — or no section at all. The secret files are read here, once, so that an
//! unreadable or empty one stops the agent with the setting named; their content never appears
//! in an error.

use std::path::Path;

use reqwest::header::{HeaderName, HeaderValue};

use super::read::{Reader, bad};
use super::{ConfigError, absolute};
use crate::buildbot::RestAuth;
use crate::secret::Secret;

const SECTION: &str = "master.rest_auth";

pub(super) fn read(r: &mut Reader<'_>, base: &Path) -> Result<Option<RestAuth>, ConfigError> {
    let user = r.opt_str("master.rest_auth.user")?;
    let password_file = r.opt_str("master.rest_auth.password_file")?;
    let header = r.opt_str("master.rest_auth.header")?;
    let header_value_file = r.opt_str("master.rest_auth.header_value_file")?;
    let password_form = user.is_some() || password_file.is_some();
    let header_form = header.is_some() || header_value_file.is_some();
    if password_form && header_form {
        return Err(bad(
            SECTION,
            "set either `user` + `password_file` or `header` + `header_value_file`, not both",
        ));
    }
    if password_form {
        let user = required(user, "master.rest_auth.user")?;
        let file = required(password_file, "master.rest_auth.password_file")?;
        if user.contains(':') || user.chars().any(char::is_control) {
            return Err(bad(
                "master.rest_auth.user",
                "must not contain `:` or control characters (HTTP basic authentication)",
            ));
        }
        let password = secret_file(base, &file, "master.rest_auth.password_file")?;
        return Ok(Some(RestAuth::Password { user, password }));
    }
    if header_form {
        let name = required(header, "master.rest_auth.header")?;
        let file = required(header_value_file, "master.rest_auth.header_value_file")?;
        if HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(bad(
                "master.rest_auth.header",
                &format!("`{name}` is not an HTTP header name"),
            ));
        }
        let value = secret_file(base, &file, "master.rest_auth.header_value_file")?;
        if HeaderValue::from_str(value.expose()).is_err() {
            return Err(bad(
                "master.rest_auth.header_value_file",
                "holds characters an HTTP header value cannot carry",
            ));
        }
        return Ok(Some(RestAuth::Header { name, value }));
    }
    if r.present(SECTION) {
        return Err(bad(
            SECTION,
            "is empty: set `user` + `password_file` or `header` + `header_value_file`, or remove \
             the section",
        ));
    }
    Ok(None)
}

fn required(value: Option<String>, key: &str) -> Result<String, ConfigError> {
    match value {
        Some(v) if !v.trim().is_empty() => Ok(v),
        Some(_) => Err(bad(key, "must not be empty")),
        None => Err(ConfigError::Missing {
            key: key.to_owned(),
        }),
    }
}

/// The one line of the file at `value` (relative to `base`), without its line ending.
fn secret_file(base: &Path, value: &str, key: &str) -> Result<Secret, ConfigError> {
    let path = absolute(base, value);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| bad(key, &format!("cannot read {}: {e}", path.display())))?;
    let line = text.trim_end_matches(['\n', '\r']);
    if line.is_empty() {
        return Err(bad(key, &format!("{} is empty", path.display())));
    }
    if line.contains(['\n', '\r']) {
        return Err(bad(key, &format!("{} must hold one line", path.display())));
    }
    Ok(Secret::new(line))
}
