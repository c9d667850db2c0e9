//! The one HTTP client for the agent API: built once (user agent, API version header,
//! timeouts), one method per endpoint, errors classified in [`error`]. Every call that changes
//! something says who asks (`X-Bbctl-Requested-By`, [`crate::operator`]), for the agent's
//! operations and audit log.

mod error;
mod fleet;
mod sse;

use std::time::Duration;

use bbctl_api::{
    ActivateRequest, BuildbotDbInfo, BuildbotDbOp, CheckConfigResult, ConfigVersion,
    DbBackupRequest, DbRestoreRequest, DbUpgradeRequest, DrainChange, DrainRequest, DrainStatus,
    Event, FleetView, Health, Lease, LeaseRequest, MasterInfo, OperationRequest, OperationResult,
    PutUpgradeRequest, RoutingInfo, StageConfigRequest, StartRequest, StopRequest, UpgradeEntry,
    UpgradeRecord, VersionInfo,
};
use futures_util::Stream;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use error::ApiError;
pub use fleet::Fence;

use crate::secret::Secret;

/// The environment variable holding the token for `--agent` targets (read by the inventory,
/// named in the client's unauthorized message).
pub const TOKEN_ENV: &str = "BBCTL_TOKEN";

/// Connecting to an agent gives up after this long: an agent on loopback or a LAN answers the
/// handshake in milliseconds, so a longer wait only delays the `unreachable` row.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Builds the shared reqwest client. Idle connections are not kept: a fan-out talks to each
/// agent once, and keeping a thousand sockets open would only cost file descriptors.
/// `https://` agents are verified against the built-in (webpki) roots.
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    http_client_with_ca(None)
}

/// Like [`http_client`], but with `ca_file` (PEM, one or more CA certificates) as the only
/// trusted roots. An unreadable file or one without a certificate is a usage error (exit 2).
pub fn http_client_with_ca(ca_file: Option<&std::path::Path>) -> anyhow::Result<reqwest::Client> {
    use anyhow::Context as _;
    let mut builder = reqwest::Client::builder();
    if let Some(path) = ca_file {
        let usage = |why: String| CaFileError {
            path: path.to_path_buf(),
            why,
        };
        let pem = std::fs::read(path).map_err(|e| usage(format!("cannot read: {e}")))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| usage(format!("not PEM certificates: {e}")))?;
        if certs.is_empty() {
            return Err(usage("no PEM certificate found".into()).into());
        }
        builder = builder.tls_built_in_root_certs(false);
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "bbctl-api-version",
        reqwest::header::HeaderValue::from_static(bbctl_api::API_VERSION),
    );
    builder
        .user_agent(concat!("bbctl/", env!("CARGO_PKG_VERSION")))
        .default_headers(headers)
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_max_idle_per_host(0)
        .build()
        .context("failed to build the HTTP client")
}

/// A CA file (`--ca-file`, `$BBCTL_CA_FILE`, `ca_file`) that cannot be used: a usage error.
#[derive(Debug, thiserror::Error)]
#[error("CA file {}: {why}", path.display())]
pub struct CaFileError {
    pub path: std::path::PathBuf,
    pub why: String,
}

/// The operator as the `X-Bbctl-Requested-By` header says it ([`crate::operator`]); `None` when
/// the name cannot be a header value (then the agent records no actor, as before).
fn requested_by_header() -> Option<reqwest::header::HeaderValue> {
    reqwest::header::HeaderValue::from_str(crate::operator::requested_by()).ok()
}

/// A client bound to one agent.
#[derive(Debug, Clone)]
pub struct AgentClient {
    name: String,
    base: reqwest::Url,
    token: Secret,
    timeout: Duration,
    http: reqwest::Client,
    fence: Fence,
}

impl AgentClient {
    pub fn new(
        http: reqwest::Client,
        name: String,
        base: reqwest::Url,
        token: Secret,
        timeout: Duration,
    ) -> Self {
        AgentClient {
            name,
            base,
            token,
            timeout,
            http,
            fence: Fence::default(),
        }
    }

