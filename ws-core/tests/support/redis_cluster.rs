//! A real Redis Cluster for a test: `redis-server`s on free ports (three
//! masters, each with a replica), joined by `redis-cli --cluster create`,
//! every process killed and its directory removed when dropped (or, for
//! the cluster tests share, [`RedisCluster::shared`], when the test process
//! exits: a watchdog shell sees it gone). Without
//! `redis-server` and `redis-cli` the tests fail, saying so: they are never
//! skipped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const HOW: &str = "these tests need redis-server and redis-cli \
                   (Debian: `apt-get install redis-server`)";

/// One `redis-server` of the cluster.
pub struct ClusterNode {
    pub port: u16,
    child: Option<Child>,
}

/// A running Redis Cluster of our own.
pub struct RedisCluster {
    pub nodes: Vec<ClusterNode>,
    dir: PathBuf,
    watchdog: Option<Child>,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `redis-cli -p port ARGS...`, its output; `None` if it could not run or
/// the node did not answer.
fn cli(port: u16, args: &[&str]) -> Option<String> {
    let Output { status, stdout, .. } = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stderr(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("{HOW} (cannot run redis-cli: {error})"));
    status
        .success()
        .then(|| String::from_utf8_lossy(&stdout).into_owned())
        .filter(|out| !out.starts_with("Could not connect"))
}

impl RedisCluster {
    /// Three masters and three replicas, `cluster_state:ok` on every node,
    /// every replica in sync with its master.
    pub fn start() -> RedisCluster {
        Self::with(3, 1)
    }

