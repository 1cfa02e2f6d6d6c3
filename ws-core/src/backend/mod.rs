//! Backends: where sends to rooms, users and everyone go beyond this process.
//!
//! The **local** backend is the default and is no code at all: the
//! [registry](crate::registry) in memory is the whole truth, and a manager
//! without a backend pays nothing for this module (one `Option` check per
//! send to a room, a user or everyone).
//!
//! A **cluster** backend, an *engine* ([`Backend::redis`], feature `redis`;
//! [`Backend::nats`], feature `nats`),
//! joins several nodes (processes, machines) into one: a send to a room, a
//! user or everyone is delivered to the local members at once, exactly as
//! on one node, and is also handed to the engine, which publishes it once
//! for the other nodes. Each node listens only to the channels of the rooms
//! and users it has local members of, plus one channel for
//! [`Manager::to_all`](crate::Manager::to_all) while it has any connection.
//! A node ignores what it published itself, so every connection gets each
//! message once.
//!
//! The contract between the runtime and an engine is written down once, on
//! the `Engine` trait (`engine.rs`): fan-out, history (append atomic with
//! publish, read from a position, epoch), presence with a TTL, closes,
//! leaves and joins across nodes, and what a lost connection means. Around it:
//! - `Link` (`link.rs`), the runtime's handle on the engine, held by the
//!   registry and the broadcasts;
//! - `Node` and `Local` (`node.rs`), the runtime's side for the engine's
//!   tasks: what arrived from other nodes goes in, the channels needed now
//!   come out;
//! - what engines share: the queues from the runtime to their tasks
//!   (`outbox.rs`), their health and counters (`health.rs`, reported as
//!   [`BackendStatus`]) and the envelope between nodes (`envelope.rs`).
//!
//! Everything but `Backend`, `BackendStatus` and an empty `Link` compiles
//! only with an engine's feature: one node's build carries none of it.

#[cfg(feature = "engine")]
mod engine;
#[cfg(feature = "engine")]
mod envelope;
#[cfg(feature = "engine")]
mod health;
mod link;
#[cfg(feature = "nats")]
pub(crate) mod nats;
#[cfg(feature = "engine")]
mod node;
#[cfg(feature = "engine")]
mod outbox;
#[cfg(feature = "redis")]
pub(crate) mod redis;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
pub use crate::error::BackendError;

#[cfg(feature = "engine")]
pub(crate) use self::engine::{Engine, HistoryBounds, Outcome, Read};
#[cfg(feature = "engine")]
pub(crate) use self::health::{Shared, node_id, now_micros};
pub(crate) use self::link::{Link, Tasks};
#[cfg(feature = "nats")]
pub use self::nats::NatsBackend;
#[cfg(feature = "engine")]
pub(crate) use self::node::{Local, Node};
#[cfg(feature = "engine")]
pub(crate) use self::outbox::{Outbox, Outgoing};
#[cfg(feature = "redis")]
pub use self::redis::{PubSubMode, RedisBackend};

/// Where a manager's sends go beyond its own process: chosen once, at
/// start-up, with [`ManagerBuilder::backend`](crate::ManagerBuilder::backend).
///
/// ```
/// # use ws_core::{ws_protocol, Backend, Manager};
/// # #[ws_protocol]
/// # #[serde(tag = "type")]
/// # pub enum Chat { #[ws(server)] Notice { text: String } }
/// // One node: the default, nothing to install.
/// let manager = Manager::<Chat>::builder().backend(Backend::local()).build();
/// assert!(manager.backend_status().is_none());
/// ```
///
/// With the `redis` feature, several nodes share one Redis:
///
/// ```no_run
/// # use ws_core::{ws_protocol, Backend, Manager};
/// # #[ws_protocol]
/// # #[serde(tag = "type")]
/// # pub enum Chat { #[ws(server)] Notice { text: String } }
/// # #[tokio::main] async fn main() {
/// let manager = Manager::<Chat>::builder()
///     .backend(Backend::redis("redis://127.0.0.1:6379/").expect("a valid URL"))
///     .build(); // inside a Tokio runtime: the backend's tasks start here
/// # }
/// ```
pub struct Backend {
    kind: Kind,
}

enum Kind {
    Local,
    #[cfg(feature = "redis")]
    Redis(Box<RedisBackend>),
    #[cfg(feature = "nats")]
    Nats(Box<NatsBackend>),
}

impl Backend {
    /// This process only: the default.
    pub fn local() -> Self {
        Self { kind: Kind::Local }
    }

    /// Redis pub/sub at `url` (`redis://[user:password@]host[:port][/db]`),
    /// with the defaults of [`RedisBackend`]. Fails only on a malformed URL:
    /// the connection is made, and remade, in the background.
    #[cfg(feature = "redis")]
    pub fn redis(url: &str) -> Result<Self, BackendError> {
        Ok(RedisBackend::new(url)?.into())
    }

    /// The Redis Cluster that `urls` belong to, with the defaults of
    /// [`RedisBackend`]: see [`RedisBackend::cluster`]. Fails only on a
    /// malformed URL or none.
    ///
    /// ```no_run
    /// # use ws_core::{ws_protocol, Backend, Manager};
    /// # #[ws_protocol]
    /// # #[serde(tag = "type")]
    /// # pub enum Chat { #[ws(server)] Notice { text: String } }
    /// # #[tokio::main] async fn main() {
    /// let cluster = Backend::redis_cluster(&["redis://10.0.0.1:7000/", "redis://10.0.0.2:7000/"]);
    /// let manager = Manager::<Chat>::builder().backend(cluster.expect("valid URLs")).build();
    /// # }
    /// ```
    #[cfg(feature = "redis")]
    pub fn redis_cluster(urls: &[&str]) -> Result<Self, BackendError> {
        Ok(RedisBackend::cluster(urls)?.into())
    }

