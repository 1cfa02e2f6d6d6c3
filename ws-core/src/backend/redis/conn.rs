//! The node's one connection to Redis as the tasks use it: a call fails as
//! timed out once Redis has been *silent* for the response timeout while it
//! waited (no reply, no pushed message), not once the call alone took that
//! long.
//!
//! Why: replies share the connection with the messages Redis pushes to this
//! node's subscriptions, in Redis's order. A node that is behind on those (a
//! busy machine: seconds of pushes queued ahead of a reply) gets every reply
//! that late, from a Redis that is answering all along. A fixed deadline
//! counted that Redis as lost: the node refused sends until it had
//! resubscribed, and a publish cut at its deadline was counted lost though
//! Redis ran it. Silence is what a Redis that stopped answering (stopped,
//! hung, cut off) looks like; a dropped connection fails at once anyway.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};
use tokio::time::Instant;

/// When this node last heard from Redis.
pub(super) struct Liveness {
    base: Instant,
    /// Milliseconds after `base`.
    heard_ms: AtomicU64,
}

impl Liveness {
    pub(super) fn new() -> Self {
        Self {
            base: Instant::now(),
            heard_ms: AtomicU64::new(0),
        }
    }

    /// Something arrived from Redis: a reply, or a pushed message (stamped
    /// by the connection's reader as it reads it, before it is queued for
    /// delivery).
    pub(super) fn heard(&self) {
        let ms = self.base.elapsed().as_millis() as u64;
        self.heard_ms.fetch_max(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.base + Duration::from_millis(self.heard_ms.load(Ordering::Relaxed))
    }

    /// Waits for `call` until it answers, or until Redis has been silent for
    /// `timeout` (and at least `timeout` after the call began).
    pub(super) async fn within<T>(
        &self,
        timeout: Duration,
        call: impl Future<Output = RedisResult<T>>,
    ) -> RedisResult<T> {
        tokio::pin!(call);
        let mut deadline = Instant::now() + timeout;
        let mut yielded = false;
        loop {
            match tokio::time::timeout_at(deadline, &mut call).await {
                Ok(result) => {
                    if result.is_ok() {
                        self.heard();
                    }
                    return result;
                }
                Err(_) => {
                    let silent_until = self.last() + timeout;
                    if silent_until > Instant::now() {
                        deadline = silent_until;
                        yielded = false;
                    } else if !yielded {
                        // A node too busy to have read its socket yet is
                        // no evidence that Redis is silent: tokio's yield
                        // returns once the runtime has polled for I/O, and
                        // the call (polled first) or a push then shows it.
                        tokio::task::yield_now().await;
                        yielded = true;
                    } else {
                        return Err(io::Error::from(io::ErrorKind::TimedOut).into());
                    }
                }
            }
        }
    }
}

/// One Redis, or a Redis Cluster: what the tasks send their commands and
/// pipelines to, either way (a pipeline runs per slot on a cluster, see
/// [`cluster`](super::cluster)).
#[derive(Clone)]
pub(super) enum Raw {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// The connection with the silence timeout on every call; cheap to clone.
#[derive(Clone)]
pub(super) struct Conn {
    inner: Raw,
    liveness: std::sync::Arc<Liveness>,
    /// `None`: as long as Redis takes (see [`Conn::unlimited`]).
    timeout: Option<Duration>,
}

impl Conn {
    /// `inner` must have no response timeout of its own.
    pub(super) fn new(inner: Raw, liveness: std::sync::Arc<Liveness>, timeout: Duration) -> Self {
        Self {
            inner,
            liveness,
            timeout: Some(timeout),
        }
    }

    /// The same connection, waiting as long as Redis takes: for the
    /// publishes, which Redis runs once written even if its answer comes
    /// late (cut off, one would be counted lost though delivered, or sent
    /// twice if retried). A connection that drops fails them at once.
    pub(super) fn unlimited(&self) -> Conn {
        Conn {
            timeout: None,
            ..self.clone()
        }
    }

    /// What makes a call fail once Redis is silent for the timeout, if any
    /// (see [`limited`]).
    fn limit(&self) -> (Option<Duration>, std::sync::Arc<Liveness>) {
        (self.timeout, std::sync::Arc::clone(&self.liveness))
    }

    /// Whether this is a Redis Cluster (a connection per node).
    pub(super) fn is_cluster(&self) -> bool {
        matches!(self.inner, Raw::Cluster(_))
    }

    pub(super) fn liveness(&self) -> &Liveness {
        &self.liveness
    }
}

/// `call`, failed once Redis is silent for the timeout of `limit`, if any.
fn limited<'a, T: Send + 'a>(
    (timeout, liveness): (Option<Duration>, std::sync::Arc<Liveness>),
    call: RedisFuture<'a, T>,
) -> RedisFuture<'a, T> {
    match timeout {
        Some(timeout) => async move { liveness.within(timeout, call).await }.boxed(),
        None => call,
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let limit = self.limit();
        let call = match &mut self.inner {
            Raw::Single(conn) => conn.req_packed_command(cmd),
            Raw::Cluster(conn) => conn.req_packed_command(cmd),
        };
        limited(limit, call)
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let limit = self.limit();
        let call = match &mut self.inner {
            Raw::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            // Not atomic (the engine writes its `MULTI`s itself): split.
            Raw::Cluster(conn) => {
                if offset == 0 && count == pipeline.len() {
                    super::cluster::pipeline(conn, pipeline).boxed()
                } else {
                    conn.req_packed_commands(pipeline, offset, count)
                }
            }
        };
        limited(limit, call)
    }

    fn get_db(&self) -> i64 {
        match &self.inner {
            Raw::Single(conn) => conn.get_db(),
            Raw::Cluster(conn) => conn.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A call that Redis answers late but while it keeps talking is waited
    /// for; one it stays silent on fails after the timeout.
    #[tokio::test(start_paused = true)]
    async fn only_silence_times_out() {
        let liveness = std::sync::Arc::new(Liveness::new());
        let timeout = Duration::from_secs(2);
        let talking = std::sync::Arc::clone(&liveness);
        let chatter = tokio::spawn(async move {
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_millis(500)).await;
                talking.heard();
            }
        });
        let late = async {
            tokio::time::sleep(Duration::from_secs(4)).await;
            Ok::<_, redis::RedisError>(7)
        };
        assert_eq!(liveness.within(timeout, late).await.unwrap(), 7);
        chatter.await.unwrap();

        let never = std::future::pending::<RedisResult<()>>();
        let error = liveness.within(timeout, never).await.unwrap_err();
        assert!(error.is_timeout(), "{error}");
    }
}