    /// `masters` masters with `replicas` replicas each.
    pub fn with(masters: usize, replicas: usize) -> RedisCluster {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ws-redis-cluster-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cluster = RedisCluster {
            nodes: Vec::new(),
            dir,
            watchdog: None,
        };
        for _ in 0..masters * (1 + replicas) {
            let (port, bus) = (free_port(), free_port());
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--cluster-enabled", "yes"])
                .args(["--cluster-port", &bus.to_string()])
                .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
                .args(["--cluster-node-timeout", "1000"])
                .args(["--dir", cluster.dir.to_str().unwrap()])
                .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|error| panic!("{HOW} (cannot run redis-server: {error})"));
            cluster.nodes.push(ClusterNode {
                port,
                child: Some(child),
            });
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for node in &cluster.nodes {
            while cli(node.port, &["PING"]).as_deref() != Some("PONG\n") {
                assert!(
                    Instant::now() < deadline,
                    "redis-server {} did not start",
                    node.port
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let addrs: Vec<String> = cluster
            .nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect();
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap_or_else(|error| panic!("{HOW} (cannot run redis-cli: {error})"));
        assert!(created.success(), "redis-cli --cluster create failed");
        // Should this process die without dropping the cluster (a static
        // is never dropped), the servers go with it.
        let pids: Vec<String> = cluster
            .nodes
            .iter()
            .filter_map(|node| node.child.as_ref().map(|c| c.id().to_string()))
            .collect();
        let script = format!(
            "while kill -0 {} 2>/dev/null; do sleep 0.5; done; kill -9 {} 2>/dev/null; rm -rf '{}'",
            std::process::id(),
            pids.join(" "),
            cluster.dir.display()
        );
        cluster.watchdog = Command::new("sh")
            .args(["-c", &script])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok();
        cluster.until_ok(Duration::from_secs(30));
        cluster
    }

    /// One cluster for every test of the process that does not kill its
    /// nodes (each under a prefix of its own): started by the first.
    pub fn shared() -> &'static RedisCluster {
        static SHARED: std::sync::OnceLock<RedisCluster> = std::sync::OnceLock::new();
        SHARED.get_or_init(RedisCluster::start)
    }

    /// A URL of every node still running.
    pub fn urls(&self) -> Vec<String> {
        self.alive()
            .map(|port| format!("redis://127.0.0.1:{port}/"))
            .collect()
    }

    fn alive(&self) -> impl Iterator<Item = u16> + '_ {
        self.nodes
            .iter()
            .filter(|node| node.child.is_some())
            .map(|node| node.port)
    }

    /// The slot of `key` (its hash tag's, if it has one).
    pub fn slot(&self, key: &str) -> u16 {
        let port = self.alive().next().expect("a node alive");
        cli(port, &["CLUSTER", "KEYSLOT", key])
            .and_then(|out| out.trim().parse().ok())
            .expect("CLUSTER KEYSLOT")
    }

    /// The port of the master serving `slot` as the living nodes see it;
    /// `None` while no living master claims it.
    pub fn master_of_slot(&self, slot: u16) -> Option<u16> {
        for port in self.alive() {
            let Some(nodes) = cli(port, &["CLUSTER", "NODES"]) else {
                continue;
            };
            for line in nodes.lines() {
                let fields: Vec<&str> = line.split(' ').collect();
                if fields.len() < 9 || !fields[2].contains("master") || fields[2].contains("fail") {
                    continue;
                }
                let Some(master) = fields[1]
                    .split('@')
                    .next()
                    .and_then(|addr| addr.rsplit(':').next())
                    .and_then(|p| p.parse::<u16>().ok())
                else {
                    continue;
                };
                let serves = fields[8..].iter().any(|range| {
                    let mut ends = range.split('-').map(|n| n.parse::<u16>());
                    match (ends.next(), ends.next()) {
                        (Some(Ok(a)), Some(Ok(b))) => (a..=b).contains(&slot),
                        (Some(Ok(a)), None) => a == slot,
                        _ => false,
                    }
                });
                if serves && self.alive().any(|p| p == master) {
                    return Some(master);
                }
            }
            return None;
        }
        None
    }

    /// The port of the master serving `key`.
    pub fn master_of(&self, key: &str) -> u16 {
        self.master_of_slot(self.slot(key))
            .unwrap_or_else(|| panic!("no master serves `{key}`"))
    }

    /// Sharded subscribers of `channel` on the master of its slot.
    pub fn shard_subscribers(&self, channel: &str) -> usize {
        let Some(master) = self.master_of_slot(self.slot(channel)) else {
            return 0;
        };
        cli(master, &["PUBSUB", "SHARDNUMSUB", channel])
            .and_then(|out| out.lines().nth(1).and_then(|n| n.trim().parse().ok()))
            .unwrap_or(0)
    }

    /// SIGKILLs the node on `port`: no word to anyone, as a crash.
    pub fn kill(&mut self, port: u16) {
        let node = self
            .nodes
            .iter_mut()
            .find(|node| node.port == port)
            .expect("a node of this cluster");
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether every living node says `cluster_state:ok`, every slot is
    /// served by a living master, and every living replica is in sync.
    pub fn is_ok(&self) -> bool {
        let living: Vec<u16> = self.alive().collect();
        for &port in &living {
            let Some(info) = cli(port, &["CLUSTER", "INFO"]) else {
                return false;
            };
            if !info.contains("cluster_state:ok") {
                return false;
            }
            let Some(replication) = cli(port, &["INFO", "replication"]) else {
                return false;
            };
            if replication.contains("role:slave") && !replication.contains("master_link_status:up")
            {
                // A replica of the killed master, if any, stays down: only
                // one whose master lives must be in sync.
                let master = replication
                    .lines()
                    .find_map(|line| line.strip_prefix("master_port:"))
                    .and_then(|p| p.trim().parse::<u16>().ok());
                if master.is_some_and(|m| living.contains(&m)) {
                    return false;
                }
            }
        }
        // Each of the 16384 slots has a living master (checked on a sample:
        // each master's range starts at one of these).
        [0u16, 5461, 5462, 10922, 10923, 16383]
            .into_iter()
            .all(|slot| self.master_of_slot(slot).is_some())
    }

    /// Waits (blocking) until [`is_ok`](Self::is_ok), at most `within`.
    pub fn until_ok(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.is_ok() {
            assert!(
                Instant::now() < deadline,
                "the cluster is not ok after {within:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// [`until_ok`](Self::until_ok) without blocking the runtime.
    pub async fn until_ok_async(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.is_ok() {
            assert!(
                Instant::now() < deadline,
                "the cluster is not ok after {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }
}
