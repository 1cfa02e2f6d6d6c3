//! Rate limits as governor quotas, for the read loop's per-connection
//! limiter and the per-IP handshake rate alike.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::Quota;

use crate::config::RateLimit;

/// `limit` as governor's quota: one cell every `per / messages`.
pub(crate) fn quota(limit: RateLimit) -> Quota {
    let period = (limit.per() / limit.messages()).max(Duration::from_nanos(1));
    let burst = NonZeroU32::new(limit.burst()).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
        .allow_burst(burst)
}
