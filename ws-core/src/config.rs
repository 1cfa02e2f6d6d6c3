//! Limits and policies of a [`Manager`](crate::Manager).
//!
//! The `#[ws_protocol(...)]` attribute turns its options into
//! [`Protocol::CONFIG`](crate::Protocol::CONFIG), a compile-time constant.
//! At start-up an operator can override any of them without recompiling,
//! through [`ManagerBuilder`](crate::ManagerBuilder) or from the environment
//! with [`Config::override_from_env`].
//!
//! | attribute option     | default   | meaning |
//! |----------------------|-----------|---------|
//! | `max_connections`    | `10_000`  | connections admitted at once; `0` = unlimited; past it: HTTP 503 |
//! | `max_per_user`       | `0`       | connections one user may hold; `0` = unlimited; past it: HTTP 503 |
//! | `send_queue`         | `256`     | frames queued per connection (at least 1) |
//! | `on_full`            | `"close"` | when a queue is full: `"close"` (close 1013), `"drop_newest"`, `"drop_oldest"` |
//! | `max_message_size`   | `"64KiB"` | largest inbound message; larger: close 1009 |
//! | `heartbeat`          | `"30s"`   | server ping interval; `"off"` disables |
//! | `idle_timeout`       | `"60s"`   | close a peer silent this long (close 1001); `"off"` disables |
//! | `on_invalid`         | `"error"` | malformed inbound: `"error"` (typed error frame) or `"close"` (close 1007) |
//! | `rate_limit`         | off       | inbound messages per connection, e.g. `"20/s"`, `"600/m"` |
//! | `rate_burst`         | the rate  | messages allowed at once above the steady rate |
//! | `on_rate_limit`      | `"error"` | over the limit: `"error"` (message dropped, typed error frame) or `"close"` (close 1008) |
//! | `read_buffer`        | `"1KiB"`  | per-connection read buffer, allocated up front; also the most read per syscall |
//! | `write_buffer`       | `"64KiB"` | ready frames are sent in one vectored write, up to this many bytes (nothing is copied or allocated for it) |
//! | `handshake_timeout`  | `"10s"`   | from accept to the 101, request head and `authenticate` included; later: dropped (head) or HTTP 503 (`authenticate`) |
//! | `max_per_ip`         | `0`       | connections one client IP may hold; `0` = unlimited; past it: HTTP 503 |
//! | `handshake_rate`     | off       | handshakes per client IP, e.g. `"10/s"`; past it: HTTP 429 |
//! | `trusted_proxies`    | none      | builder and environment only: IPs or CIDRs whose `X-Forwarded-For` names the client |

use std::borrow::Cow;
use std::time::Duration;

use ipnet::IpNet;

/// What happens to a message sent to a connection whose send queue is full.
///
/// ```
/// use ws_core::{Config, Overflow};
/// let config = Config::DEFAULT.with_on_full(Overflow::DropOldest);
/// assert_eq!(config.on_full(), Overflow::DropOldest);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Overflow {
    /// Close the slow connection with [`close_code::TRY_AGAIN_LATER`](crate::close_code::TRY_AGAIN_LATER) (1013).
    Close,
    /// Keep the queue as it is and discard the new message.
    DropNewest,
    /// Discard the oldest queued message to make room for the new one.
    DropOldest,
}

/// What happens when a client sends a message that cannot be decoded
/// (malformed JSON, unknown type, a server-only type, a binary frame).
///
/// ```
/// use ws_core::{Config, OnInvalid};
/// let config = Config::DEFAULT.with_on_invalid(OnInvalid::Close);
/// assert_eq!(config.on_invalid(), OnInvalid::Close);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OnInvalid {
    /// Answer with an [`ErrorFrame`](crate::ErrorFrame) and keep the connection.
    Error,
    /// Close the connection with 1007 (invalid payload) or 1003 for binary frames.
    Close,
}

/// A per-connection limit on inbound messages: `messages` per `per`, with
/// bursts of up to `burst` messages.
///
/// ```
/// use std::time::Duration;
/// use ws_core::RateLimit;
/// let limit = RateLimit::new(20, Duration::from_secs(1)).with_burst(40);
/// assert_eq!((limit.messages(), limit.burst()), (20, 40));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RateLimit {
    messages: u32,
    per: Duration,
    burst: u32,
}

