//! A small blocking client of the Buildbot REST API (`/api/v2`), for tests: anonymous, or
//! logged in to a www that has `auth` (see [`Buildbot::login`]).

use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::wait::wait_until;

/// One master's REST API.
#[derive(Debug, Clone)]
pub struct Buildbot {
    base: String,
    http: reqwest::blocking::Client,
    /// `TWISTED_SESSION=...` of a logged-in user, sent with every call.
    session: Option<String>,
}

/// A build request created by forcing a build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForcedBuild {
    pub buildsetid: i64,
    pub buildrequestid: i64,
}

/// How a forced build request ended.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildOutcome {
    pub buildrequestid: i64,
    /// The request's result: 0 success, 1 warnings, 2 failure, 3 skipped, 4 exception, 5 retry,
    /// 6 cancelled.
    pub results: i64,
    /// Every build that ran for the request (more than one after a RETRY).
    pub builds: Vec<Value>,
}

/// Why one `GET` failed: no whole answer (worth asking again), or an answer that is wrong.
enum GetError {
    Transport(anyhow::Error),
    Answer(anyhow::Error),
}

impl Buildbot {
    /// `rest_url` is the www base, e.g. `http://127.0.0.1:8010/`.
    pub fn new(rest_url: &str) -> Self {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .expect("a reqwest client builds");
        Self {
            base: format!("{}/api/v2/", rest_url.trim_end_matches('/')),
            http,
            session: None,
        }
    }

    /// A client logged in as `user` to a www with `auth=util.UserPasswordAuth(...)` (or any
    /// Twisted-cred `auth`: HTPasswdAuth, CustomAuth).
    ///
    /// Verified on Buildbot 4.3: `/api/v2` ignores an `Authorization` header (a control call
    /// with only HTTP basic credentials runs as anonymous); the credentials go once to
    /// `GET /auth/login`, which answers 302 with the session cookie `TWISTED_SESSION` (a JWT
    /// naming the user; the answer holds an anonymous one first, the user's last), and every
    /// later call sends that cookie. Wrong credentials: 401.
    pub fn login(rest_url: &str, user: &str, password: &str) -> Result<Self> {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a reqwest client builds");
        let url = format!("{}/auth/login", rest_url.trim_end_matches('/'));
        let resp = http
            .get(&url)
            .basic_auth(user, Some(password))
            .send()
            .with_context(|| format!("GET {url}"))?;
        let status = resp.status();
        if !(status.is_success() || status.is_redirection()) {
            bail!("GET {url} as {user}: {status}");
        }
        let session = resp
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .rfind(|c| c.starts_with("TWISTED_SESSION="))
            .with_context(|| format!("GET {url} as {user}: {status} without a session cookie"))?
            .to_owned();
        let mut client = Self::new(rest_url);
        client.session = Some(session);
        Ok(client)
    }

    fn with_session(
        &self,
        req: reqwest::blocking::RequestBuilder,
    ) -> reqwest::blocking::RequestBuilder {
        match &self.session {
            Some(cookie) => req.header(reqwest::header::COOKIE, cookie),
            None => req,
        }
    }

    /// `GET /api/v2/<path>` (path may carry a query string).
    ///
    /// A read whose answer did not arrive (timed out, or its body cut short) is asked twice more,
    /// and the retry is logged: a loaded 2-core machine has been seen to leave one answer of
    /// Buildbot's www unread for 15 s right after the master logged it sent, and a read is safe
    /// to repeat. An answer that arrived (any status, a body that is not JSON) is never retried.
    pub fn get(&self, path: &str) -> Result<Value> {
        let url = format!("{}{}", self.base, path);
        let mut attempt = 1;
        loop {
            match self.get_once(&url) {
                Err(GetError::Transport(e)) if attempt < 3 => {
                    eprintln!("GET {url}: {e:#}; asking again (attempt {})", attempt + 1);
                    attempt += 1;
                }
                Err(GetError::Transport(e) | GetError::Answer(e)) => return Err(e),
                Ok(v) => return Ok(v),
            }
        }
    }

    fn get_once(&self, url: &str) -> std::result::Result<Value, GetError> {
        let resp = self.with_session(self.http.get(url)).send().map_err(|e| {
            // A refused connection (a stopped master) is an answer: asking again changes nothing.
            let connect = e.is_connect();
            let e = anyhow::Error::new(e).context(format!("GET {url}"));
            if connect {
                GetError::Answer(e)
            } else {
                GetError::Transport(e)
            }
        })?;
        let status = resp.status();
        if !status.is_success() {
            return Err(GetError::Answer(anyhow::anyhow!(
                "GET {url}: {status}: {}",
                resp.text().unwrap_or_default()
            )));
        }
        let body = resp
            .bytes()
            .with_context(|| format!("GET {url}: body not read"))
            .map_err(GetError::Transport)?;
        serde_json::from_slice(&body)
            .with_context(|| format!("GET {url}: not JSON"))
            .map_err(GetError::Answer)
    }

