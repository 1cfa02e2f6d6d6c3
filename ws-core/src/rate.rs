//! Rate limits as governor quotas, for the read loop's per-connection
//! limiter and the per-IP handshake rate alike; and byte budgets, for the
//! work compressed messages cause ([`InflateBudget`]).

use std::num::NonZeroU32;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::Quota;
use tokio::time::Instant;

use crate::config::{ByteRate, Config, RateLimit};

/// `limit` as governor's quota: one cell every `per / messages`.
pub(crate) fn quota(limit: RateLimit) -> Quota {
    let period = (limit.per() / limit.messages()).max(Duration::from_nanos(1));
    let burst = NonZeroU32::new(limit.burst()).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
        .allow_burst(burst)
}

/// A budget of bytes per period, as GCRA (the algorithm governor applies to
/// messages) over a "theoretical arrival time": each charge moves it on by
/// what the bytes cost at the rate, and a charger is in credit while it is
/// at most one period ahead of now. So bursts of one period's worth are
/// free, and past them the charger waits exactly as long as its excess
/// takes to earn back. The time is nanoseconds since [`EPOCH`], so one
/// `u64` (or one atomic, shared) holds all the state.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Gcra {
    bytes: u128,
    per_ns: u128,
}

impl Gcra {
    pub(crate) fn new(rate: ByteRate) -> Self {
        Self {
            bytes: u128::from(rate.bytes().max(1)),
            per_ns: rate.per().as_nanos().max(1),
        }
    }

    /// `tat` after `bytes` more at `now`, and the time from which the
    /// charger is back within its burst (at or before `now`: it is).
    fn charge(&self, tat: u64, now: u64, bytes: usize) -> (u64, u64) {
        let cost = (bytes as u128).saturating_mul(self.per_ns) / self.bytes;
        let tat = tat
            .max(now)
            .saturating_add(u64::try_from(cost).unwrap_or(u64::MAX));
        let burst = u64::try_from(self.per_ns).unwrap_or(u64::MAX);
        (tat, tat.saturating_sub(burst))
    }
}

/// The instant the budgets' clocks count from.
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

fn nanos(at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(*EPOCH).as_nanos()).unwrap_or(u64::MAX)
}

/// The inflation budgets (`inflate_rate` per connection, `inflate_node_rate`
/// for the node), shared by the connections of one manager; each
/// connection keeps its own `tat`.
#[derive(Debug)]
pub(crate) struct InflateBudget {
    conn: Option<Gcra>,
    node: Option<Gcra>,
    node_tat: AtomicU64,
}

impl InflateBudget {
    pub(crate) fn new(config: &Config) -> Self {
        Self {
            conn: config.inflate_rate().map(Gcra::new),
            node: config.inflate_node_rate().map(Gcra::new),
            node_tat: AtomicU64::new(0),
        }
    }

    /// Charges a message that inflated to `bytes` to the connection whose
    /// time is `tat` and to the node; `Some(instant)` when the connection
    /// must read nothing more before it.
    pub(crate) fn charge(&self, tat: &mut u64, bytes: usize) -> Option<Instant> {
        let now = Instant::now();
        let at = nanos(now);
        let mut resume = 0;
        if let Some(conn) = self.conn {
            let (next, from) = conn.charge(*tat, at, bytes);
            *tat = next;
            resume = from;
        }
        if let Some(node) = self.node {
            let mut from = 0;
            // Never fails: the closure always returns `Some`.
            let _ = self
                .node_tat
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |tat| {
                    let (next, back) = node.charge(tat, at, bytes);
                    from = back;
                    Some(next)
                });
            resume = resume.max(from);
        }
        (resume > at).then(|| now + Duration::from_nanos(resume - at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One period's worth passes at once; past it each byte waits its
    /// share of the period, and the waits add up to the excess exactly.
    #[test]
    fn a_byte_budget_allows_one_period_then_paces() {
        let gcra = Gcra::new(ByteRate::new(1_000, Duration::from_secs(1)));
        let (mut tat, now) = (0, 5_000_000_000);
        for _ in 0..10 {
            let (next, from) = gcra.charge(tat, now, 100);
            assert!(from <= now, "within the burst");
            tat = next;
        }
        let (next, from) = gcra.charge(tat, now, 500);
        assert_eq!(from - now, 500_000_000, "500 bytes over: half a period");
        // Later, the budget has refilled.
        let (_, from) = gcra.charge(next, now + 2_000_000_000, 1_000);
        assert!(from <= now + 2_000_000_000);
    }

    #[tokio::test(start_paused = true)]
    async fn the_node_budget_is_shared_and_either_can_pause() {
        let config = Config::DEFAULT
            .with_inflate_rate(Some(ByteRate::new(1 << 20, Duration::from_secs(1))))
            .with_inflate_node_rate(Some(ByteRate::new(2 << 20, Duration::from_secs(1))));
        let budget = InflateBudget::new(&config);
        let (mut a, mut b, mut c) = (0, 0, 0);
        assert_eq!(budget.charge(&mut a, 1 << 20), None);
        // The connection's own budget is spent.
        assert!(budget.charge(&mut a, 1 << 19).is_some());
        assert_eq!(budget.charge(&mut b, 1 << 19), None);
        // The node has inflated 2 MiB: a third connection waits for it.
        let resume = budget
            .charge(&mut c, 1 << 19)
            .expect("the node's budget is spent");
        let wait = resume - Instant::now();
        assert!(
            wait > Duration::from_millis(200) && wait <= Duration::from_millis(500),
            "{wait:?}"
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(budget.charge(&mut c, 1 << 10), None);
    }
}
