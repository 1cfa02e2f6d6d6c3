//! An engine's health and counters, shared by its tasks and reported as
//! [`BackendStatus`]; and the ids and clocks engines stamp messages with.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use metrics::{Counter, Gauge, Histogram};
use tokio::sync::Notify;

use super::BackendStatus;
use crate::telemetry::metric;

/// What an engine's handle and its tasks share: health and counters.
pub(crate) struct Shared {
    pub(crate) node: u64,
    up: AtomicBool,
    /// Notified when a task sees the connection fail; the task that owns
    /// the subscriptions then reconnects and resubscribes.
    pub(crate) lost: Notify,
    published: AtomicU64,
    failed: AtomicU64,
    received: AtomicU64,
    reconnects: AtomicU64,
    /// `u64::MAX` until a message arrives from another node.
    last_lag_us: AtomicU64,
    metrics: Metrics,
}

struct Metrics {
    up: Gauge,
    published: Counter,
    failed: Counter,
    received: Counter,
    reconnects: Counter,
    channels: Gauge,
    lag: Histogram,
}

impl Shared {
    pub(crate) fn new(protocol: &'static str) -> Self {
        let label = ("protocol", protocol);
        Self {
            node: node_id(),
            up: AtomicBool::new(false),
            lost: Notify::new(),
            published: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            received: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            last_lag_us: AtomicU64::new(u64::MAX),
            metrics: Metrics {
                up: metrics::gauge!(metric::BACKEND_UP, label.0 => label.1),
                published: metrics::counter!(metric::BACKEND_PUBLISHED, label.0 => label.1),
                failed: metrics::counter!(metric::BACKEND_PUBLISH_FAILED, label.0 => label.1),
                received: metrics::counter!(metric::BACKEND_RECEIVED, label.0 => label.1),
                reconnects: metrics::counter!(metric::BACKEND_RECONNECTS, label.0 => label.1),
                channels: metrics::gauge!(metric::BACKEND_CHANNELS, label.0 => label.1),
                lag: metrics::histogram!(metric::BACKEND_LAG_SECONDS, label.0 => label.1),
            },
        }
    }

    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Marks the backend up or down; a return to up after a loss counts as
    /// a reconnect.
    pub(crate) fn set_up(&self, up: bool, after_loss: bool) {
        let was = self.up.swap(up, Ordering::AcqRel);
        if was != up {
            self.metrics.up.set(if up { 1.0 } else { 0.0 });
            if up && after_loss {
                self.reconnects.fetch_add(1, Ordering::Relaxed);
                self.metrics.reconnects.increment(1);
            }
        }
    }

    pub(crate) fn published(&self, n: u64) {
        self.published.fetch_add(n, Ordering::Relaxed);
        self.metrics.published.increment(n);
    }

    pub(crate) fn publish_failed(&self, n: u64) {
        self.failed.fetch_add(n, Ordering::Relaxed);
        self.metrics.failed.increment(n);
    }

    /// A message from another node, sent at `sent_at` (µs since the epoch).
    pub(crate) fn received(&self, sent_at: u64) {
        self.received.fetch_add(1, Ordering::Relaxed);
        self.metrics.received.increment(1);
        let lag = now_micros().saturating_sub(sent_at);
        self.last_lag_us.store(lag, Ordering::Relaxed);
        self.metrics.lag.record(lag as f64 / 1e6);
    }

    pub(crate) fn channels(&self, n: usize) {
        self.metrics.channels.set(n as f64);
    }

    /// The status an engine reports, with its own `sharded` and `channels`.
    pub(crate) fn status(&self, sharded: Option<bool>, channels: usize) -> BackendStatus {
        let lag = self.last_lag_us.load(Ordering::Relaxed);
        BackendStatus {
            node: self.node,
            up: self.is_up(),
            sharded,
            channels,
            published: self.published.load(Ordering::Relaxed),
            publish_failed: self.failed.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            lag: (lag != u64::MAX).then(|| Duration::from_micros(lag)),
        }
    }
}

/// Microseconds since the Unix epoch.
pub(crate) fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A random id for this node: std's hasher keys are random per process and
/// distinct per instance, mixed with the time for good measure. Never 0.
pub(crate) fn node_id() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(now_micros());
    hasher.write_u32(std::process::id());
    hasher.finish().max(1)
}
