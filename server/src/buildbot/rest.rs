//! The reqwest implementation of [`BuildbotApi`]: one client, short timeouts, Buildbot's
//! `{"<plural>": [...], "meta": {...}}` envelope unwrapped.

use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde::de::DeserializeOwned;

use super::{
    Build, BuildRequest, BuildbotApi, Builder, ClusteredService, Master, RestError, RestResult,
    Worker,
};

#[derive(Clone)]
pub struct RestClient {
    http: reqwest::Client,
    /// `<rest_url>api/v2/`.
    api: String,
}

/// The HTTP client every call of the agent to its master's REST API goes through: short timeouts
/// (a master that does not answer within seconds is reported, not waited for) and our user agent.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .connect_timeout(Duration::from_secs(2))
        .user_agent(concat!("bbctl-agent/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("static reqwest configuration is valid")
}

impl RestClient {
    /// `rest_url` is the master's www base URL ending with `/`.
    pub fn new(rest_url: &str) -> Self {
        RestClient {
            http: http_client(),
            api: format!("{rest_url}api/v2/"),
        }
    }

    async fn list<T: DeserializeOwned>(&self, path: &str, field: &str) -> RestResult<Vec<T>> {
        let url = format!("{}{path}", self.api);
        let transport = |e: reqwest::Error| RestError::Transport {
            url: url.clone(),
            message: e.without_url().to_string(),
        };
        let resp = self.http.get(&url).send().await.map_err(transport)?;
        if !resp.status().is_success() {
            return Err(RestError::Status {
                url,
                status: resp.status().as_u16(),
            });
        }
        let mut body: serde_json::Value = resp.json().await.map_err(transport)?;
        let items = body
            .get_mut(field)
            .map(serde_json::Value::take)
            .ok_or_else(|| RestError::Decode {
                url: url.clone(),
                message: format!("no `{field}`"),
            })?;
        serde_json::from_value(items).map_err(|e| RestError::Decode {
            url,
            message: e.to_string(),
        })
    }
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

    fn schedulers(&self) -> BoxFuture<'_, RestResult<Vec<ClusteredService>>> {
        self.list("schedulers", "schedulers").boxed()
    }

    fn changesources(&self) -> BoxFuture<'_, RestResult<Vec<ClusteredService>>> {
        self.list("changesources", "changesources").boxed()
    }
}
