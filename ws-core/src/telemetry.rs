//! What the runtime counts, as [`Stats`] and through the [`metrics`] facade.
//!
//! No exporter is forced on users: install any `metrics` recorder (for
//! example `metrics-exporter-prometheus`) **before** creating the
//! [`Manager`](crate::Manager), whose metric handles are registered when it
//! is built. Every metric carries the label `protocol` (the enum's name).
//!
//! | metric | kind | meaning |
//! |--------|------|---------|
//! | `ws_connections` | gauge | connections registered now |
//! | `ws_connections_admitted_total` | counter | connects admitted (101 sent) |
//! | `ws_connections_rejected_total` | counter | connects refused with 503 (cap, per-user cap, shutdown) |
//! | `ws_connections_evicted_total` | counter | connections closed because their send queue was full |
//! | `ws_messages_queued_total` | counter | frames queued for sending |
//! | `ws_messages_dropped_total` | counter | frames discarded by `drop_newest`/`drop_oldest` |
//! | `ws_messages_rate_limited_total` | counter | inbound messages over the rate limit |
//! | `ws_messages_invalid_total` | counter | inbound messages that did not decode |
//! | `ws_messages_packed_total` | counter | sends encoded as MessagePack: once per send however many MessagePack connections receive it (see [`Codec`](crate::Codec)) |
//! | `ws_send_queue_depth` | histogram | frames a writer found queued when it woke |
//! | `ws_broadcast_recipients` | histogram | recipients of each send |
//! | `ws_broadcast_seconds` | histogram | time to encode and enqueue one send |
//!
//! With a cluster backend ([`Backend`](crate::Backend)), also:
//!
//! | metric | kind | meaning |
//! |--------|------|---------|
//! | `ws_backend_up` | gauge | 1 while connected and subscribed to every channel needed, else 0 |
//! | `ws_backend_published_total` | counter | messages published for other nodes |
//! | `ws_backend_publish_failed_total` | counter | messages that could not be published (down, queue full, failed) |
//! | `ws_backend_received_total` | counter | messages received from other nodes |
//! | `ws_backend_reconnects_total` | counter | connections to the backend lost and restored |
//! | `ws_backend_channels` | gauge | channels subscribed to now |
//! | `ws_backend_lag_seconds` | histogram | publish-to-delivery time of messages from other nodes (by the nodes' clocks) |

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram};

use crate::delivery::Delivery;

/// The metric names, for dashboards and tests.
pub mod metric {
    /// Gauge: connections registered now.
    pub const CONNECTIONS: &str = "ws_connections";
    /// Counter: connects admitted.
    pub const ADMITTED: &str = "ws_connections_admitted_total";
    /// Counter: connects refused with 503.
    pub const REJECTED: &str = "ws_connections_rejected_total";
    /// Counter: connections closed because their send queue was full.
    pub const EVICTED: &str = "ws_connections_evicted_total";
    /// Counter: frames queued.
    pub const QUEUED: &str = "ws_messages_queued_total";
    /// Counter: frames discarded by the overflow policy.
    pub const DROPPED: &str = "ws_messages_dropped_total";
    /// Counter: inbound messages over the rate limit.
    pub const RATE_LIMITED: &str = "ws_messages_rate_limited_total";
    /// Counter: inbound messages that did not decode.
    pub const INVALID: &str = "ws_messages_invalid_total";
    /// Counter: sends encoded as MessagePack, once per send whatever the
    /// number of MessagePack recipients.
    pub const PACKED: &str = "ws_messages_packed_total";
    /// Histogram: frames a writer found queued when it woke.
    pub const QUEUE_DEPTH: &str = "ws_send_queue_depth";
    /// Histogram: recipients of each send.
    pub const BROADCAST_RECIPIENTS: &str = "ws_broadcast_recipients";
    /// Histogram: seconds to encode and enqueue one send.
    pub const BROADCAST_SECONDS: &str = "ws_broadcast_seconds";
    /// Gauge: 1 while the cluster backend is connected and subscribed, else 0.
    pub const BACKEND_UP: &str = "ws_backend_up";
    /// Counter: messages published for other nodes.
    pub const BACKEND_PUBLISHED: &str = "ws_backend_published_total";
    /// Counter: messages that could not be published for other nodes.
    pub const BACKEND_PUBLISH_FAILED: &str = "ws_backend_publish_failed_total";
    /// Counter: messages received from other nodes.
    pub const BACKEND_RECEIVED: &str = "ws_backend_received_total";
    /// Counter: connections to the backend lost and restored.
    pub const BACKEND_RECONNECTS: &str = "ws_backend_reconnects_total";
    /// Gauge: channels between nodes subscribed to now.
    pub const BACKEND_CHANNELS: &str = "ws_backend_channels";
    /// Histogram: seconds from publish on one node to delivery on another.
    pub const BACKEND_LAG_SECONDS: &str = "ws_backend_lag_seconds";
}

