//! The agent's session with its master's www (see `super::auth` for how Buildbot 4.3 makes one):
//! logged in once on first use, its cookie sent with every call, and — when a call is refused —
//! checked (`GET /config`: is it still a user?) and made again once, so that an expired or
//! invalidated session heals while a refusal by the master's authz is explained.

use reqwest::header::{COOKIE, HeaderName, HeaderValue, SET_COOKIE};
use reqwest::{RequestBuilder, StatusCode};
use tokio::sync::Mutex;

use super::auth::{LoginProblem, Refusal, RestAuth};

/// What a request is sent with; `generation` tells a refused caller whether the session changed
/// since (another call logged in again meanwhile).
#[derive(Clone)]
pub struct Ticket {
    cookie: Option<HeaderValue>,
    generation: u64,
}

pub struct Session {
    http: reqwest::Client,
    /// The www root, ending with `/`.
    root: String,
    auth: Option<RestAuth>,
    /// The header of the `Header` form, built once (marked sensitive).
    header: Option<(HeaderName, HeaderValue)>,
    state: Mutex<Current>,
}

struct Current {
    state: State,
    generation: u64,
}

#[derive(Clone)]
enum State {
    /// Not logged in yet.
    Fresh,
    LoggedIn {
        cookie: HeaderValue,
        /// Whom Buildbot took the session for, when `GET /config` said.
        user: Option<String>,
    },
    /// The master's www has no `auth`: there is nothing to log in to.
    NoWwwAuth,
    Failed(LoginProblem),
}

/// Whom a session belongs to, from `GET /config`.
struct WhoAmI {
    user: Option<String>,
    /// The www auth class (`UserPasswordAuth`, `RemoteUserAuth`, `NoAuth`, …).
    auth: String,
}

