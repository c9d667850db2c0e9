//! Who the agent is to its master's www, and why the master refused a call.
//!
//! Buildbot 4.3's REST API never reads credentials itself: `/api/v2` takes the user from the
//! session cookie (`TWISTED_SESSION`, a JWT signed with a secret kept in the shared DB) and its
//! `authz` judges that user. A session is made by `GET /auth/login` with HTTP basic credentials
//! (`UserPasswordAuth`, `HTPasswdAuth`, `CustomAuth`: 302 + cookie, or 401 for a wrong password),
//! or for `RemoteUserAuth` by `GET /` with the configured header (the only resource that reads
//! it). `GET /config` says whom the session belongs to. Verified on Buildbot 4.3.0: basic
//! credentials sent straight to `/api/v2` are ignored (the call runs as anonymous), a refused
//! control call answers 403 with a JSON-RPC error (`you need to have role 'admins'`), a refused
//! read 403 with `{"error": …}`. The flow itself lives in `super::session`.

use reqwest::StatusCode;

use crate::secret::Secret;

/// `[master.rest_auth]`, validated by `crate::config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestAuth {
    /// HTTP basic credentials, presented at `/auth/login` for a session cookie.
    Password { user: String, password: Secret },
    /// A header sent with every request (a reverse proxy's token, or the user `RemoteUserAuth`
    /// reads), and presented at `/` for a session cookie.
    Header { name: String, value: Secret },
}

impl RestAuth {
    /// How the settings name this form, for messages.
    pub fn describe(&self) -> String {
        match self {
            RestAuth::Password { user, .. } => format!("user \"{user}\""),
            RestAuth::Header { name, .. } => format!("header {name}"),
        }
    }
}

/// Why the configured credentials do not give the agent a session as a user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginProblem {
    #[error(
        "the master refused the login of user \"{user}\" ({status}): wrong user or password in \
         master.rest_auth.user / master.rest_auth.password_file"
    )]
    WrongPassword { user: String, status: StatusCode },
    #[error(
        "the master's www does not log in a user and password at /auth/login ({status}; its auth \
         is {auth}): for RemoteUserAuth set master.rest_auth.header and header_value_file instead"
    )]
    NoPasswordLogin { status: StatusCode, auth: String },
    #[error(
        "the master did not log in header {header} (its www auth is {auth}): check \
         master.rest_auth.header and master.rest_auth.header_value_file against \
         RemoteUserAuth's header and headerRegex (default `user@realm`)"
    )]
    HeaderNotTaken { header: String, auth: String },
    #[error("logging in at {url}: {message}")]
    Failed { url: String, message: String },
}

/// Why the master refused a call (401 or 403), as far as the agent can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No `[master.rest_auth]`: the call ran as anonymous.
    NoCredentials,
    /// The configured credentials did not log in, so the call ran as anonymous.
    Login(LoginProblem),
    /// The master's www has no `auth` at all, so nobody can log in, and its authz refuses
    /// anonymous calls.
    NoWwwAuth,
    /// Logged in (as `user`, when Buildbot said); the master's authz does not allow the call.
    NotAllowed { user: Option<String> },
}

impl Refusal {
    /// `what` says what the user may not do ("control workers", "read the REST API").
    pub fn explain(&self, what: &str) -> String {
        match self {
            Refusal::NoCredentials => format!(
                "no [master.rest_auth] is configured and the master's authz does not let \
                 anonymous users {what}: give the agent a Buildbot user that may \
                 (docs/agent-config.md)"
            ),
            Refusal::Login(p) => p.to_string(),
            Refusal::NoWwwAuth => format!(
                "the master's www has no `auth`, so no user can log in, and its authz does not \
                 let anonymous users {what}"
            ),
            Refusal::NotAllowed { user: Some(u) } => {
                format!("the master's authz does not let user \"{u}\" ([master.rest_auth]) {what}")
            }
            Refusal::NotAllowed { user: None } => format!(
                "the master's authz does not let the agent's user ([master.rest_auth]) {what}"
            ),
        }
    }
}