    /// NATS JetStream at `url` (`nats://[user:password@]host[:port]`), with
    /// the defaults of [`NatsBackend`]. Fails only on a malformed URL: the
    /// connection is made, and remade, in the background.
    ///
    /// ```no_run
    /// # use ws_core::{ws_protocol, Backend, Manager};
    /// # #[ws_protocol]
    /// # #[serde(tag = "type")]
    /// # pub enum Chat { #[ws(server)] Notice { text: String } }
    /// # #[tokio::main] async fn main() {
    /// let manager = Manager::<Chat>::builder()
    ///     .backend(Backend::nats("nats://127.0.0.1:4222").expect("a valid URL"))
    ///     .build();
    /// # }
    /// ```
    #[cfg(feature = "nats")]
    pub fn nats(url: &str) -> Result<Self, BackendError> {
        Ok(NatsBackend::new(url)?.into())
    }

    /// Starts the backend for a manager of `protocol` configured by
    /// `config`: the link the registry and the broadcasts use (none on one
    /// node), and the tasks to spawn once the manager exists. With history
    /// on, the rooms' histories live in the engine.
    pub(crate) fn start(self, protocol: &'static str, config: &Config) -> (Option<Link>, Tasks) {
        match self.kind {
            Kind::Local => {
                let _ = (protocol, config);
                (None, Tasks::none())
            }
            #[cfg(feature = "redis")]
            Kind::Redis(redis) => {
                let (link, tasks) = redis.start(protocol, HistoryBounds::of(config));
                (Some(link), tasks)
            }
            #[cfg(feature = "nats")]
            Kind::Nats(nats) => {
                let (link, tasks) = nats.start(protocol, HistoryBounds::of(config));
                (Some(link), tasks)
            }
        }
    }
}

impl Default for Backend {
    fn default() -> Self {
        Self::local()
    }
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Local => f.write_str("Backend::Local"),
            #[cfg(feature = "redis")]
            Kind::Redis(redis) => f.debug_tuple("Backend::Redis").field(redis).finish(),
            #[cfg(feature = "nats")]
            Kind::Nats(nats) => f.debug_tuple("Backend::Nats").field(nats).finish(),
        }
    }
}

#[cfg(feature = "redis")]
impl From<RedisBackend> for Backend {
    fn from(redis: RedisBackend) -> Self {
        Self {
            kind: Kind::Redis(Box::new(redis)),
        }
    }
}

#[cfg(feature = "nats")]
impl From<NatsBackend> for Backend {
    fn from(nats: NatsBackend) -> Self {
        Self {
            kind: Kind::Nats(Box::new(nats)),
        }
    }
}

/// A cluster backend's health and counters, from
/// [`Manager::backend_status`](crate::Manager::backend_status).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackendStatus {
    /// This node's id among the nodes sharing the backend.
    pub node: u64,
    /// Connected, and listening to every channel this node needs.
    pub up: bool,
    /// Whether the backend uses sharded pub/sub (Redis 7 `SSUBSCRIBE`); `None`
    /// until the first connection, and always for NATS.
    pub sharded: Option<bool>,
    /// Channels listened to now.
    pub channels: usize,
    /// Messages published for other nodes.
    pub published: u64,
    /// Messages that could not be published (backend down, queue full, a
    /// failed publish).
    pub publish_failed: u64,
    /// Messages received from other nodes.
    pub received: u64,
    /// Times the backend lost its connection and restored it.
    pub reconnects: u64,
    /// Publish-to-delivery time of the last message received from another
    /// node (by the nodes' clocks).
    pub lag: Option<Duration>,
}

/// A channel between nodes: everything sent to one room, to one user's
/// connections, or to everyone.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Channel {
    Room(Arc<str>),
    User(Arc<str>),
    All,
}

/// A user in a room: name, connections, and the presence metas (JSON) of
/// those of its connections that set one, sorted by their text.
pub(crate) type Entry = (Arc<str>, usize, Vec<Arc<str>>);

/// Who is in a room across the nodes: `here`, this node's own entries,
/// merged with the other nodes' `(user, connections, metas)`, by name; a
/// user's connections summed and metas sorted again, so a listing does not
/// depend on the order the nodes were read in. Every engine's listing.
#[cfg(feature = "engine")]
pub(crate) fn merge_entries<M: Into<Arc<str>>>(
    here: Vec<Entry>,
    others: impl IntoIterator<Item = (String, usize, Vec<M>)>,
) -> Vec<Entry> {
    let mut merged: std::collections::BTreeMap<String, (usize, Vec<Arc<str>>)> = here
        .into_iter()
        .map(|(user, n, metas)| (user.to_string(), (n, metas)))
        .collect();
    for (user, n, metas) in others {
        let entry = merged.entry(user).or_default();
        entry.0 += n;
        entry.1.extend(metas.into_iter().map(Into::into));
    }
    merged
        .into_iter()
        .map(|(user, (n, mut metas))| {
            metas.sort_unstable();
            (Arc::from(user), n, metas)
        })
        .collect()
}
