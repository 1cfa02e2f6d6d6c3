//! Per-IP limits: the connections one client IP holds and the rate at which
//! it may start handshakes, both off by default. Their state is bounded: a
//! count leaves the map with the IP's last connection, and the rate
//! limiter's map is pruned of every IP whose bucket has refilled.

use std::net::{IpAddr, SocketAddr};
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use dashmap::DashMap;
use governor::RateLimiter;
use governor::clock::DefaultClock;
use governor::state::keyed::DefaultKeyedStateStore;
use ipnet::IpNet;

use crate::config::Config;
use crate::rate::quota;

/// The rate limiter's map is pruned after this many handshakes, so it holds
/// at most the IPs seen within one refill of a bucket plus this many.
const PRUNE_EVERY: usize = 1024;

pub(crate) struct PerIp {
    max: usize,
    open: DashMap<IpAddr, usize>,
    rate: Option<RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, DefaultClock>>,
    checks: AtomicUsize,
    trusted: Vec<IpNet>,
}

impl PerIp {
    pub(crate) fn new(config: &Config) -> Self {
        Self {
            max: config.max_per_ip(),
            open: DashMap::new(),
            rate: config
                .handshake_rate()
                .map(|rate| RateLimiter::keyed(quota(rate))),
            checks: AtomicUsize::new(0),
            trusted: config.trusted_proxies().to_vec(),
        }
    }

    /// The client IP of a handshake, when a limit needs one. `None` when the
    /// limits are off, or when the server provides no peer address.
    pub(crate) fn client_of(&self, parts: &Parts) -> Option<IpAddr> {
        if self.max == 0 && self.rate.is_none() {
            return None;
        }
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            static WARNED: Once = Once::new();
            WARNED.call_once(|| {
                tracing::warn!(
                    "`max_per_ip` and `handshake_rate` are off: no peer address; serve with \
                     `ws_core::serve` or `into_make_service_with_connect_info::<SocketAddr>()`"
                );
            });
            return None;
        };
        Some(client_ip(peer.ip(), &parts.headers, &self.trusted))
    }

    /// The host the client asked for: `X-Forwarded-Host` (its right-most
    /// value, set by the nearest proxy) when the peer is a trusted proxy,
    /// else the `Host` header, else (HTTP/2) the request's `:authority`.
    pub(crate) fn requested_host<'a>(&self, parts: &'a Parts) -> Option<&'a str> {
        let forwarded = self
            .forwarded(parts, "x-forwarded-host")
            .and_then(|value| value.rsplit(',').next())
            .map(str::trim);
        forwarded
            .or_else(|| {
                parts
                    .headers
                    .get(axum::http::header::HOST)
                    .and_then(|value| value.to_str().ok())
            })
            // HTTP/2 names the host in `:authority`, which hyper puts in the URI.
            .or_else(|| parts.uri.authority().map(|authority| authority.as_str()))
    }

    /// The scheme the client reached the server with, as a trusted
    /// proxy's `X-Forwarded-Proto` says; `None` from any other peer.
    pub(crate) fn forwarded_proto<'a>(&self, parts: &'a Parts) -> Option<&'a str> {
        self.forwarded(parts, "x-forwarded-proto")
    }

    /// Header `name`, when the peer is a trusted proxy.
    fn forwarded<'a>(&self, parts: &'a Parts, name: &str) -> Option<&'a str> {
        let from_proxy = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .is_some_and(|ConnectInfo(peer)| {
                let peer = peer.ip().to_canonical();
                self.trusted.iter().any(|net| net.contains(&peer))
            });
        from_proxy
            .then(|| parts.headers.get(name))
            .flatten()
            .and_then(|value| value.to_str().ok())
    }

    /// `false` when `ip` has started too many handshakes lately.
    pub(crate) fn allow_handshake(&self, ip: IpAddr) -> bool {
        let Some(rate) = &self.rate else {
            return true;
        };
        let allowed = rate.check_key(&ip).is_ok();
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            rate.retain_recent();
            rate.shrink_to_fit();
        }
        allowed
    }

    /// Counts one more connection of `ip`; `false` at the cap (nothing
    /// counted then).
    pub(crate) fn admit(&self, ip: IpAddr) -> bool {
        if self.max == 0 {
            return true;
        }
        let mut count = self.open.entry(ip).or_insert(0);
        if *count >= self.max {
            return false;
        }
        *count += 1;
        true
    }

    pub(crate) fn release(&self, ip: IpAddr) {
        if self.max != 0 {
            self.open.remove_if_mut(&ip, |_, count| {
                *count -= 1;
                *count == 0
            });
        }
    }

    /// IPs with state: those holding connections, and those the rate
    /// limiter remembers.
    #[cfg(test)]
    pub(crate) fn tracked(&self) -> (usize, usize) {
        (self.open.len(), self.rate.as_ref().map_or(0, |r| r.len()))
    }
}