    /// This client with `fence`: its mutating calls carry the lease epoch the cell holds.
    pub fn with_fence(mut self, fence: Fence) -> AgentClient {
        self.fence = fence;
        self
    }

    /// The agent's name as the operator knows it (inventory name, or the URL for `--agent`).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn url(&self) -> &reqwest::Url {
        &self.base
    }

    pub async fn version(&self) -> Result<VersionInfo, ApiError> {
        self.call(reqwest::Method::GET, "/v1/version", None::<&()>)
            .await
    }

    pub async fn master(&self) -> Result<MasterInfo, ApiError> {
        self.call(reqwest::Method::GET, "/v1/master", None::<&()>)
            .await
    }

    /// What the master did since `since` (unix seconds): its builds and its log's signals.
    pub async fn master_analysis(&self, since: f64) -> Result<bbctl_api::MasterAnalysis, ApiError> {
        let path = format!("/v1/master/analysis?since={since:.3}");
        self.call(reqwest::Method::GET, &path, None::<&()>).await
    }

    pub async fn fleet(&self) -> Result<FleetView, ApiError> {
        self.call(reqwest::Method::GET, "/v1/fleet", None::<&()>)
            .await
    }

    /// `POST /v1/master/start`: the answer's `routing` says whether the master is back in rotation.
    pub async fn start(&self, req: &StartRequest) -> Result<OperationResult, ApiError> {
        self.call(reqwest::Method::POST, "/v1/master/start", Some(req))
            .await
    }

    pub async fn stop(&self, req: &StopRequest) -> Result<OperationResult, ApiError> {
        self.call(reqwest::Method::POST, "/v1/master/stop", Some(req))
            .await
    }

    pub async fn drain_start(&self, req: &DrainRequest) -> Result<DrainStatus, ApiError> {
        self.call(reqwest::Method::POST, "/v1/drain", Some(req))
            .await
    }

    /// `POST /v1/drain`: the drain, and whether this call started it (202) rather than found
    /// the one that holds the master (200).
    pub async fn drain_begin(&self, req: &DrainRequest) -> Result<(bool, DrainStatus), ApiError> {
        let (status, drain) = self
            .call_with_status(reqwest::Method::POST, "/v1/drain", Some(req))
            .await?;
        Ok((status == 202, drain))
    }

    /// `PATCH /v1/drain`: a new deadline (from now) or force for the drain in progress.
    pub async fn drain_change(&self, req: &DrainChange) -> Result<DrainStatus, ApiError> {
        self.call(reqwest::Method::PATCH, "/v1/drain", Some(req))
            .await
    }

    pub async fn drain_status(&self) -> Result<DrainStatus, ApiError> {
        self.call(reqwest::Method::GET, "/v1/drain", None::<&()>)
            .await
    }

    pub async fn drain_cancel(&self) -> Result<DrainStatus, ApiError> {
        self.call(reqwest::Method::DELETE, "/v1/drain", None::<&()>)
            .await
    }

    /// `GET /v1/routing`: whether the load balancer routes worker connections here.
    pub async fn routing(&self) -> Result<RoutingInfo, ApiError> {
        self.call(reqwest::Method::GET, "/v1/routing", None::<&()>)
            .await
    }

    /// `POST /v1/routing/resume`: the load balancer routes worker connections here again.
    pub async fn routing_resume(&self) -> Result<serde_json::Value, ApiError> {
        self.call(reqwest::Method::POST, "/v1/routing/resume", None::<&()>)
            .await
    }

    /// `POST /v1/workers/{name}/move`: one idle worker moved off this agent's master. The call
    /// waits for the move (the request's timeout, plus a margin).
    pub async fn move_worker(
        &self,
        worker: &str,
        req: &bbctl_api::MoveRequest,
    ) -> Result<bbctl_api::MoveResult, ApiError> {
        let wait = req
            .timeout_secs
            .unwrap_or(30.0)
            .max(self.timeout.as_secs_f64())
            + 15.0;
        self.with_timeout(Duration::from_secs_f64(wait))
            .call(
                reqwest::Method::POST,
                &format!("/v1/workers/{}/move", path_segment(worker)),
                Some(req),
            )
            .await
    }

    /// The same agent with another per-request timeout (for calls that wait: start, checkconfig).
    pub fn with_timeout(&self, timeout: Duration) -> AgentClient {
        AgentClient {
            timeout,
            ..self.clone()
        }
    }

    pub async fn stage_config(&self, req: &StageConfigRequest) -> Result<ConfigVersion, ApiError> {
        self.call(reqwest::Method::POST, "/v1/configs", Some(req))
            .await
    }

    pub async fn checkconfig(&self, sha256: &str) -> Result<CheckConfigResult, ApiError> {
        let path = format!("/v1/configs/{sha256}/checkconfig");
        self.call(reqwest::Method::POST, &path, None::<&()>).await
    }

    pub async fn activate(
        &self,
        sha256: &str,
        req: &ActivateRequest,
    ) -> Result<OperationResult, ApiError> {
        let path = format!("/v1/configs/{sha256}/activate");
        self.call(reqwest::Method::POST, &path, Some(req)).await
    }

    pub async fn reconfig(&self, req: &OperationRequest) -> Result<OperationResult, ApiError> {
        self.call(reqwest::Method::POST, "/v1/master/reconfig", Some(req))
            .await
    }

    /// `GET /readyz`: ready (200) or not (503), with the reasons either way.
    pub async fn readyz(&self) -> Result<(bool, Health), ApiError> {
        let secs = self.timeout.as_secs_f64();
        let response = self
            .http
            .get(self.endpoint("/readyz")?)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|err| ApiError::transport(&self.name, err, secs))?;
        let ready = response.status().is_success();
        let health = response
            .json::<Health>()
            .await
            .map_err(|err| ApiError::transport(&self.name, err, secs))?;
        Ok((ready, health))
    }

    pub async fn lease_put(&self, req: &LeaseRequest) -> Result<Lease, ApiError> {
        self.call(reqwest::Method::PUT, "/v1/lease", Some(req))
            .await
    }

    pub async fn lease_get(&self) -> Result<Lease, ApiError> {
        self.call(reqwest::Method::GET, "/v1/lease", None::<&()>)
            .await
    }

    pub async fn lease_delete(
        &self,
        holder: &str,
        epoch: Option<i64>,
    ) -> Result<serde_json::Value, ApiError> {
        let mut url = self.endpoint("/v1/lease")?;
        url.query_pairs_mut().append_pair("holder", holder);
        if let Some(epoch) = epoch {
            url.query_pairs_mut()
                .append_pair("epoch", &epoch.to_string());
        }
        let path = format!("/v1/lease?{}", url.query().unwrap_or_default());
        self.call(reqwest::Method::DELETE, &path, None::<&()>).await
    }

    pub async fn upgrade_put(
        &self,
        id: &str,
        req: &PutUpgradeRequest,
    ) -> Result<UpgradeRecord, ApiError> {
        let path = format!("/v1/upgrades/{id}");
        self.call(reqwest::Method::PUT, &path, Some(req)).await
    }

    pub async fn upgrade_get(&self, id: &str) -> Result<UpgradeRecord, ApiError> {
        let path = format!("/v1/upgrades/{id}");
        self.call(reqwest::Method::GET, &path, None::<&()>).await
    }

    pub async fn upgrade_list(&self) -> Result<Vec<UpgradeRecord>, ApiError> {
        self.call(reqwest::Method::GET, "/v1/upgrades", None::<&()>)
            .await
    }

    /// `GET /v1/upgrades/{id}/entries`: who wrote each journal entry, under which epoch.
    pub async fn upgrade_entries(&self, id: &str) -> Result<Vec<UpgradeEntry>, ApiError> {
        let path = format!("/v1/upgrades/{id}/entries");
        self.call(reqwest::Method::GET, &path, None::<&()>).await
    }

    /// `GET /v1/buildbot-db`: the Buildbot DB of the agent's master.
    pub async fn buildbot_db(&self) -> Result<BuildbotDbInfo, ApiError> {
        self.call(reqwest::Method::GET, "/v1/buildbot-db", None::<&()>)
            .await
    }

    /// `GET /v1/buildbot-db/ops/{upgrade_id}`: the DB operations of one upgrade, oldest first.
    pub async fn buildbot_db_ops(&self, upgrade_id: &str) -> Result<Vec<BuildbotDbOp>, ApiError> {
        let path = format!("/v1/buildbot-db/ops/{upgrade_id}");
        self.call(reqwest::Method::GET, &path, None::<&()>).await
    }

    /// `POST /v1/buildbot-db/backup`; waits for the backup (give the client a long timeout).
    pub async fn buildbot_db_backup(
        &self,
        req: &DbBackupRequest,
    ) -> Result<BuildbotDbOp, ApiError> {
        self.call(reqwest::Method::POST, "/v1/buildbot-db/backup", Some(req))
            .await
    }

    /// `POST /v1/buildbot-db/upgrade`: one `buildbot upgrade-master`; waits for it.
    pub async fn buildbot_db_upgrade(
        &self,
        req: &DbUpgradeRequest,
    ) -> Result<BuildbotDbOp, ApiError> {
        self.call(reqwest::Method::POST, "/v1/buildbot-db/upgrade", Some(req))
            .await
    }

    /// `POST /v1/buildbot-db/restore`: the upgrade's backup, restored; waits for it.
    pub async fn buildbot_db_restore(
        &self,
        req: &DbRestoreRequest,
    ) -> Result<BuildbotDbOp, ApiError> {
        self.call(reqwest::Method::POST, "/v1/buildbot-db/restore", Some(req))
            .await
    }

    /// The agent's SSE event stream from sequence number `since` (0 replays the backlog).
    /// Only connecting is bounded by a timeout; the stream itself lasts as long as the agent
    /// keeps it open.
    pub async fn events(
        &self,
        since: u64,
    ) -> Result<impl Stream<Item = Result<Event, ApiError>> + use<>, ApiError> {
        let url = self.endpoint(&format!("/v1/events?since={since}"))?;
        let request = self
            .http
            .get(url)
            .bearer_auth(self.token.expose())
            .header(reqwest::header::ACCEPT, "text/event-stream");
        let response = tokio::time::timeout(self.timeout, request.send())
            .await
            .map_err(|_| self.timed_out())?
            .map_err(|err| ApiError::transport(&self.name, err, self.timeout.as_secs_f64()))?;
        let response = self.check(response).await?;
        Ok(sse::events(self.name.clone(), response.bytes_stream()))
    }

    fn endpoint(&self, path: &str) -> Result<reqwest::Url, ApiError> {
        self.base.join(path).map_err(|err| ApiError::Protocol {
            agent: self.name.clone(),
            detail: format!("bad URL {}{path}: {err}", self.base),
        })
    }

    fn timed_out(&self) -> ApiError {
        ApiError::Timeout {
            agent: self.name.clone(),
            secs: self.timeout.as_secs_f64(),
        }
    }

    async fn check(&self, response: reqwest::Response) -> Result<reqwest::Response, ApiError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.bytes().await.unwrap_or_default();
        Err(ApiError::from_answer(&self.name, status.as_u16(), &body))
    }

    async fn call<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ApiError> {
        self.call_with_status(method, path, body)
            .await
            .map(|(_, answer)| answer)
    }

    /// Sends one request: the token, and for a write who asks and the lease's fencing epoch.
    async fn send<B: Serialize + ?Sized>(
        &self,
        method: &reqwest::Method,
        url: &reqwest::Url,
        body: Option<&B>,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let mutating = method != reqwest::Method::GET;
        let mut request = self
            .http
            .request(method.clone(), url.clone())
            .bearer_auth(self.token.expose())
            .timeout(self.timeout);
        if mutating && let Some(who) = requested_by_header() {
            request = request.header(bbctl_api::REQUESTED_BY_HEADER, who);
        }
        if mutating && let Some(fence) = self.fence.header() {
            request = request.header(bbctl_api::LEASE_EPOCH_HEADER, fence);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await
    }

    /// [`Self::call`], with the HTTP status of the success (e.g. 200 vs 202).
    async fn call_with_status<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<(u16, T), ApiError> {
        let secs = self.timeout.as_secs_f64();
        let url = self.endpoint(path)?;
        let response = match self.send(&method, &url, body).await {
            // A read the agent accepted but did not answer in time (a master slow under load)
            // is asked once more before the agent counts as unreachable; writes never are.
            Err(err) if method == reqwest::Method::GET && err.is_timeout() && !err.is_connect() => {
                self.send(&method, &url, body).await
            }
            sent => sent,
        }
        .map_err(|err| ApiError::transport(&self.name, err, secs))?;
        let response = self.check(response).await?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|err| ApiError::transport(&self.name, err, secs))?;
        let answer = serde_json::from_slice(&bytes).map_err(|err| ApiError::Protocol {
            agent: self.name.clone(),
            detail: format!("{path}: {err}"),
        })?;
        Ok((status, answer))
    }
}