impl RateLimit {
    /// `messages` per `per`; the burst defaults to `messages`. Zero values
    /// are raised to one message and one nanosecond.
    pub const fn new(messages: u32, per: Duration) -> Self {
        let messages = if messages == 0 { 1 } else { messages };
        let per = if per.is_zero() {
            Duration::from_nanos(1)
        } else {
            per
        };
        Self {
            messages,
            per,
            burst: messages,
        }
    }

    /// Allows bursts of up to `burst` messages (at least 1).
    pub const fn with_burst(mut self, burst: u32) -> Self {
        self.burst = if burst == 0 { 1 } else { burst };
        self
    }

    /// Messages per period.
    pub const fn messages(&self) -> u32 {
        self.messages
    }

    /// The period.
    pub const fn per(&self) -> Duration {
        self.per
    }

    /// The largest burst.
    pub const fn burst(&self) -> u32 {
        self.burst
    }
}

/// What happens to an inbound message over the [`RateLimit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OnRateLimit {
    /// Drop the message and answer with an [`ErrorFrame`](crate::ErrorFrame)
    /// with code `rate_limited`.
    Error,
    /// Close the connection with 1008 (policy violation).
    Close,
}

/// The limits and policies of a [`Manager`](crate::Manager).
///
/// Every setter is a `const fn`, so the macro builds [`Protocol::CONFIG`](crate::Protocol::CONFIG)
/// at compile time, and the same calls override it at run time.
///
/// ```
/// use std::time::Duration;
/// use ws_core::Config;
///
/// const CONFIG: Config = Config::DEFAULT
///     .with_max_connections(50_000)
///     .with_send_queue(64)
///     .with_heartbeat(Some(Duration::from_secs(10)));
/// assert_eq!(CONFIG.max_connections(), 50_000);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    max_connections: usize,
    max_per_user: usize,
    send_queue: usize,
    on_full: Overflow,
    max_message_size: usize,
    heartbeat: Option<Duration>,
    idle_timeout: Option<Duration>,
    on_invalid: OnInvalid,
    rate_limit: Option<RateLimit>,
    on_rate_limit: OnRateLimit,
    read_buffer: usize,
    write_buffer: usize,
    // Untrusted peers: the handshake deadline and the per-IP limits.
    handshake_timeout: Duration,
    max_per_ip: usize,
    handshake_rate: Option<RateLimit>,
    trusted_proxies: Cow<'static, [IpNet]>,
}

impl Default for Config {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl Config {
    /// The defaults listed in the [module documentation](self).
    pub const DEFAULT: Config = Config {
        max_connections: 10_000,
        max_per_user: 0,
        send_queue: 256,
        on_full: Overflow::Close,
        max_message_size: 64 * 1024,
        heartbeat: Some(Duration::from_secs(30)),
        idle_timeout: Some(Duration::from_secs(60)),
        on_invalid: OnInvalid::Error,
        rate_limit: None,
        on_rate_limit: OnRateLimit::Error,
        // Allocated for every connection, idle or not: small by default.
        read_buffer: 1024,
        write_buffer: 64 * 1024,
        handshake_timeout: Duration::from_secs(10),
        max_per_ip: 0,
        handshake_rate: None,
        trusted_proxies: Cow::Borrowed(&[]),
    };

    /// Connections admitted at once; `0` means unlimited.
    pub const fn with_max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// Connections one user may hold at once; `0` means unlimited.
    pub const fn with_max_per_user(mut self, max: usize) -> Self {
        self.max_per_user = max;
        self
    }

    /// Frames queued per connection. A value of `0` is raised to `1`: a
    /// connection always has room for one frame.
    pub const fn with_send_queue(mut self, frames: usize) -> Self {
        self.send_queue = if frames == 0 { 1 } else { frames };
        self
    }

    /// The policy for a full send queue.
    pub const fn with_on_full(mut self, policy: Overflow) -> Self {
        self.on_full = policy;
        self
    }

    /// The largest inbound message in bytes; larger messages close the
    /// connection with 1009.
    pub const fn with_max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// The interval between server pings; `None` disables them.
    pub const fn with_heartbeat(mut self, every: Option<Duration>) -> Self {
        self.heartbeat = every;
        self
    }

