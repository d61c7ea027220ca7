//! Prometheus metrics, served as text at /metrics.

use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};

/// The ledger's metrics and their registry.
#[derive(Clone)]
pub(crate) struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    appended: IntCounter,
    batches: HistogramVec,
}

impl Metrics {
    /// Creates and registers every metric.
    pub(crate) fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new_custom(Some("custody_ledger".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "Requests by route and status"),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "Request latency by route")
                .buckets(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
                ]),
            &["route"],
        )?;
        let appended = IntCounter::new("entries_submitted_total", "Envelopes sequenced")?;
        let batches = HistogramVec::new(
            HistogramOpts::new("append_batch_seconds", "Append transaction time").buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ]),
            &["size_class"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(appended.clone()))?;
        registry.register(Box::new(batches.clone()))?;
        Ok(Metrics {
            registry,
            requests,
            latency,
            appended,
            batches,
        })
    }

    /// Records one finished request.
    pub(crate) fn observe_request(
        &self,
        method: &str,
        route: &str,
        status: u16,
        elapsed: Duration,
    ) {
        self.requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[route])
            .observe(elapsed.as_secs_f64());
    }

    /// Records one append transaction of `entries` envelopes.
    pub(crate) fn observe_batch(&self, entries: usize, elapsed: Duration) {
        self.appended.inc_by(entries as u64);
        let class = match entries {
            0..=1 => "1",
            2..=16 => "2-16",
            17..=128 => "17-128",
            _ => "129+",
        };
        self.batches
            .with_label_values(&[class])
            .observe(elapsed.as_secs_f64());
    }

    /// The Prometheus text exposition.
    pub(crate) fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}