impl Session {
    /// `http` must not follow redirects (the login answers 302 with the cookie).
    pub fn new(http: reqwest::Client, root: &str, auth: Option<RestAuth>) -> Result<Self, String> {
        let header = match &auth {
            Some(RestAuth::Header { name, value }) => {
                let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| e.to_string())?;
                let mut value =
                    HeaderValue::from_str(value.expose()).map_err(|_| "invalid header value")?;
                value.set_sensitive(true);
                Some((name, value))
            }
            _ => None,
        };
        Ok(Session {
            http,
            root: root.to_owned(),
            auth,
            header,
            state: Mutex::new(Current {
                state: State::Fresh,
                generation: 0,
            }),
        })
    }

    /// The credentials for the next request, logging in first when no login was tried yet.
    pub async fn ticket(&self) -> Ticket {
        let mut cur = self.state.lock().await;
        if self.auth.is_some() && matches!(cur.state, State::Fresh) {
            self.login(&mut cur).await;
        }
        Self::ticket_of(&cur)
    }

    /// Adds the configured header and the session cookie to `req`.
    pub fn apply(&self, mut req: RequestBuilder, ticket: &Ticket) -> RequestBuilder {
        if let Some((name, value)) = &self.header {
            req = req.header(name.clone(), value.clone());
        }
        if let Some(cookie) = &ticket.cookie {
            req = req.header(COOKIE, cookie.clone());
        }
        req
    }

    /// A call made with `ticket` was refused (401/403): `Ok` with a new ticket when logging in
    /// again gave a session worth retrying with, else why the master refuses.
    pub async fn after_refusal(&self, ticket: &Ticket) -> Result<Ticket, Refusal> {
        if self.auth.is_none() {
            return Err(Refusal::NoCredentials);
        }
        let mut cur = self.state.lock().await;
        if cur.generation != ticket.generation && matches!(cur.state, State::LoggedIn { .. }) {
            return Ok(Self::ticket_of(&cur));
        }
        match cur.state.clone() {
            State::LoggedIn { cookie, user } => match self.whoami(Some(&cookie)).await {
                // Still a user: the master's authz said no.
                Ok(WhoAmI { user: Some(u), .. }) => {
                    return Err(Refusal::NotAllowed { user: Some(u) });
                }
                // Unknown (no `/config` behind a proxy): the session may be fine.
                Err(_) if user.is_none() => return Err(Refusal::NotAllowed { user: None }),
                // Expired or invalidated: log in again.
                _ => self.login(&mut cur).await,
            },
            State::NoWwwAuth => return Err(Refusal::NoWwwAuth),
            State::Fresh | State::Failed(_) => self.login(&mut cur).await,
        }
        match &cur.state {
            State::LoggedIn { .. } => Ok(Self::ticket_of(&cur)),
            State::Failed(p) => Err(Refusal::Login(p.clone())),
            State::NoWwwAuth => Err(Refusal::NoWwwAuth),
            State::Fresh => Err(Refusal::NotAllowed { user: None }),
        }
    }

    /// Why the configured credentials do not log in, if they do not (a failed login is tried
    /// again here: the master's config may have been fixed since).
    pub async fn login_problem(&self) -> Option<LoginProblem> {
        self.auth.as_ref()?;
        let mut cur = self.state.lock().await;
        if matches!(cur.state, State::Fresh | State::Failed(_)) {
            self.login(&mut cur).await;
        }
        match &cur.state {
            State::Failed(p) => Some(p.clone()),
            _ => None,
        }
    }

    fn ticket_of(cur: &Current) -> Ticket {
        Ticket {
            cookie: match &cur.state {
                State::LoggedIn { cookie, .. } => Some(cookie.clone()),
                _ => None,
            },
            generation: cur.generation,
        }
    }

    async fn login(&self, cur: &mut Current) {
        cur.generation += 1;
        cur.state = match self.try_login().await {
            Ok(state) => state,
            Err(problem) => State::Failed(problem),
        };
        match &cur.state {
            State::LoggedIn { user, .. } => tracing::info!(
                user = user.as_deref().unwrap_or("?"),
                "logged in to the master's www"
            ),
            State::NoWwwAuth => {
                tracing::info!("the master's www has no auth: [master.rest_auth] is not used")
            }
            State::Failed(p) => tracing::warn!(problem = %p, "cannot log in to the master's www"),
            State::Fresh => {}
        }
    }

    async fn try_login(&self) -> Result<State, LoginProblem> {
        let Some(auth) = &self.auth else {
            return Ok(State::Fresh);
        };
        let (url, req) = match auth {
            RestAuth::Password { user, password } => {
                let url = format!("{}auth/login", self.root);
                let req = self
                    .http
                    .get(&url)
                    .basic_auth(user, Some(password.expose()));
                (url, req)
            }
            // `RemoteUserAuth` reads its header only when the index page is rendered.
            RestAuth::Header { .. } => {
                let url = self.root.clone();
                let req = self.apply(self.http.get(&url), &Ticket::none());
                (url, req)
            }
        };
        let failed = |message: String| LoginProblem::Failed {
            url: url.clone(),
            message,
        };
        let resp = req
            .send()
            .await
            .map_err(|e| failed(e.without_url().to_string()))?;
        let status = resp.status();
        let cookie = session_cookie(resp.headers().get_all(SET_COOKIE).iter());
        if let RestAuth::Password { user, .. } = auth {
            if status == StatusCode::UNAUTHORIZED {
                return Err(LoginProblem::WrongPassword {
                    user: user.clone(),
                    status,
                });
            }
            if !(status.is_success() || status.is_redirection()) {
                // 500 from a www without auth (its login resource is "not implemented"), 403
                // from RemoteUserAuth ("URL is not supported for authentication").
                let who = self.whoami(None).await.map_err(failed)?;
                if who.auth == "NoAuth" {
                    return Ok(State::NoWwwAuth);
                }
                return Err(LoginProblem::NoPasswordLogin {
                    status,
                    auth: who.auth,
                });
            }
        } else if !status.is_success() {
            return Err(failed(format!("HTTP {status}")));
        }
        let Some(cookie) = cookie else {
            return Err(failed(format!("{status} without a session cookie")));
        };
        match self.whoami(Some(&cookie)).await {
            Ok(WhoAmI { user: Some(u), .. }) => Ok(State::LoggedIn {
                cookie,
                user: Some(u),
            }),
            Ok(WhoAmI {
                user: None,
                auth: www_auth,
            }) => match auth {
                _ if www_auth == "NoAuth" => Ok(State::NoWwwAuth),
                RestAuth::Header { name, .. } => Err(LoginProblem::HeaderNotTaken {
                    header: name.clone(),
                    auth: www_auth,
                }),
                RestAuth::Password { .. } => Err(failed(format!(
                    "{status}, yet the session is anonymous (www auth {www_auth})"
                ))),
            },
            // No `/config` (a proxy in front may not pass it): keep the session.
            Err(_) => Ok(State::LoggedIn {
                cookie,
                user: match auth {
                    RestAuth::Password { user, .. } => Some(user.clone()),
                    RestAuth::Header { .. } => None,
                },
            }),
        }
    }

    /// `GET /config`: whom the session (or none: anonymous) belongs to, and the www auth class.
    async fn whoami(&self, cookie: Option<&HeaderValue>) -> Result<WhoAmI, String> {
        let ticket = Ticket {
            cookie: cookie.cloned(),
            generation: 0,
        };
        let url = format!("{}config", self.root);
        let resp = self
            .apply(self.http.get(&url), &ticket)
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if !resp.status().is_success() {
            return Err(format!("GET {url}: HTTP {}", resp.status()));
        }
        let body: serde_json::Value = resp.json().await.map_err(|e| e.without_url().to_string())?;
        Ok(WhoAmI {
            user: body["user"]["username"].as_str().map(str::to_owned),
            auth: body["auth"]["name"]
                .as_str()
                .unwrap_or("unknown")
                .to_owned(),
        })
    }
}

impl Ticket {
    fn none() -> Self {
        Ticket {
            cookie: None,
            generation: 0,
        }
    }
}

/// The `Cookie` header echoing `Set-Cookie`s: Buildbot sets `TWISTED_SESSION` twice in one login
/// answer (anonymous first, then the user's), so the last value of each name wins.
fn session_cookie<'a>(set_cookies: impl Iterator<Item = &'a HeaderValue>) -> Option<HeaderValue> {
    let mut jar: Vec<(String, String)> = Vec::new();
    for raw in set_cookies {
        let Ok(text) = raw.to_str() else { continue };
        let pair = text.split(';').next().unwrap_or("");
        let Some((name, value)) = pair.split_once('=') else {
            continue;
        };
        let (name, value) = (name.trim().to_owned(), value.trim().to_owned());
        jar.retain(|(n, _)| *n != name);
        jar.push((name, value));
    }
    if jar.is_empty() {
        return None;
    }
    let line = jar
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let mut value = HeaderValue::from_str(&line).ok()?;
    value.set_sensitive(true);
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_set_cookie_of_a_name_wins() {
        let headers = [
            HeaderValue::from_static("TWISTED_SESSION=anon; Path=/"),
            HeaderValue::from_static("TWISTED_SESSION=user; Path=/"),
            HeaderValue::from_static("other=1"),
        ];
        let c = session_cookie(headers.iter()).unwrap();
        assert_eq!(c.to_str().unwrap(), "TWISTED_SESSION=user; other=1");
        assert!(c.is_sensitive());
        assert!(session_cookie([].iter()).is_none());
    }
}