    /// How long a peer may stay silent (no frame, no pong) before it is closed
    /// with 1001; `None` disables the check.
    pub const fn with_idle_timeout(mut self, after: Option<Duration>) -> Self {
        self.idle_timeout = after;
        self
    }

    /// The policy for inbound messages that cannot be decoded.
    pub const fn with_on_invalid(mut self, policy: OnInvalid) -> Self {
        self.on_invalid = policy;
        self
    }

    /// The per-connection inbound rate limit; `None` disables it.
    pub const fn with_rate_limit(mut self, limit: Option<RateLimit>) -> Self {
        self.rate_limit = limit;
        self
    }

    /// The policy for messages over the rate limit.
    pub const fn with_on_rate_limit(mut self, policy: OnRateLimit) -> Self {
        self.on_rate_limit = policy;
        self
    }

    /// The per-connection read buffer in bytes.
    pub const fn with_read_buffer(mut self, bytes: usize) -> Self {
        self.read_buffer = bytes;
        self
    }

    /// Outbound frames are coalesced up to this many bytes before a write.
    pub const fn with_write_buffer(mut self, bytes: usize) -> Self {
        self.write_buffer = bytes;
        self
    }

    /// Connections admitted at once; `0` means unlimited.
    pub const fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// Connections one user may hold at once; `0` means unlimited.
    pub const fn max_per_user(&self) -> usize {
        self.max_per_user
    }

    /// Frames queued per connection.
    pub const fn send_queue(&self) -> usize {
        self.send_queue
    }

    /// The policy for a full send queue.
    pub const fn on_full(&self) -> Overflow {
        self.on_full
    }

    /// The largest inbound message in bytes.
    pub const fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// The interval between server pings.
    pub const fn heartbeat(&self) -> Option<Duration> {
        self.heartbeat
    }

    /// How long a peer may stay silent before it is closed.
    pub const fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
    }

    /// The policy for inbound messages that cannot be decoded.
    pub const fn on_invalid(&self) -> OnInvalid {
        self.on_invalid
    }

    /// The per-connection inbound rate limit.
    pub const fn rate_limit(&self) -> Option<RateLimit> {
        self.rate_limit
    }

    /// The policy for messages over the rate limit.
    pub const fn on_rate_limit(&self) -> OnRateLimit {
        self.on_rate_limit
    }

    /// The per-connection read buffer in bytes.
    pub const fn read_buffer(&self) -> usize {
        self.read_buffer
    }

    /// The write coalescing buffer in bytes.
    pub const fn write_buffer(&self) -> usize {
        self.write_buffer
    }

    // ---- Untrusted peers: handshake deadline, per-IP limits. ----