/// Counters of a [`Manager`](crate::Manager), read with
/// [`Manager::stats`](crate::Manager::stats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Connections registered now.
    pub connections: usize,
    /// Connects admitted.
    pub admitted: u64,
    /// Connects refused with 503 (connection cap, per-user cap, shutdown).
    pub rejected: u64,
    /// Frames queued.
    pub queued: u64,
    /// Frames discarded by `drop_newest` or `drop_oldest`.
    pub dropped: u64,
    /// Connections closed because their queue was full.
    pub evicted: u64,
    /// Inbound messages over the rate limit.
    pub rate_limited: u64,
    /// Inbound messages that did not decode.
    pub invalid: u64,
    /// Sends and broadcasts encoded as MessagePack: once per send, however
    /// many MessagePack connections receive it, and never for a send that
    /// reaches none. Frames a connection alone is sent (errors, replies,
    /// a history replay) are not counted.
    pub packed: u64,
}

/// One counter, kept locally for [`Stats`] and forwarded to `metrics`.
struct Tally {
    local: AtomicU64,
    metric: Counter,
}

impl Tally {
    fn new(name: &'static str, protocol: &'static str) -> Self {
        Self {
            local: AtomicU64::new(0),
            metric: metrics::counter!(name, "protocol" => protocol),
        }
    }

    fn add(&self, n: u64) {
        if n > 0 {
            self.local.fetch_add(n, Ordering::Relaxed);
            self.metric.increment(n);
        }
    }

    fn get(&self) -> u64 {
        self.local.load(Ordering::Relaxed)
    }
}

/// `fn admitted(&self)` and so on: counts one more of what the tally of
/// that name counts.
macro_rules! one_more {
    ($($tally:ident),+) => {$(
        pub(crate) fn $tally(&self) {
            self.$tally.add(1);
        }
    )+};
}

pub(crate) struct Counters {
    admitted: Tally,
    rejected: Tally,
    queued: Tally,
    dropped: Tally,
    evicted: Tally,
    rate_limited: Tally,
    invalid: Tally,
    packed: Tally,
    connections: Gauge,
    queue_depth: Histogram,
    recipients: Histogram,
    broadcast_seconds: Histogram,
}

impl Counters {
    pub(crate) fn new(protocol: &'static str) -> Self {
        let tally = |name| Tally::new(name, protocol);
        Self {
            admitted: tally(metric::ADMITTED),
            rejected: tally(metric::REJECTED),
            queued: tally(metric::QUEUED),
            dropped: tally(metric::DROPPED),
            evicted: tally(metric::EVICTED),
            rate_limited: tally(metric::RATE_LIMITED),
            invalid: tally(metric::INVALID),
            packed: tally(metric::PACKED),
            connections: metrics::gauge!(metric::CONNECTIONS, "protocol" => protocol),
            queue_depth: metrics::histogram!(metric::QUEUE_DEPTH, "protocol" => protocol),
            recipients: metrics::histogram!(metric::BROADCAST_RECIPIENTS, "protocol" => protocol),
            broadcast_seconds: metrics::histogram!(metric::BROADCAST_SECONDS, "protocol" => protocol),
        }
    }

    one_more!(admitted, rejected, rate_limited, invalid, packed);

    pub(crate) fn connection_opened(&self) {
        self.connections.increment(1.0);
    }

    pub(crate) fn connection_closed(&self) {
        self.connections.decrement(1.0);
    }

    pub(crate) fn queue_depth(&self) -> &Histogram {
        &self.queue_depth
    }

    /// Counts a send: one add per counter per send, not per recipient.
    pub(crate) fn delivered(&self, delivery: &Delivery) {
        self.queued.add(delivery.queued as u64);
        self.dropped.add(delivery.dropped as u64);
        self.evicted.add(delivery.evicted as u64);
    }

    pub(crate) fn broadcast(&self, recipients: usize, took: Duration) {
        self.recipients.record(recipients as f64);
        self.broadcast_seconds.record(took.as_secs_f64());
    }

    pub(crate) fn snapshot(&self, connections: usize) -> Stats {
        Stats {
            connections,
            admitted: self.admitted.get(),
            rejected: self.rejected.get(),
            queued: self.queued.get(),
            dropped: self.dropped.get(),
            evicted: self.evicted.get(),
            rate_limited: self.rate_limited.get(),
            invalid: self.invalid.get(),
            packed: self.packed.get(),
        }
    }
}
