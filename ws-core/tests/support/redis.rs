//! A Redis for a test: the one at `REDIS_URL`, or a `redis-server` the
//! test starts on a free port (Debian: `apt-get install redis-server`).
//! With neither, the tests fail, saying so: they are never skipped. A test
//! that restarts or stops its Redis needs one it owns.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::support::Server;

const HOW: &str = "these tests need Redis: set REDIS_URL=redis://HOST:PORT/ \
                   or install redis-server (Debian: `apt-get install redis-server`)";

/// A Redis for one test: the one at `REDIS_URL`, or a `redis-server` this
/// test started (and kills when dropped).
pub struct Redis {
    pub url: String,
    pub port: u16,
    child: Option<Child>,
}

impl Redis {
    /// `REDIS_URL` if set, else a server of our own.
    pub fn any() -> Redis {
        match std::env::var("REDIS_URL") {
            Ok(url) if !url.is_empty() => Redis::at(url),
            _ => Redis::own(),
        }
    }

    /// The Redis at `url`, not ours to start or stop.
    pub fn at(url: String) -> Redis {
        Redis {
            url,
            port: 0,
            child: None,
        }
    }

    /// A `redis-server` of our own on a free port, without persistence.
    pub fn own() -> Redis {
        let mut redis = Redis::not_started();
        redis.start();
        redis
    }

    /// A free port for a `redis-server` of our own, not started yet.
    pub fn not_started() -> Redis {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Redis {
            url: format!("redis://127.0.0.1:{port}/"),
            port,
            child: None,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn start(&mut self) {
        assert!(
            self.port != 0,
            "only a redis-server of our own can be started"
        );
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("{HOW} (cannot run redis-server: {error})"));
        self.child = Some(child);
        // Ready once it answers a PING.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
                let mut reply = [0u8; 7];
                if stream.write_all(b"PING\r\n").is_ok()
                    && stream.read_exact(&mut reply).is_ok()
                    && &reply == b"+PONG\r\n"
                {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends `signal` (`STOP`, `CONT`) to our `redis-server`: stopped, it
    /// keeps its data and its connections, and answers nothing.
    pub fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("a redis-server of our own");
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal}");
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill();
        self.start();
    }

    /// Subscribers of `channel` across the server (sharded or classic).
    pub async fn subscribers(&self, channel: &str, sharded: bool) -> usize {
        let client = redis::Client::open(self.url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let which = if sharded { "SHARDNUMSUB" } else { "NUMSUB" };
        let (_, n): (String, usize) = redis::cmd("PUBSUB")
            .arg(which)
            .arg(channel)
            .query_async(&mut conn)
            .await
            .unwrap();
        n
    }

    /// Waits until `channel` has `n` subscribers.
    pub async fn until_subscribers(&self, channel: &str, sharded: bool, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = self.subscribers(channel, sharded).await;
            if now == n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{channel}: {now} subscribers, expected {n}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub async fn exists(&self, key: &str) -> bool {
        let client = redis::Client::open(self.url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        redis::cmd("EXISTS")
            .arg(key)
            .query_async::<u32>(&mut conn)
            .await
            .unwrap()
            == 1
    }

    /// Every key matching `pattern`, with its TTL in ms (-1: none).
    pub async fn ttls(&self, pattern: &str) -> Vec<(String, i64)> {
        let client = redis::Client::open(self.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(pattern)
            .query_async(&mut conn)
            .await
            .unwrap();
        let mut out = Vec::new();
        for key in keys {
            let ttl: i64 = redis::cmd("PTTL")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap();
            out.push((key, ttl));
        }
        out
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Keys and channels of each test apart, should tests share a `REDIS_URL`.
pub fn prefix(test: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "t{}-{}-{test}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Waits until `server`'s backend is up.
pub async fn up(server: &Server) {
    server
        .until("the backend is up", |m| m.backend_status().unwrap().up)
        .await;
}