    /// The rows of a collection: `list("builds?complete=false", "builds")`.
    pub fn list(&self, path: &str, key: &str) -> Result<Vec<Value>> {
        let body = self.get(path)?;
        match body.get(key) {
            Some(Value::Array(rows)) => Ok(rows.clone()),
            _ => bail!("GET {path}: no `{key}` list in {body}"),
        }
    }

    /// A JSON-RPC control call: `POST /api/v2/<path>` with `method` and `params`.
    pub fn control(&self, path: &str, method: &str, params: Value) -> Result<Value> {
        let url = format!("{}{}", self.base, path);
        let body = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1});
        let resp = self
            .with_session(self.http.post(&url).json(&body))
            .send()
            .with_context(|| format!("POST {url}"))?;
        let status = resp.status();
        let answer: Value = resp
            .json()
            .with_context(|| format!("POST {url}: {status}, not JSON"))?;
        if !status.is_success() || answer.get("error").is_some() {
            bail!("POST {url} {method}: {status}: {answer}");
        }
        Ok(answer["result"].clone())
    }

    pub fn builder_id(&self, name: &str) -> Result<i64> {
        let rows = self.list(&format!("builders?name={name}"), "builders")?;
        rows.first()
            .and_then(|b| b["builderid"].as_i64())
            .with_context(|| format!("no builder named {name}"))
    }

    /// Forces a build of `builder` through its force scheduler `force-<builder>` with the given
    /// string properties (e.g. `[("duration", "5")]`).
    pub fn force(&self, builder: &str, properties: &[(&str, &str)]) -> Result<ForcedBuild> {
        self.force_via(&format!("force-{builder}"), builder, properties)
    }

    /// Forces a build of `builder` through the force scheduler `scheduler` (a master.cfg that
    /// names its schedulers its own way) with the given string properties.
    pub fn force_via(
        &self,
        scheduler: &str,
        builder: &str,
        properties: &[(&str, &str)],
    ) -> Result<ForcedBuild> {
        let builderid = self.builder_id(builder)?;
        let mut params = json!({"builderid": builderid});
        for (k, v) in properties {
            params[*k] = json!(v);
        }
        let result = self.control(&format!("forceschedulers/{scheduler}"), "force", params)?;
        // result = [buildsetid, {"<builderid>": buildrequestid}]
        let buildsetid = result[0]
            .as_i64()
            .with_context(|| format!("unexpected force result {result}"))?;
        let buildrequestid = result[1][builderid.to_string()]
            .as_i64()
            .with_context(|| format!("unexpected force result {result}"))?;
        Ok(ForcedBuild {
            buildsetid,
            buildrequestid,
        })
    }

    /// Waits until a build request is complete and returns its outcome.
    pub fn wait_complete(&self, buildrequestid: i64, timeout: Duration) -> Result<BuildOutcome> {
        let request = wait_until(
            &format!("build request {buildrequestid} to complete"),
            timeout,
            || {
                let rows =
                    self.list(&format!("buildrequests/{buildrequestid}"), "buildrequests")?;
                let row = rows.into_iter().next().context("no such build request")?;
                Ok(row["complete"].as_bool().unwrap_or(false).then_some(row))
            },
        )?;
        let builds = self.list(&format!("builds?buildrequestid={buildrequestid}"), "builds")?;
        Ok(BuildOutcome {
            buildrequestid,
            results: request["results"]
                .as_i64()
                .context("a complete request has results")?,
            builds,
        })
    }

    /// The Buildbot version this master runs, as its web UI's `/config` reports it (`versions`:
    /// `[["Python", …], ["Buildbot", "4.3.0"], …]`): what the process runs, not what bbctl says.
    pub fn served_version(&self) -> Result<String> {
        let url = format!("{}config", self.base.trim_end_matches("api/v2/"));
        let config: Value = self
            .http
            .get(&url)
            .send()
            .and_then(|r| r.error_for_status())
            .with_context(|| format!("GET {url}"))?
            .json()
            .with_context(|| format!("GET {url}: not JSON"))?;
        config["versions"]
            .as_array()
            .and_then(|vs| {
                vs.iter()
                    .find(|v| v[0] == "Buildbot")
                    .and_then(|v| v[1].as_str())
            })
            .map(str::to_owned)
            .with_context(|| format!("GET {url}: no Buildbot version in {config}"))
    }

    /// Forces `builder` with `duration` seconds and waits for the outcome.
    pub fn force_and_wait(
        &self,
        builder: &str,
        duration: f64,
        timeout: Duration,
    ) -> Result<BuildOutcome> {
        let forced = self.force(builder, &[("duration", &duration.to_string())])?;
        self.wait_complete(forced.buildrequestid, timeout)
    }
}
