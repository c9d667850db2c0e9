//! `master.rest_url` for `bbctl-agent init`: read from master.cfg (`buildbotURL` first, else
//! the www port), else guessed as Buildbot's usual port and said so; with the master running,
//! confirmed by a `GET api/v2/masters` of its www.

use std::time::Duration;

use super::init::{DEFAULT_WWW_PORT, MasterProcess, Setting, sure};
use super::master_cfg::{CfgFacts, Lookup, WwwPort};
use crate::buildbot::{BuildbotApi, RestClient, RestError};

/// How long the running master's www gets to answer `GET api/v2/masters`.
const REST_PROBE_TIMEOUT: Duration = Duration::from_secs(3);

pub(super) fn rest_url_setting(
    facts: Result<&CfgFacts, &String>,
    cfg_name: &str,
) -> Setting<String> {
    let guess = |why: String| Setting {
        value: format!("http://127.0.0.1:{DEFAULT_WWW_PORT}/"),
        how: format!("guessed: {DEFAULT_WWW_PORT} is Buildbot's usual www port ({why})"),
        check: Some(format!(
            "confirm the port of the master's www ({why}): rest_url is where the agent reads \
             /api/v2"
        )),
    };
    let facts = match facts {
        Ok(f) => f,
        Err(e) => return guess(e.clone()),
    };
    if let Lookup::Found { value, form } = &facts.buildbot_url
        && let Some(url) = http_url(value)
    {
        let mut setting = sure(url, format!("from {cfg_name}: {form}"));
        if let (Lookup::Found { value: www, .. }, Ok(u)) =
            (&facts.www, reqwest::Url::parse(&setting.value))
            && u.port_or_known_default() != Some(www.port)
        {
            setting.check = Some(format!(
                "buildbotURL names port {}, c['www'] port {}: if a proxy sits in front of the \
                 www, point rest_url at the www itself",
                u.port_or_known_default().unwrap_or(0),
                www.port
            ));
        }
        return setting;
    }
    match &facts.www {
        Lookup::Found { value, form } => sure(www_url(value), format!("from {cfg_name}: {form}")),
        Lookup::Computed(expr) => guess(format!("{cfg_name} computes the www port: `{expr}`")),
        Lookup::Absent => guess(format!("{cfg_name} gives no www port")),
    }
}

/// `url` as a REST base URL (http or https, ending with `/`).
fn http_url(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return None;
    }
    let mut url = parsed.to_string();
    if !url.ends_with('/') {
        url.push('/');
    }
    Some(url)
}

fn www_url(www: &WwwPort) -> String {
    let scheme = if www.tls { "https" } else { "http" };
    let host = match www.interface.as_deref() {
        None | Some("" | "0.0.0.0" | "::" | "[::]") => "127.0.0.1".to_owned(),
        Some(h) if h.contains(':') && !h.starts_with('[') => format!("[{h}]"),
        Some(h) => h.to_owned(),
    };
    format!("{scheme}://{host}:{}/", www.port)
}

/// With the master running, asks its www `GET api/v2/masters` (anonymously, briefly).
pub(super) async fn confirm_rest_url(
    setting: &mut Setting<String>,
    process: &MasterProcess,
    notes: &mut Vec<String>,
) {
    let MasterProcess::Running(view) = process else {
        match &mut setting.check {
            Some(check) => check.push_str("; the master is not running, so it was not tried"),
            None => notes.push(
                "master.rest_url was not tried: the master is not running (`bbctl-agent \
                 check-config FILE` tries it once it runs)"
                    .into(),
            ),
        }
        return;
    };
    let client = RestClient::new(&setting.value, None);
    match tokio::time::timeout(REST_PROBE_TIMEOUT, client.masters()).await {
        Ok(Ok(_)) => {
            setting
                .how
                .push_str("; the running master answered GET api/v2/masters there");
            setting.check = None;
        }
        Ok(Err(RestError::Refused { status, .. })) => {
            setting.how.push_str(&format!(
                "; the running master's www answered GET api/v2/masters with {status}"
            ));
            setting.check = Some(
                "the www refuses anonymous reads: give the agent a www user in \
                 [master.rest_auth] (docs/agent-config.md)"
                    .into(),
            );
        }
        Ok(Err(e)) => {
            let why = match e {
                RestError::Transport { message, .. } => {
                    super::check_probes::connect_error(&setting.value)
                        .await
                        .unwrap_or(message)
                }
                other => other.to_string(),
            };
            setting.check = Some(format!(
                "the running master (pid {}) did not answer GET api/v2/masters there: {why}",
                view.pid
            ))
        }
        Err(_) => {
            setting.check = Some(format!(
                "the running master (pid {}) did not answer GET api/v2/masters there within {} s",
                view.pid,
                REST_PROBE_TIMEOUT.as_secs()
            ))
        }
    }
}
