//! The engines the model runs against, and their nodes: each node a
//! manager and an axum server in a runtime of its own, so that killing a
//! node drops every task of it at once, as a SIGKILL would (nothing of it
//! runs again, no shutdown is said to anyone).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ws_core::axum::Router;
use ws_core::{Backend, Manager, PubSubMode, RedisBackend, endpoint};

use crate::nats::Nats;

use super::protocol::{App, Model};
use crate::support::redis::{Redis, prefix};
use crate::support::redis_cluster::RedisCluster;

/// What the nodes share. Another engine (Redis Cluster, NATS) is another
/// variant: its `services`, `backend` and `nodes`, and the ops it supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// One node, no backend: history and presence in the process.
    Local,
    /// Nodes sharing one `redis-server`, in the given pub/sub mode.
    Redis(PubSubMode),
    /// Nodes sharing the process's Redis Cluster (three masters, three
    /// replicas): not restarted nor paused by the ops (the failover test
    /// kills a master).
    RedisCluster,
    /// Nodes sharing the NATS JetStream at `NATS_URL` (or 127.0.0.1:4222)
    /// under a prefix of the run's own; no server ops.
    Nats,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Local => "local",
            Engine::Redis(PubSubMode::Classic) => "redis-classic",
            Engine::Redis(PubSubMode::Sharded) => "redis-sharded",
            Engine::Redis(_) => "redis-auto",
            Engine::RedisCluster => "redis-cluster",
            Engine::Nats => "nats",
        }
    }

    /// How many nodes the ops spread over (`A`, `B`, `C`).
    pub fn nodes(self) -> usize {
        match self {
            Engine::Local => 1,
            Engine::Redis(_) | Engine::RedisCluster | Engine::Nats => 3,
        }
    }

    /// Whether the history outlives a node (a restarted node's rooms keep
    /// their epoch).
    pub fn shared_history(self) -> bool {
        matches!(self, Engine::Redis(_) | Engine::RedisCluster | Engine::Nats)
    }

    /// Whether the engine has a server of its own to stop and start.
    pub fn has_service(self) -> bool {
        matches!(self, Engine::Redis(_))
    }
}

/// The engine's running services, and the name space of one run.
pub struct Services {
    pub engine: Engine,
    pub redis: Option<Redis>,
    pub nats: Option<Nats>,
    pub prefix: String,
}

impl Services {
    pub fn start(engine: Engine) -> Services {
        let redis = match engine {
            Engine::Local | Engine::RedisCluster | Engine::Nats => None,
            Engine::Redis(_) => Some(Redis::own()),
        };
        let nats = (engine == Engine::Nats).then(|| Nats::shared("model"));
        let prefix = match &nats {
            Some(nats) => nats.prefix.clone(),
            None => prefix("model"),
        };
        Services {
            engine,
            redis,
            nats,
            prefix,
        }
    }

    fn backend(&self) -> Option<Backend> {
        match self.engine {
            Engine::Local => None,
            Engine::Redis(mode) => {
                let redis = self.redis.as_ref().expect("the engine's redis");
                let backend = RedisBackend::new(redis.url())
                    .unwrap()
                    .prefix(&self.prefix)
                    .pubsub(mode)
                    .presence_ttl(PRESENCE_TTL)
                    .response_timeout(Duration::from_millis(300))
                    .reconnect_max(Duration::from_millis(300));
                Some(backend.into())
            }
            Engine::RedisCluster => {
                let urls = RedisCluster::shared().urls();
                let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
                let backend = RedisBackend::cluster(&urls)
                    .unwrap()
                    .prefix(&self.prefix)
                    .presence_ttl(PRESENCE_TTL)
                    .response_timeout(Duration::from_millis(300))
                    .reconnect_max(Duration::from_millis(300));
                Some(backend.into())
            }
            Engine::Nats => {
                let nats = self.nats.as_ref().expect("the engine's nats");
                let backend = nats
                    .backend()
                    .presence_ttl(PRESENCE_TTL)
                    .response_timeout(Duration::from_millis(300))
                    .reconnect_max(Duration::from_millis(300));
                Some(backend.into())
            }
        }
    }

    /// A node of this engine, once its backend is up.
    pub async fn node(&self) -> Node {
        let runtime = own_runtime();
        let backend = self.backend();
        let (addr, manager) = runtime
            .spawn(async move {
                let mut builder = Manager::<Model>::builder();
                if let Some(backend) = backend {
                    builder = builder.backend(backend);
                }
                let manager = builder.build();
                let router = Router::new().route("/ws", endpoint(manager.clone(), Arc::new(App)));
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                tokio::spawn(ws_core::serve(listener, router));
                (addr, manager)
            })
            .await
            .unwrap();
        let node = Node {
            addr,
            manager,
            runtime: Some(runtime),
        };
        node.until_up(Duration::from_secs(10)).await;
        node
    }
}

/// A runtime for one node: shut down, every task of the node goes at once.
pub fn own_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// A node killed without a word drops out of presence within this.
pub const PRESENCE_TTL: Duration = Duration::from_millis(900);

/// A manager served on 127.0.0.1, in its own runtime.
pub struct Node {
    pub addr: SocketAddr,
    pub manager: Manager<Model>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Node {
    pub fn url(&self, user: Option<&str>) -> String {
        match user {
            Some(user) => format!("ws://{}/ws?user={user}", self.addr),
            None => format!("ws://{}/ws", self.addr),
        }
    }

    /// Whether the backend (if any) is up; `true` for a node without one.
    pub fn up(&self) -> bool {
        self.manager.backend_status().is_none_or(|status| status.up)
    }

    pub async fn until_up(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while !self.up() {
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// Every task of the node dropped at once: its sockets close, and it
    /// says nothing to Redis or to anyone.
    pub fn kill(mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
