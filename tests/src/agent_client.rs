//! A small blocking client of the bbctl agent API (`/v1`, bearer token) and of its
//! server-sent-events stream, for the end-to-end tests of the agent and the CLI.
//!
//! Answers are decoded into the wire types of `bbctl-api`, so the tests check the contract as
//! well as the values. The SSE reader runs on its own thread and stamps every event with the
//! wall-clock time it arrived, which is what the latency checks compare against Buildbot's own
//! timestamps.

use std::io::{BufRead, BufReader};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use bbctl_api::Event;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// One agent, reached with the fleet's token.
#[derive(Debug, Clone)]
pub struct AgentClient {
    base: String,
    token: String,
    http: reqwest::blocking::Client,
}

impl AgentClient {
    /// `url` is the agent's base URL (`http://127.0.0.1:P/`).
    pub fn new(url: &str, token: &str) -> Self {
        let http = reqwest::blocking::Client::builder()
            // Lifecycle calls (start, graceful stop) wait for the master.
            .timeout(Duration::from_secs(120))
            .build()
            .expect("a reqwest client builds");
        Self {
            base: url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            http,
        }
    }

    /// Like [`AgentClient::new`] for an `https://` agent, trusting only the CA certificate in
    /// `ca_file` (PEM), e.g. the fleet CA of `scripts/fleet up --hosts`.
    pub fn with_ca(url: &str, token: &str, ca_file: &std::path::Path) -> Result<Self> {
        let pem = std::fs::read(ca_file).with_context(|| format!("read {}", ca_file.display()))?;
        let ca = reqwest::Certificate::from_pem(&pem)
            .with_context(|| format!("{} is not a PEM certificate", ca_file.display()))?;
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(120))
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .build()
            .context("build a reqwest client")?;
        Ok(Self {
            base: url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            http,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Any request with the token; returns the status and the body as JSON (`null` if empty).
    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value)> {
        let url = self.url(path);
        let mut req = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().with_context(|| format!("{method} {url}"))?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .with_context(|| format!("{method} {url}: body"))?;
        let json = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .with_context(|| format!("{method} {url}: {status}, not JSON: {text}"))?
        };
        Ok((status, json))
    }

    /// `GET path`, which must answer 2xx, decoded into `T`.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let (status, body) = self.request(reqwest::Method::GET, path, None)?;
        if !(200..300).contains(&status) {
            bail!("GET {}: {status}: {body}", self.url(path));
        }
        serde_json::from_value(body.clone())
            .with_context(|| format!("GET {}: unexpected shape: {body}", self.url(path)))
    }

    /// `POST path` with a JSON body, which must answer 2xx, decoded into `T`.
    pub fn post<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T> {
        let (status, answer) = self.request(reqwest::Method::POST, path, Some(body))?;
        if !(200..300).contains(&status) {
            bail!("POST {}: {status}: {answer}", self.url(path));
        }
        serde_json::from_value(answer.clone())
            .with_context(|| format!("POST {}: unexpected shape: {answer}", self.url(path)))
    }

    /// An open endpoint (`/healthz`, `/readyz`): status and body.
    pub fn open_get(&self, path: &str) -> Result<(u16, Value)> {
        let url = self.url(path);
        let resp = self
            .http
            .get(&url)
            .send()
            .with_context(|| format!("GET {url}"))?;
        let status = resp.status().as_u16();
        Ok((
            status,
            resp.json()
                .with_context(|| format!("GET {url}: not JSON"))?,
        ))
    }

    /// Subscribes to `GET /v1/events` (live events only, from now on).
    pub fn events(&self) -> Result<EventStream> {
        EventStream::open(&self.url("/v1/events"), &self.token)
    }
}

/// An event and the wall-clock time (epoch seconds) it arrived here.
#[derive(Debug, Clone)]
pub struct Arrived {
    pub event: Event,
    pub arrived_at: f64,
}

/// The agent's SSE stream, read on a background thread. The thread ends when the agent closes
/// the stream or the receiver is dropped (at the next event or keep-alive).
pub struct EventStream {
    rx: Receiver<Arrived>,
    /// Everything received so far by [`EventStream::wait_for`], in order.
    pub seen: Vec<Arrived>,
}

/// Now, as epoch seconds with fractions.
pub fn epoch_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs_f64()
}

impl EventStream {
    fn open(url: &str, token: &str) -> Result<Self> {
        // No overall timeout: the stream stays open; the agent sends a keep-alive every 15 s.
        let http = reqwest::blocking::Client::builder()
            .timeout(None)
            .build()
            .expect("a reqwest client builds");
        let resp = http
            .get(url)
            .bearer_auth(token)
            .send()
            .with_context(|| format!("GET {url}"))?;
        if !resp.status().is_success() {
            bail!("GET {url}: {}", resp.status());
        }
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let reader = BufReader::new(resp);
            for line in reader.lines() {
                let Ok(line) = line else { return };
                let Some(data) = line.strip_prefix("data:") else {
                    continue;
                };
                let arrived_at = epoch_now();
                match serde_json::from_str::<Event>(data.trim_start()) {
                    Ok(event) => {
                        if tx.send(Arrived { event, arrived_at }).is_err() {
                            return;
                        }
                    }
                    Err(e) => eprintln!("warning: undecodable SSE data {data:?}: {e}"),
                }
            }
        });
        Ok(Self {
            rx,
            seen: Vec::new(),
        })
    }

    /// Waits up to `timeout` for an event matching `pred` (events before it are kept in `seen`).
    pub fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        mut pred: impl FnMut(&Event) -> bool,
    ) -> Result<Arrived> {
        if let Some(hit) = self.seen.iter().find(|a| pred(&a.event)) {
            return Ok(hit.clone());
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(arrived) => {
                    self.seen.push(arrived.clone());
                    if pred(&arrived.event) {
                        return Ok(arrived);
                    }
                }
                Err(RecvTimeoutError::Timeout) => bail!(
                    "timed out after {timeout:?} waiting for {what}; events seen: {:#?}",
                    self.seen
                        .iter()
                        .map(|a| format!("{} {} {}", a.event.kind, a.event.source, a.event.summary))
                        .collect::<Vec<_>>()
                ),
                Err(RecvTimeoutError::Disconnected) => {
                    bail!("the event stream ended while waiting for {what}")
                }
            }
        }
    }
}