    /// How long a connection has from its accept to the 101: the request
    /// head must arrive within it (else the connection is dropped; set by
    /// [`serve`](crate::serve)) and `authenticate` must finish within what
    /// is left (else HTTP 503). Zero is raised to one millisecond.
    pub const fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = if timeout.is_zero() {
            Duration::from_millis(1)
        } else {
            timeout
        };
        self
    }

    /// Connections one client IP may hold at once; `0` means unlimited.
    /// Past it the handshake gets HTTP 503 with `Retry-After`.
    pub const fn with_max_per_ip(mut self, max: usize) -> Self {
        self.max_per_ip = max;
        self
    }

    /// Handshakes one client IP may start, e.g. 10 per second with bursts
    /// of [`RateLimit::burst`]; `None` disables it. Past it: HTTP 429.
    pub const fn with_handshake_rate(mut self, rate: Option<RateLimit>) -> Self {
        self.handshake_rate = rate;
        self
    }

    /// Proxies whose `X-Forwarded-For` header is believed: the client IP is
    /// the right-most address in it that is not itself a trusted proxy. From
    /// any other peer the header is ignored and the peer is the client.
    ///
    /// ```
    /// use ws_core::Config;
    /// let config = Config::DEFAULT.with_trusted_proxies(vec!["10.0.0.0/8".parse().unwrap()]);
    /// assert_eq!(config.trusted_proxies().len(), 1);
    /// ```
    pub fn with_trusted_proxies(mut self, proxies: impl Into<Cow<'static, [IpNet]>>) -> Self {
        self.trusted_proxies = proxies.into();
        self
    }

    /// How long a connection has from its accept to the 101.
    pub const fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    /// Connections one client IP may hold at once; `0` means unlimited.
    pub const fn max_per_ip(&self) -> usize {
        self.max_per_ip
    }

    /// Handshakes one client IP may start per period.
    pub const fn handshake_rate(&self) -> Option<RateLimit> {
        self.handshake_rate
    }

    /// Proxies whose `X-Forwarded-For` is believed.
    pub fn trusted_proxies(&self) -> &[IpNet] {
        &self.trusted_proxies
    }

    /// Overrides options from environment variables named `{prefix}{OPTION}`
    /// in upper case, e.g. `CHAT_MAX_CONNECTIONS=500`, `CHAT_ON_FULL=drop_oldest`,
    /// `CHAT_HEARTBEAT=10s`, `CHAT_MAX_MESSAGE_SIZE=1MiB`. Unset variables keep
    /// their value; a malformed one is an error naming the variable.
    ///
    /// ```
    /// use ws_core::Config;
    /// // SAFETY: single-threaded doctest.
    /// unsafe { std::env::set_var("DOC_SEND_QUEUE", "32") };
    /// let config = Config::DEFAULT.override_from_env("DOC_").unwrap();
    /// assert_eq!(config.send_queue(), 32);
    /// ```
    pub fn override_from_env(self, prefix: &str) -> Result<Config, ConfigError> {
        self.override_with(|option| {
            let name = format!("{prefix}{}", option.to_ascii_uppercase());
            std::env::var(&name).ok().map(|value| (name, value))
        })
    }

    fn override_with(
        mut self,
        lookup: impl Fn(&str) -> Option<(String, String)>,
    ) -> Result<Config, ConfigError> {
        let get = |option: &str| lookup(option);
        let bad = |name: String, value: String, expected: &'static str| ConfigError::Invalid {
            name,
            value,
            expected,
        };
        if let Some((name, value)) = get("max_connections") {
            let n = value
                .parse()
                .map_err(|_| bad(name, value, "a whole number"))?;
            self = self.with_max_connections(n);
        }
        if let Some((name, value)) = get("max_per_user") {
            let n = value
                .parse()
                .map_err(|_| bad(name, value, "a whole number"))?;
            self = self.with_max_per_user(n);
        }
        if let Some((name, value)) = get("send_queue") {
            match value.parse::<usize>() {
                Ok(n) if n > 0 => self = self.with_send_queue(n),
                _ => return Err(bad(name, value, "a whole number of at least 1")),
            }
        }
        if let Some((name, value)) = get("on_full") {
            let policy = parse_overflow(&value)
                .ok_or_else(|| bad(name, value, "`close`, `drop_newest` or `drop_oldest`"))?;
            self = self.with_on_full(policy);
        }
        if let Some((name, value)) = get("on_invalid") {
            let policy =
                parse_on_invalid(&value).ok_or_else(|| bad(name, value, "`error` or `close`"))?;
            self = self.with_on_invalid(policy);
        }
        if let Some((name, value)) = get("on_rate_limit") {
            let policy = match value.as_str() {
                "error" => OnRateLimit::Error,
                "close" => OnRateLimit::Close,
                _ => return Err(bad(name, value, "`error` or `close`")),
            };
            self = self.with_on_rate_limit(policy);
        }
        if let Some((name, value)) = get("rate_limit") {
            let limit = parse_rate(&value)
                .ok_or_else(|| bad(name, value, "a rate such as `20/s` or `600/m`, or `off`"))?;
            self = self.with_rate_limit(limit);
        }
        if let Some((name, value)) = get("rate_burst") {
            match (value.parse::<u32>(), self.rate_limit) {
                (Ok(burst), Some(limit)) if burst > 0 => {
                    self = self.with_rate_limit(Some(limit.with_burst(burst)));
                }
                _ => {
                    return Err(bad(
                        name,
                        value,
                        "a whole number of at least 1, with a rate limit set",
                    ));
                }
            }
        }
        for (option, set) in [
            (
                "max_message_size",
                Config::with_max_message_size as fn(Config, usize) -> Config,
            ),
            ("read_buffer", Config::with_read_buffer),
            ("write_buffer", Config::with_write_buffer),
        ] {
            if let Some((name, value)) = get(option) {
                let bytes = parse_size(&value)
                    .ok_or_else(|| bad(name, value, "a size such as `65536`, `64KiB` or `1MiB`"))?;
                self = set(self, bytes);
            }
        }
        for (option, set) in [
            (
                "heartbeat",
                Config::with_heartbeat as fn(Config, Option<Duration>) -> Config,
            ),
            ("idle_timeout", Config::with_idle_timeout),
        ] {
            if let Some((name, value)) = get(option) {
                let every = parse_duration(&value).ok_or_else(|| {
                    bad(name, value, "a duration such as `30s` or `500ms`, or `off`")
                })?;
                self = set(self, every);
            }
        }
        self.override_untrusted_peers(get)
    }

    /// The environment for [`with_handshake_timeout`](Self::with_handshake_timeout),
    /// [`with_max_per_ip`](Self::with_max_per_ip), [`with_handshake_rate`](Self::with_handshake_rate)
    /// and [`with_trusted_proxies`](Self::with_trusted_proxies) (a comma-separated list).
    fn override_untrusted_peers(
        mut self,
        get: impl Fn(&str) -> Option<(String, String)>,
    ) -> Result<Config, ConfigError> {
        let bad = |name: String, value: String, expected: &'static str| ConfigError::Invalid {
            name,
            value,
            expected,
        };
        if let Some((name, value)) = get("handshake_timeout") {
            match parse_duration(&value) {
                Some(Some(timeout)) if !timeout.is_zero() => {
                    self = self.with_handshake_timeout(timeout);
                }
                _ => return Err(bad(name, value, "a duration such as `10s` or `500ms`")),
            }
        }
        if let Some((name, value)) = get("max_per_ip") {
            let n = value
                .parse()
                .map_err(|_| bad(name, value, "a whole number"))?;
            self = self.with_max_per_ip(n);
        }
        if let Some((name, value)) = get("handshake_rate") {
            let rate = parse_rate(&value)
                .ok_or_else(|| bad(name, value, "a rate such as `10/s` or `600/m`, or `off`"))?;
            self = self.with_handshake_rate(rate);
        }
        if let Some((name, value)) = get("trusted_proxies") {
            let proxies = parse_proxies(&value).ok_or_else(|| {
                bad(
                    name,
                    value,
                    "a comma-separated list of IPs or CIDRs such as `10.0.0.0/8, ::1`",
                )
            })?;
            self = self.with_trusted_proxies(proxies);
        }
        Ok(self)
    }
}

