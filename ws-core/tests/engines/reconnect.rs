//! The Redis backend's reconnect backoff (README: "reconnects with backoff
//! (50 ms doubling to `reconnect_max`)"), against a real `redis-server`
//! that is killed and started again on the same port.

use std::time::Duration;

use tokio::time::{Instant, timeout};
use ws_core::{Manager, RedisBackend};

use crate::support::redis::{Redis, prefix, up};
use crate::support::{Server, Test};

/// While Redis is down, a listener on its port counts the backend's
/// connection attempts (accepting and dropping each, as a Redis that is
/// restarting would). The delays between attempts grow and are capped; once
/// Redis is back, the backend is up again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_reconnect_delays_grow_and_are_capped() {
    const CAP: Duration = Duration::from_millis(400);
    // Each attempt of the control task is one command on the connection
    // manager, which connects once, and once more after 50-200 ms (its
    // `number_of_retries(1)`, backend/redis/mod.rs): two connects per
    // attempt, as observed. Counting three, to leave room for a stray one
    // (the lost connection's own reconnect), CONNECTS connects are at least
    // CONNECTS / 3 attempts.
    const CONNECTS: usize = 40;
    let attempts = CONNECTS / 3;
    // Growth, as a lower bound (a sleep never ends early, so load can only
    // lengthen it): between `attempts` attempts lie at least `attempts - 1`
    // delays of 50, 100, 200 ms, then CAP each. Without the doubling (50 ms
    // each, and two connects per 50-75 ms) 40 connects take about 1.5 s.
    let grown: Duration = (0..attempts as u32 - 1)
        .map(|i| (Duration::from_millis(50) * 2u32.pow(i)).min(CAP))
        .sum();
    // The cap, as a deadline on completed work: capped, the attempts take
    // about CAP per two connects (8 s); uncapped, the 11th would start
    // after 50 ms * (2^10 - 1) = 51 s and the 20th after hours, so the
    // deadline is missed by far, and met with room for a machine several
    // times slower.
    const DEADLINE: Duration = Duration::from_secs(30);

    let mut redis = Redis::own();
    let backend = RedisBackend::new(&redis.url)
        .unwrap()
        .prefix(prefix("backoff"))
        .reconnect_max(CAP);
    let server = Server::with_manager(Manager::<Test>::builder().backend(backend).build()).await;
    up(&server).await;

    redis.kill();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", redis.port))
        .await
        .unwrap();
    let started = Instant::now();
    let mut seen = 0;
    while seen < CONNECTS {
        let (stream, _) = timeout(DEADLINE.saturating_sub(started.elapsed()), listener.accept())
            .await
            .unwrap_or_else(|_| {
                panic!("{seen} connection attempts in {DEADLINE:?}, expected {CONNECTS}: the delay is not capped")
            })
            .unwrap();
        drop(stream);
        seen += 1;
    }
    let took = started.elapsed();
    eprintln!("{CONNECTS} connects ({attempts}+ attempts) in {took:?}; the delays alone {grown:?}");
    assert!(
        took >= grown,
        "{CONNECTS} connects in {took:?}, less than the {grown:?} the growing delays take: no backoff"
    );
    assert!(!server.manager.backend_status().unwrap().up);

    drop(listener);
    redis.start();
    up(&server).await;
    let status = server.manager.backend_status().unwrap();
    assert!(status.reconnects >= 1, "{status:?}");
}
