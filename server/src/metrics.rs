//! Prometheus metrics: HTTP request counts and latency per route (a middleware), plus gauges
//! sampled when `/metrics` is scraped (rendered by `crate::handlers::health`).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;

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

/// Middleware: counts and times every request by its matched route (not the raw path, so
/// `/v1/configs/{sha256}` is one series).
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    state.metrics().observe(
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
}