/// A client of an in-process agent serving `app` on a free loopback port, named `m1` (unit
/// tests of what the CLI does with an agent's answers).
#[cfg(test)]
pub(crate) async fn test_agent(app: axum::Router) -> AgentClient {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    AgentClient::new(
        reqwest::Client::new(),
        "m1".into(),
        url.parse().unwrap(),
        crate::secret::Secret::new("t"),
        std::time::Duration::from_secs(5),
    )
}

/// `text` as one URL path segment: every byte but unreserved characters percent-encoded.
pub fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::AgentClient;

    /// An agent that answers every call with the `X-Bbctl-Requested-By` header it got (`null`
    /// without one).
    async fn echo_agent() -> AgentClient {
        use axum::http::HeaderMap;
        async fn echo(headers: HeaderMap) -> axum::Json<serde_json::Value> {
            let who = headers
                .get(bbctl_api::REQUESTED_BY_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            axum::Json(serde_json::json!({ "routing": who }))
        }
        let app =
            axum::Router::new().route("/v1/routing/resume", axum::routing::get(echo).post(echo));
        super::test_agent(app).await
    }

    #[tokio::test]
    async fn a_call_that_changes_something_says_who_asks() {
        let client = echo_agent().await;
        let answer = client.routing_resume().await.unwrap();
        assert_eq!(answer["routing"], crate::operator::requested_by());
        let read: serde_json::Value = client
            .call(reqwest::Method::GET, "/v1/routing/resume", None::<&()>)
            .await
            .unwrap();
        assert_eq!(
            read["routing"],
            serde_json::Value::Null,
            "reads carry no actor"
        );
    }

    /// An agent whose first answer to each path comes after 2 s, later ones at once; counts calls.
    async fn slow_once_agent() -> (AgentClient, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let answer = move || {
            let calls = counted.clone();
            async move {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                }
                axum::Json(serde_json::json!({}))
            }
        };
        let app =
            axum::Router::new().route("/v1/x", axum::routing::get(answer.clone()).post(answer));
        let client = super::test_agent(app)
            .await
            .with_timeout(std::time::Duration::from_millis(500));
        (client, calls)
    }

    #[tokio::test]
    async fn a_read_without_an_answer_in_time_is_asked_once_more_a_write_never() {
        use std::sync::atomic::Ordering;
        let (client, calls) = slow_once_agent().await;
        let read: Result<serde_json::Value, _> = client
            .call(reqwest::Method::GET, "/v1/x", None::<&()>)
            .await;
        assert!(read.is_ok(), "{read:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 2);

        let (client, calls) = slow_once_agent().await;
        let write: Result<serde_json::Value, _> = client
            .call(reqwest::Method::POST, "/v1/x", None::<&()>)
            .await;
        let err = write.unwrap_err();
        assert!(err.is_unreachable(), "{err:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