/// The client behind `peer`: `peer` itself unless it is a trusted proxy;
/// then the right-most address of `X-Forwarded-For` that is not a trusted
/// proxy (every hop appends the address it saw, so only the part to the
/// right of the first untrusted hop is believed). An unreadable entry stops
/// the walk at the last address known.
fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let peer = peer.to_canonical();
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    for value in headers.get_all("x-forwarded-for").iter().rev() {
        let Ok(value) = value.to_str() else {
            return client;
        };
        for hop in value.rsplit(',') {
            let Some(ip) = parse_hop(hop.trim()) else {
                return client;
            };
            if !is_trusted(&ip) {
                return ip;
            }
            client = ip;
        }
    }
    client
}

/// `203.0.113.7`, `2001:db8::1`, or either with a port (`[2001:db8::1]:443`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|addr| addr.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::RateLimit;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in xff {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_read_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let spoofed = headers(&["1.1.1.1"]);
        assert_eq!(
            client_ip(ip("203.0.113.9"), &spoofed, &trusted),
            ip("203.0.113.9")
        );
        // The client's own claim (1.1.1.1) is left of the first untrusted hop.
        let chain = headers(&["1.1.1.1, 198.51.100.4", "10.1.1.1"]);
        assert_eq!(
            client_ip(ip("10.0.0.1"), &chain, &trusted),
            ip("198.51.100.4")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), &headers(&[]), &trusted),
            ip("10.0.0.1")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), &headers(&["garbage, 10.2.2.2"]), &trusted),
            ip("10.2.2.2")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), &headers(&["[2001:db8::1]:443"]), &trusted),
            ip("2001:db8::1")
        );
        assert_eq!(
            client_ip(ip("::ffff:10.0.0.1"), &spoofed, &trusted),
            ip("1.1.1.1")
        );
    }

    #[test]
    fn counts_leave_no_entry_behind() {
        let per_ip = PerIp::new(&Config::DEFAULT.with_max_per_ip(2));
        let a = ip("192.0.2.1");
        assert!(per_ip.admit(a) && per_ip.admit(a));
        assert!(!per_ip.admit(a));
        assert!(per_ip.admit(ip("192.0.2.2")));
        per_ip.release(a);
        per_ip.release(a);
        per_ip.release(ip("192.0.2.2"));
        assert_eq!(per_ip.tracked(), (0, 0));
    }

    #[test]
    fn the_rate_limiter_forgets_refilled_ips() {
        let rate = RateLimit::new(1_000, Duration::from_millis(1));
        let per_ip = PerIp::new(&Config::DEFAULT.with_handshake_rate(Some(rate)));
        // 10,000 one-off IPs, each bucket refilled a microsecond later.
        for n in 0..10_000u32 {
            assert!(per_ip.allow_handshake(IpAddr::from(n.to_be_bytes())));
        }
        // The handshakes since the last prune, and the few just before it
        // whose bucket had not refilled yet.
        let (_, remembered) = per_ip.tracked();
        assert!(remembered <= 2 * PRUNE_EVERY, "{remembered} IPs remembered");
    }
}
