//! The reqwest implementation of [`BuildbotApi`]: one client, short timeouts, Buildbot's
//! `{"<plural>": [...], "meta": {...}}` envelope unwrapped, every call made in the session of
//! `[master.rest_auth]` (`super::session`) and a refusal (401/403) turned into
//! [`RestError::Refused`], which says what to fix.

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use reqwest::{RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;

use super::session::Session;
use super::{
    Build, BuildRequest, BuildbotApi, Builder, ClusteredService, LoginProblem, Master, Refusal,
    RestAuth, RestError, RestResult, Worker, WorkerAction, WorkerRef,
};

#[derive(Clone)]
pub struct RestClient {
    http: reqwest::Client,
    /// `<rest_url>api/v2/`.
    api: String,
    session: Arc<Session>,
}

/// The HTTP client every call of the agent to its master's www goes through: short timeouts (a
/// master that does not answer within seconds is reported, not waited for), our user agent, and
/// redirects followed except the one answering a login (it carries the session cookie).
pub fn http_client() -> reqwest::Client {
    http_client_with(Duration::from_secs(5))
}

fn http_client_with(timeout: Duration) -> reqwest::Client {
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        let from_login = attempt
            .previous()
            .last()
            .is_some_and(|u| u.path().ends_with("/auth/login"));
        if from_login || attempt.previous().len() > 5 {
            attempt.stop()
        } else {
            attempt.follow()
        }
    });
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(2))
        .user_agent(concat!("bbctl-agent/", env!("CARGO_PKG_VERSION")))
        .redirect(policy)
        .build()
        .expect("static reqwest configuration is valid")
}

/// What a refused call needs its user to be allowed.
const READ: &str = "read the REST API";
const CONTROL: &str = "control workers";

impl RestClient {
    /// `rest_url` is the master's www base URL ending with `/`; `auth` its `[master.rest_auth]`
    /// (validated by `crate::config`, so the header is a valid one).
    pub fn new(rest_url: &str, auth: Option<RestAuth>) -> Self {
        Self::with_http(http_client(), rest_url, auth)
    }

    fn with_http(http: reqwest::Client, rest_url: &str, auth: Option<RestAuth>) -> Self {
        let session = Session::new(http.clone(), rest_url, auth)
            .expect("[master.rest_auth] is validated when the config is loaded");
        RestClient {
            http,
            api: format!("{rest_url}api/v2/"),
            session: Arc::new(session),
        }
    }

    /// Sends the request `build` makes, in the session; a refused call is retried once when
    /// logging in again gave a new session.
    async fn send(
        &self,
        url: &str,
        call: &str,
        what: &'static str,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Response, Fetch> {
        let mut ticket = self.session.ticket().await;
        let mut retried = false;
        loop {
            let resp = self
                .session
                .apply(build(&self.http), &ticket)
                .send()
                .await
                .map_err(|e| {
                    if e.is_timeout() {
                        Fetch::Again(e)
                    } else {
                        Fetch::Failed(transport(url, e))
                    }
                })?;
            let status = resp.status();
            if status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN {
                return Ok(resp);
            }
            let buildbot = error_text(resp).await;
            let why = match self.session.after_refusal(&ticket).await {
                Ok(fresh) if !retried => {
                    ticket = fresh;
                    retried = true;
                    continue;
                }
                Ok(_) => Refusal::NotAllowed { user: None },
                Err(why) => why,
            };
            return Err(Fetch::Failed(RestError::Refused {
                call: call.to_owned(),
                status,
                buildbot,
                what,
                why,
            }));
        }
    }

    /// A read. One whose answer did not arrive in time, or whose body was cut short, is asked
    /// once more: a loaded master has been seen to leave one answer of its www unread past the
    /// timeout, and a read is safe to repeat. A refused connection is not retried (a master that
    /// is down is reported at once), nor an answer that arrived.
    async fn get_json(&self, path: &str) -> RestResult<serde_json::Value> {
        let url = format!("{}{path}", self.api);
        let call = format!("read /api/v2/{path}");
        let mut retried = false;
        loop {
            match self.get_once(&url, &call).await {
                Err(Fetch::Again(e)) if !retried => {
                    tracing::warn!(%url, error = %e, "no whole answer from the master's www; asking once more");
                    retried = true;
                }
                Err(Fetch::Again(e)) => return Err(transport(&url, e)),
                Err(Fetch::Failed(e)) => return Err(e),
                Ok(body) => {
                    return serde_json::from_slice(&body).map_err(|e| RestError::Decode {
                        url,
                        message: e.to_string(),
                    });
                }
            }
        }
    }

    async fn get_once(&self, url: &str, call: &str) -> Result<Vec<u8>, Fetch> {
        let resp = self.send(url, call, READ, |h| h.get(url)).await?;
        if !resp.status().is_success() {
            return Err(Fetch::Failed(RestError::Status {
                url: url.to_owned(),
                status: resp.status().as_u16(),
            }));
        }
        resp.bytes().await.map(Vec::from).map_err(Fetch::Again)
    }

    async fn list<T: DeserializeOwned>(&self, path: &str, field: &str) -> RestResult<Vec<T>> {
        let mut body = self.get_json(path).await?;
        let url = || format!("{}{path}", self.api);
        let items = body
            .get_mut(field)
            .map(serde_json::Value::take)
            .ok_or_else(|| RestError::Decode {
                url: url(),
                message: format!("no `{field}`"),
            })?;
        serde_json::from_value(items).map_err(|e| RestError::Decode {
            url: url(),
            message: e.to_string(),
        })
    }