/// Parses `10.0.0.1, 10.0.0.0/8, fd00::/8`; an address alone is one host.
fn parse_proxies(value: &str) -> Option<Vec<IpNet>> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<IpNet>()
                .ok()
                .or_else(|| item.parse::<std::net::IpAddr>().ok().map(IpNet::from))
        })
        .collect()
}

/// A configuration value that could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The variable `name` holds `value`, which is not what was expected.
    #[error("`{name}` is `{value}`; expected {expected}")]
    Invalid {
        /// The variable's name.
        name: String,
        /// Its value.
        value: String,
        /// What it should look like.
        expected: &'static str,
    },
}

fn parse_overflow(value: &str) -> Option<Overflow> {
    match value {
        "close" => Some(Overflow::Close),
        "drop_newest" => Some(Overflow::DropNewest),
        "drop_oldest" => Some(Overflow::DropOldest),
        _ => None,
    }
}

fn parse_on_invalid(value: &str) -> Option<OnInvalid> {
    match value {
        "error" => Some(OnInvalid::Error),
        "close" => Some(OnInvalid::Close),
        _ => None,
    }
}

/// Parses `65536`, `64KiB`, `64KB`, `1MiB`, `1 MB` (binary units: KB = KiB).
fn parse_size(value: &str) -> Option<usize> {
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit() && c != '_')
        .unwrap_or(value.len());
    let (digits, unit) = value.split_at(split);
    let n: usize = digits.replace('_', "").parse().ok()?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(scale)
}

