//! Prometheus metrics: HTTP request counts and latency per route (a middleware), plus gauges
//! sampled when `/metrics` is scraped ([`Gauges::sample`] reads them from the [`Sources`] the
//! handler hands over, [`render`] writes the text). It knows no application state: the
//! middleware takes the [`Metrics`] registry alone.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use bbctl_api::MasterState;

use crate::buildbot::BuildbotApi;
use crate::buildbot::Snapshot;
use crate::events::EventHub;
use crate::master::{MasterRuntime, identity};
use crate::topology::{Topology, convert};

/// Latency histogram bucket bounds, seconds.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0];

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<(String, String), Histogram>>,
}

#[derive(Default, Clone)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    pub fn observe(&self, method: &str, route: &str, status: u16, secs: f64) {
        let mut req = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        *req.entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        drop(req);
        let mut lat = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let h = lat
            .entry((method.to_owned(), route.to_owned()))
            .or_default();
        h.count += 1;
        h.sum += secs;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.buckets[i] += 1;
            }
        }
    }

    /// The HTTP metrics in Prometheus text format.
    pub fn render_http(&self, out: &mut String) {
        out.push_str("# HELP bbctl_agent_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE bbctl_agent_http_requests_total counter\n");
        for ((method, route, status), n) in self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "bbctl_agent_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str("# HELP bbctl_agent_http_request_duration_seconds HTTP request latency.\n");
        out.push_str("# TYPE bbctl_agent_http_request_duration_seconds histogram\n");
        for ((method, route), h) in self
            .latency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let labels = format!("method=\"{method}\",route=\"{route}\"");
            for (bound, n) in BUCKETS.iter().zip(h.buckets) {
                let _ = writeln!(
                    out,
                    "bbctl_agent_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "bbctl_agent_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "bbctl_agent_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "bbctl_agent_http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
    }
}

/// Writes one gauge with its HELP and TYPE lines.
pub fn gauge(out: &mut String, name: &str, help: &str, value: f64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
    );
}

/// The gauges of one scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct Gauges {
    pub master_state: MasterState,
    pub master_up: bool,
    pub builds_running: usize,
    pub workers_connected: usize,
    pub wamp_connected: bool,
    pub draining: bool,
    pub events_published: u64,
}

/// Every state `bbctl_agent_master_state` has a series for.
const MASTER_STATES: [MasterState; 8] = [
    MasterState::Stopped,
    MasterState::Starting,
    MasterState::Running,
    MasterState::Draining,
    MasterState::Cordoned,
    MasterState::Drained,
    MasterState::Stopping,
    MasterState::Unhealthy,
];

/// Where the gauges are read from.
pub struct Sources<'a> {
    pub topology: &'a Topology,
    pub rest: &'a dyn BuildbotApi,
    /// The master's basedir (which Buildbot row is this master).
    pub basedir: &'a Path,
    pub runtime: &'a MasterRuntime,
    pub hub: &'a EventHub,
    /// A drain holds the master out of service.
    pub draining: bool,
}

impl Gauges {
    /// Reads the gauges now: the process, one REST snapshot (zeros when it fails), the event
    /// hub and the drain.
    pub async fn sample(src: Sources<'_>) -> Self {
        let proc = src.topology.process();
        let snap = Snapshot::fetch(src.rest).await.ok();
        let row = snap
            .as_ref()
            .and_then(|s| identity::find(&s.masters, src.basedir, &src.runtime.identity).cloned());
        let (builds_running, workers_connected) = match (&snap, &row) {
            (Some(s), Some(m)) => (
                convert::builds_of(s, m.masterid).len(),
                convert::workers_of(s, m.masterid).len(),
            ),
            _ => (0, 0),
        };
        Gauges {
            master_state: src.topology.master_state(proc.running, row.as_ref()),
            master_up: proc.running,
            builds_running,
            workers_connected,
            wamp_connected: src.hub.wamp_connected(),
            draining: src.draining,
            events_published: src.hub.last_seq(),
        }
    }
}

/// The `/metrics` text: the gauges, then the HTTP metrics.
pub fn render(g: &Gauges, http: &Metrics) -> String {
    let mut out = String::new();
    out.push_str("# HELP bbctl_agent_master_state 1 for the master's current state.\n");
    out.push_str("# TYPE bbctl_agent_master_state gauge\n");
    for s in MASTER_STATES {
        let name = serde_json::to_value(s).unwrap_or_default();
        let _ = writeln!(
            out,
            "bbctl_agent_master_state{{state={name}}} {}",
            u8::from(s == g.master_state)
        );
    }
    let flag = |b: bool| f64::from(u8::from(b));
    gauge(
        &mut out,
        "bbctl_agent_master_up",
        "1 when the master process runs.",
        flag(g.master_up),
    );
    gauge(
        &mut out,
        "bbctl_agent_builds_running",
        "Builds running on this master.",
        g.builds_running as f64,
    );
    gauge(
        &mut out,
        "bbctl_agent_workers_connected",
        "Workers connected to this master.",
        g.workers_connected as f64,
    );
    gauge(
        &mut out,
        "bbctl_agent_wamp_connected",
        "1 when events come from the WAMP router, 0 when polling.",
        flag(g.wamp_connected),
    );
    gauge(
        &mut out,
        "bbctl_agent_draining",
        "1 while a drain holds this master out of service.",
        flag(g.draining),
    );
    gauge(
        &mut out,
        "bbctl_agent_events_published",
        "Events published since start.",
        g.events_published as f64,
    );
    http.render_http(&mut out);
    out
}

/// Middleware: counts and times every request by its matched route (not the raw path, so
/// `/v1/configs/{sha256}` is one series).
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    metrics.observe(
        &method,
        &route,
        resp.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_histogram() {
        let m = Metrics::default();
        m.observe("GET", "/v1/master", 200, 0.02);
        m.observe("GET", "/v1/master", 200, 2.0);
        let mut out = String::new();
        m.render_http(&mut out);
        assert!(out.contains(
            "bbctl_agent_http_requests_total{method=\"GET\",route=\"/v1/master\",status=\"200\"} 2"
        ));
        assert!(out.contains("route=\"/v1/master\",le=\"0.025\"} 1"));
        assert!(out.contains("route=\"/v1/master\",le=\"+Inf\"} 2"));
    }

    #[test]
    fn renders_one_series_per_master_state_and_the_gauges() {
        let g = Gauges {
            master_state: MasterState::Draining,
            master_up: true,
            builds_running: 2,
            workers_connected: 3,
            wamp_connected: false,
            draining: true,
            events_published: 41,
        };
        let out = render(&g, &Metrics::default());
        assert!(out.contains("bbctl_agent_master_state{state=\"draining\"} 1\n"));
        assert!(out.contains("bbctl_agent_master_state{state=\"running\"} 0\n"));
        assert!(out.contains("# TYPE bbctl_agent_master_up gauge\nbbctl_agent_master_up 1\n"));
        assert!(out.contains("bbctl_agent_builds_running 2\n"));
        assert!(out.contains("bbctl_agent_workers_connected 3\n"));
        assert!(out.contains("bbctl_agent_wamp_connected 0\n"));
        assert!(out.contains("bbctl_agent_events_published 41\n"));
    }
}