    async fn control(
        &self,
        worker: WorkerRef<'_>,
        action: WorkerAction,
        reason: &str,
    ) -> RestResult<()> {
        let url = format!("{}workers/{}", self.api, worker.id);
        let call = match worker.name {
            Some(name) => format!("{} worker {name}", action.method()),
            None => format!("{} worker #{}", action.method(), worker.id),
        };
        let body = serde_json::json!({
            "jsonrpc": "2.0", "method": action.method(), "params": {"reason": reason}, "id": 1
        });
        let resp = self
            .send(&url, &call, CONTROL, |h| h.post(&url).json(&body))
            .await
            .map_err(|f| match f {
                Fetch::Again(e) => transport(&url, e),
                Fetch::Failed(e) => e,
            })?;
        let status = resp.status();
        let answer: serde_json::Value = resp.json().await.unwrap_or_default();
        let error = &answer["error"];
        if status.is_success() && error.is_null() {
            return Ok(());
        }
        Err(RestError::Failed {
            call,
            status,
            buildbot: message_of(error).or_else(|| (!error.is_null()).then(|| error.to_string())),
        })
    }
}

#[cfg(test)]
impl RestClient {
    /// A client without a session whose calls time out after `timeout`.
    pub(crate) fn with_timeout(rest_url: &str, timeout: Duration) -> Self {
        Self::with_http(http_client_with(timeout), rest_url, None)
    }
}

/// How one call failed: without a whole answer in time (a read may ask again), or for good.
enum Fetch {
    Again(reqwest::Error),
    Failed(RestError),
}

fn transport(url: &str, e: reqwest::Error) -> RestError {
    RestError::Transport {
        url: url.to_owned(),
        message: e.without_url().to_string(),
    }
}

/// Buildbot's message in an error answer: `{"error": {"message": …}}` (JSON-RPC) or
/// `{"error": "…"}` (a read).
async fn error_text(resp: Response) -> Option<String> {
    let body: serde_json::Value = resp.json().await.ok()?;
    message_of(&body["error"])
}

fn message_of(error: &serde_json::Value) -> Option<String> {
    error
        .as_str()
        .or_else(|| error["message"].as_str())
        .map(str::to_owned)
}

impl BuildbotApi for RestClient {
    fn masters(&self) -> BoxFuture<'_, RestResult<Vec<Master>>> {
        self.list("masters", "masters").boxed()
    }

    fn workers(&self) -> BoxFuture<'_, RestResult<Vec<Worker>>> {
        self.list("workers", "workers").boxed()
    }

    fn running_builds(&self) -> BoxFuture<'_, RestResult<Vec<Build>>> {
        self.list("builds?complete=false", "builds").boxed()
    }

    fn builders(&self) -> BoxFuture<'_, RestResult<Vec<Builder>>> {
        self.list("builders", "builders").boxed()
    }

    fn incomplete_buildrequests(&self) -> BoxFuture<'_, RestResult<Vec<BuildRequest>>> {
        self.list("buildrequests?complete=false", "buildrequests")
            .boxed()
    }

    fn claimed_buildrequests(&self, masterid: i64) -> BoxFuture<'_, RestResult<Vec<BuildRequest>>> {
        async move {
            let path = format!("buildrequests?complete=false&claimed_by_masterid={masterid}");
            let all: Vec<BuildRequest> = self.list(&path, "buildrequests").await?;
            // Filtered here too: a Buildbot that ignored the filter must not widen the answer.
            Ok(all
                .into_iter()
                .filter(|r| r.claimed_by_masterid == Some(masterid))
                .collect())
        }
        .boxed()
    }

    fn schedulers(&self) -> BoxFuture<'_, RestResult<Vec<ClusteredService>>> {
        self.list("schedulers", "schedulers").boxed()
    }

    fn changesources(&self) -> BoxFuture<'_, RestResult<Vec<ClusteredService>>> {
        self.list("changesources", "changesources").boxed()
    }

    fn builds_started_since(
        &self,
        masterid: i64,
        since_secs: i64,
    ) -> BoxFuture<'_, RestResult<Vec<Build>>> {
        async move {
            // Buildbot's data API filters on any field of a build, `__ge` included, in its SQL
            // query (`buildbot/data/builds.py` maps both fields to columns).
            let path = format!("builds?masterid={masterid}&started_at__ge={since_secs}");
            let all: Vec<Build> = self.list(&path, "builds").await?;
            // Filtered here too: a Buildbot that ignored a filter must not widen the answer.
            Ok(all
                .into_iter()
                .filter(|b| b.masterid == Some(masterid))
                .filter(|b| b.started_at.is_some_and(|t| t >= since_secs))
                .collect())
        }
        .boxed()
    }

    fn build_complete_at(&self, buildid: i64) -> BoxFuture<'_, RestResult<Option<f64>>> {
        async move {
            let body = self.get_json(&format!("builds/{buildid}")).await?;
            Ok(body["builds"][0]["complete_at"].as_f64())
        }
        .boxed()
    }

    fn control_worker<'a>(
        &'a self,
        worker: WorkerRef<'a>,
        action: WorkerAction,
        reason: &'a str,
    ) -> BoxFuture<'a, RestResult<()>> {
        self.control(worker, action, reason).boxed()
    }

    fn login_problem(&self) -> BoxFuture<'_, Option<LoginProblem>> {
        self.session.login_problem().boxed()
    }
}