/// Parses `20/s`, `600/m`, `10/500ms`, or `off`.
fn parse_rate(value: &str) -> Option<Option<RateLimit>> {
    let value = value.trim();
    if value == "off" {
        return Some(None);
    }
    let (messages, per) = value.split_once('/')?;
    let messages: u32 = messages.trim().parse().ok().filter(|n| *n > 0)?;
    let per = match per.trim() {
        "s" => Duration::from_secs(1),
        "m" => Duration::from_secs(60),
        "h" => Duration::from_secs(3600),
        other => humantime::parse_duration(other)
            .ok()
            .filter(|d| !d.is_zero())?,
    };
    Some(Some(RateLimit::new(messages, per)))
}

fn parse_duration(value: &str) -> Option<Option<Duration>> {
    match value.trim() {
        "off" | "none" | "0" => Some(None),
        other => humantime::parse_duration(other).ok().map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::DEFAULT.override_with(|option| {
            vars.iter()
                .find(|(k, _)| k == option)
                .map(|(k, v)| (k.to_ascii_uppercase(), v.clone()))
        })
    }

    #[test]
    fn overrides_parse_every_option() {
        let config = with(&[
            ("max_connections", "5"),
            ("send_queue", "8"),
            ("on_full", "drop_oldest"),
            ("max_message_size", "1MiB"),
            ("heartbeat", "off"),
            ("idle_timeout", "1m"),
            ("on_invalid", "close"),
            ("rate_limit", "600/m"),
            ("rate_burst", "5"),
            ("on_rate_limit", "close"),
        ])
        .unwrap();
        assert_eq!(config.max_connections(), 5);
        assert_eq!(config.send_queue(), 8);
        assert_eq!(config.on_full(), Overflow::DropOldest);
        assert_eq!(config.max_message_size(), 1 << 20);
        assert_eq!(config.heartbeat(), None);
        assert_eq!(config.idle_timeout(), Some(Duration::from_secs(60)));
        assert_eq!(config.on_invalid(), OnInvalid::Close);
        assert_eq!(
            config.rate_limit(),
            Some(RateLimit::new(600, Duration::from_secs(60)).with_burst(5))
        );
        assert_eq!(config.on_rate_limit(), OnRateLimit::Close);
    }

    #[test]
    fn malformed_values_name_the_variable() {
        let err = with(&[("send_queue", "0")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`SEND_QUEUE` is `0`; expected a whole number of at least 1"
        );
        assert!(with(&[("max_message_size", "12 parsecs")]).is_err());
        assert!(with(&[("heartbeat", "soon")]).is_err());
    }

    #[test]
    fn untrusted_peer_options_from_the_environment() {
        let config = with(&[
            ("handshake_timeout", "2s"),
            ("max_per_ip", "20"),
            ("handshake_rate", "10/s"),
            ("trusted_proxies", "10.0.0.0/8, 127.0.0.1 ,::1"),
        ])
        .unwrap();
        assert_eq!(config.handshake_timeout(), Duration::from_secs(2));
        assert_eq!(config.max_per_ip(), 20);
        assert_eq!(
            config.handshake_rate(),
            Some(RateLimit::new(10, Duration::from_secs(1)))
        );
        let proxies: Vec<String> = config
            .trusted_proxies()
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(proxies, ["10.0.0.0/8", "127.0.0.1/32", "::1/128"]);
        assert_eq!(Config::DEFAULT.handshake_timeout(), Duration::from_secs(10));
        assert!(with(&[("handshake_timeout", "off")]).is_err());
        assert!(with(&[("handshake_timeout", "0s")]).is_err());
        assert!(with(&[("max_per_ip", "-1")]).is_err());
        assert!(with(&[("handshake_rate", "0/s")]).is_err());
        let err = with(&[("trusted_proxies", "10.0.0.0/33")]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("`TRUSTED_PROXIES` is `10.0.0.0/33`"),
            "{err}"
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("65_536"), Some(65536));
        assert_eq!(parse_size("64KiB"), Some(65536));
        assert_eq!(parse_size("2 MB"), Some(2 << 20));
        assert_eq!(parse_size("1TiB"), None);
    }
}
