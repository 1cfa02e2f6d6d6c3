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
//! | `max_per_user`       | `0`       | connections one user may hold; `0` = unlimited; past it: HTTP 503 at admission, [`SetUserError::TooManyConnections`](crate::SetUserError) from `ctx.set_session` |
//! | `send_queue`         | `256`     | frames queued per connection (at least 1) |
//! | `on_full`            | `"close"` | when a queue is full: `"close"` (close 1013), `"drop_newest"`, `"drop_oldest"` |
//! | `max_message_size`   | `"64KiB"` | largest inbound message; larger: close 1009 |
//! | `heartbeat`          | `"30s"`   | server ping interval; `"off"` disables |
//! | `idle_timeout`       | `"60s"`   | close a peer silent this long (close 1001); `"off"` disables |
//! | `on_invalid`         | `"error"` | malformed inbound: `"error"` (typed error frame) or `"close"` (close 1007) |
//! | `rate_limit`         | off       | inbound messages per connection, e.g. `"20/s"`, `"600/m"` |
//! | `rate_burst`         | the rate  | messages allowed at once above the steady rate |
//! | `on_rate_limit`      | `"error"` | over the limit: `"error"` (message dropped, typed error frame) or `"close"` (close 1008) |
//! | `read_buffer`        | `"1KiB"`  | the most read per syscall between frames, into the worker thread's scratch (an idle connection holds no read buffer) |
//! | `write_buffer`       | `"64KiB"` | ready frames are sent in one vectored write, up to this many bytes (nothing is copied or allocated for it) |
//! | `compression`        | `"deflate"` | `"deflate"`: permessage-deflate (RFC 7692) with the clients that offer it (every browser does); a broadcast is compressed once and shared; `"off"` declines it |
//! | `compress_min_size`  | `"256B"`  | frames with a smaller payload go out uncompressed (not worth it); `0` compresses every frame |
//! | `stall_timeout`      | `"10s"`   | reading pauses while the send queue is half full; a peer whose writer makes no progress this long is closed with 1013 |
//! | `refresh_before`     | `"30s"`   | a session with an expiry ([`Session::expires_at`](crate::Session::expires_at)) gets a `refresh_required` frame this long before it; unrefreshed by the expiry: close 4001 |
//! | `max_rooms`          | `128`     | rooms one connection may be in; `0` = unlimited; past it `ctx.join` fails: [`JoinError::TooManyRooms`](crate::JoinError) |
//! | `max_room_name`      | `255`     | longest room name in bytes; `0` = unlimited; longer: [`JoinError::RoomNameTooLong`](crate::JoinError) |
//! | `handshake_timeout`  | `"10s"`   | from accept to the 101, request head and `authenticate` included; later: dropped (head) or HTTP 503 (`authenticate`) |
//! | `max_per_ip`         | `0`       | connections one client IP may hold; `0` = unlimited; past it: HTTP 503 |
//! | `handshake_rate`     | off       | handshakes per client IP, e.g. `"10/s"`; past it: HTTP 429 |
//! | `history`            | `0`       | messages kept per room for recovery (variants marked `#[ws(server, history)]`); `0` = off: see [`history`](crate::history) |
//! | `history_ttl`        | `"off"`   | how old a kept message may get, e.g. `"5m"`; older: resuming gets `expired` |
//! | `history_bytes`      | `"1MiB"`  | bytes of messages kept per room |
//! | `history_memory`     | `"64MiB"` | bytes of messages kept per node, all rooms together (the oldest go first) |
//! | `history_streams`    | `10_000`  | rooms with a history per node (the least recently written goes first, its epoch with it) |
//! | `trusted_proxies`    | none      | builder and environment only: IPs or CIDRs whose `X-Forwarded-For` names the client |
//! | `allowed_origins`    | none      | builder and environment only: origins besides the server's own whose pages may connect (`*` = any); others get 403 |
//!
//! The defaults are [`Config::DEFAULT`]'s, and written nowhere else: the
//! attribute emits only the options given, applied over it. How values are
//! written, and which are refused: [`Config`].

use std::borrow::Cow;
use std::time::Duration;

// Spelled out so that ws-macros, which compiles this file by `#[path]`, finds
// the grammar at the same place.
#[path = "config/units.rs"]
pub(crate) mod units;

use ipnet::IpNet;
use units::UnitError;

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

/// Whether the server negotiates permessage-deflate (RFC 7692).
///
/// With `Deflate`, a client that offers it (every browser, python
/// `websockets`) gets frames of at least `compress_min_size` bytes
/// compressed, and may send compressed frames; a broadcast is compressed at
/// most once, and the compressed frame is shared by every recipient that
/// negotiated it. Inbound, `max_message_size` applies to the inflated size
/// (past it: close 1009). Clients that do not offer it are unaffected.
///
/// ```
/// use ws_core::{Compression, Config};
/// let config = Config::DEFAULT
///     .with_compression(Compression::Deflate)
///     .with_compress_min_size(512);
/// assert_eq!(config.compression(), Compression::Deflate);
/// assert_eq!(Config::DEFAULT.with_compression(Compression::Off).compression(), Compression::Off);
/// ```
///
/// In the attribute (and `CHAT_COMPRESSION=off`, `CHAT_COMPRESS_MIN_SIZE=1KiB`
/// with [`Config::override_from_env`]):
///
/// ```
/// use ws_core::{ws_protocol, Compression, Protocol};
///
/// #[ws_protocol(compression = "off", compress_min_size = "1KiB")]
/// #[serde(tag = "type", rename_all = "snake_case")]
/// pub enum Quiet {
///     #[ws(client, server)]
///     Echo { text: String },
/// }
///
/// assert_eq!(Quiet::CONFIG.compression(), Compression::Off);
/// assert_eq!(Quiet::CONFIG.compress_min_size(), 1024);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Decline the extension: every frame goes out as it is.
    Off,
    /// Negotiate permessage-deflate with the clients that offer it.
    Deflate,
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
    /// `messages` per `per`; the burst defaults to `messages`. Zero messages
    /// or a zero period are kept as given and refused by [`Config::validate`].
    pub const fn new(messages: u32, per: Duration) -> Self {
        Self {
            messages,
            per,
            burst: messages,
        }
    }

    /// Allows bursts of up to `burst` messages; zero is refused by
    /// [`Config::validate`].
    pub const fn with_burst(mut self, burst: u32) -> Self {
        self.burst = burst;
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
    /// with code `rate_limited` (and the message's `id`, when it carried
    /// one the protocol correlates).
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
///
/// # Values
///
/// The attribute and the environment read values by one grammar:
///
/// | kind     | form | examples |
/// |----------|------|----------|
/// | count    | digits, `_` allowed after the first | `256`, `10_000` |
/// | size     | a count, then optionally `B`, `KiB`, `MiB`, `GiB` (`KB`, `MB`, `GB` are the same binary units; any case) | `65536`, `"64KiB"`, `"1 MB"` |
/// | duration | counts each with a unit `ms`, `s`, `m`, `h` | `"500ms"`, `"30s"`, `"1m30s"` |
/// | rate     | a count `/` `s`, `m`, `h` or a duration | `"20/s"`, `"600/m"`, `"5/500ms"` |
///
/// No signs, fractions or other spellings (`-1`, `"4.2s"`, `"30sec"`,
/// `"64k"`); `heartbeat`, `idle_timeout` and `rate_limit` also take `"off"`.
///
/// # Refusal
///
/// [`Config::validate`] refuses a zero `send_queue`, size, duration, rate or
/// burst, and an `idle_timeout` not longer than `heartbeat`. It runs on every
/// door: the attribute fails to compile, [`Config::override_from_env`] names
/// the variable, and [`ManagerBuilder::try_build`](crate::ManagerBuilder::try_build)
/// returns the [`ConfigError`] (`build` panics with it). No value is clamped.
///
/// ```
/// use ws_core::{Config, ConfigError};
/// let err = Config::DEFAULT.with_send_queue(0).validate().unwrap_err();
/// assert!(matches!(err, ConfigError::Invalid { option: "send_queue", .. }));
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
    compression: Compression,
    compress_min_size: usize,
    stall_timeout: Duration,
    refresh_before: Duration,
    // What one peer may make the registry (and a cluster backend) hold.
    max_rooms: usize,
    max_room_name: usize,
    // Untrusted peers: the handshake deadline and the per-IP limits.
    handshake_timeout: Duration,
    max_per_ip: usize,
    handshake_rate: Option<RateLimit>,
    trusted_proxies: Cow<'static, [IpNet]>,
    allowed_origins: Cow<'static, [Cow<'static, str>]>,
    // Delivery guarantees: the history per stream and its bounds.
    history: usize,
    history_ttl: Option<Duration>,
    history_bytes: usize,
    history_memory: usize,
    history_streams: usize,
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
        // On: browsers offer it on every connection, a broadcast pays for
        // one compression whatever its fan-out, and JSON shrinks 3x or more.
        compression: Compression::Deflate,
        // Below a few hundred bytes deflate saves a few dozen bytes per
        // frame for the cost of a compression: not worth it.
        compress_min_size: 256,
        stall_timeout: Duration::from_secs(10),
        // Centrifugo's client refreshes 25 s ahead; 30 s leaves a
        // round trip to an identity provider room on a slow mobile link.
        refresh_before: Duration::from_secs(30),
        // Centrifugo's defaults (`client_channel_limit` 128, channel names
        // of 255): ample for a client in many chats or lobbies, while a
        // hostile peer creates at most 128 memberships (and, with Redis, 128
        // subscriptions) of at most 255 bytes each.
        max_rooms: 128,
        max_room_name: 255,
        handshake_timeout: Duration::from_secs(10),
        max_per_ip: 0,
        handshake_rate: None,
        trusted_proxies: Cow::Borrowed(&[]),
        allowed_origins: Cow::Borrowed(&[]),
        history: 0,
        history_ttl: None,
        // A room holds at most 16 messages of the default 64 KiB limit, and
        // all rooms together 64 MiB: a peer that sends 1,000 × 64 KiB into
        // each of many rooms evicts the oldest history, never grows memory.
        history_bytes: 1 << 20,
        history_memory: 64 << 20,
        history_streams: 10_000,
    };

    /// Connections admitted at once; `0` means unlimited.
    pub const fn with_max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// Connections one user may hold at once; `0` means unlimited.
    ///
    /// One count per user on this node, whichever way the user was set: past
    /// it, a connect whose `authenticate` names the user gets HTTP 503, and
    /// [`Ctx::set_session`](crate::Ctx::set_session) fails with
    /// [`SetUserError::TooManyConnections`](crate::SetUserError::TooManyConnections).
    /// A connection that changes user moves its count.
    pub const fn with_max_per_user(mut self, max: usize) -> Self {
        self.max_per_user = max;
        self
    }

    /// Frames queued per connection; [`validate`](Self::validate) refuses
    /// `0`: a connection needs room for one frame.
    pub const fn with_send_queue(mut self, frames: usize) -> Self {
        self.send_queue = frames;
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

    /// The most read per syscall between frames, in bytes. The read goes
    /// to the worker thread's scratch buffer and only what arrived is kept,
    /// so an idle connection holds no read buffer.
    pub const fn with_read_buffer(mut self, bytes: usize) -> Self {
        self.read_buffer = bytes;
        self
    }

    /// Outbound frames are coalesced up to this many bytes before a write.
    pub const fn with_write_buffer(mut self, bytes: usize) -> Self {
        self.write_buffer = bytes;
        self
    }

    /// Whether permessage-deflate is negotiated: see [`Compression`].
    pub const fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Frames with a smaller payload than this many bytes are sent
    /// uncompressed to every connection; `0` compresses all.
    pub const fn with_compress_min_size(mut self, bytes: usize) -> Self {
        self.compress_min_size = bytes;
        self
    }

    /// How long a connection's reading may stay paused because its send
    /// queue is backed up while its writer makes no progress (the peer does
    /// not read); then it is closed with 1013.
    ///
    /// A connection stops reading while its send queue is half full, and
    /// resumes once the writer has drained it to a quarter, so a peer that
    /// reads what it asked for is never evicted for its own burst.
    pub const fn with_stall_timeout(mut self, after: Duration) -> Self {
        self.stall_timeout = after;
        self
    }

    /// How long before a session's [expiry](crate::Session::expires_at)
    /// the server sends the connection a
    /// [`RefreshRequired`](crate::RefreshRequired) frame. A session that
    /// expires sooner than this gets it at once. If no valid `refresh`
    /// arrives by the expiry the connection is closed with
    /// [`close_code::SESSION_EXPIRED`](crate::close_code::SESSION_EXPIRED).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ws_core::Config;
    ///
    /// let config = Config::DEFAULT.with_refresh_before(Duration::from_secs(60));
    /// assert_eq!(config.refresh_before(), Duration::from_secs(60));
    /// assert_eq!(Config::DEFAULT.refresh_before(), Duration::from_secs(30));
    /// ```
    pub const fn with_refresh_before(mut self, lead: Duration) -> Self {
        self.refresh_before = lead;
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

    /// The most read per syscall between frames, in bytes.
    pub const fn read_buffer(&self) -> usize {
        self.read_buffer
    }

    /// The write coalescing buffer in bytes.
    pub const fn write_buffer(&self) -> usize {
        self.write_buffer
    }

    /// Whether permessage-deflate is negotiated.
    pub const fn compression(&self) -> Compression {
        self.compression
    }

    /// The smallest frame that is sent compressed.
    pub const fn compress_min_size(&self) -> usize {
        self.compress_min_size
    }

    /// How long reading may stay paused behind a writer that makes no progress.
    pub const fn stall_timeout(&self) -> Duration {
        self.stall_timeout
    }

    /// How long before a session's expiry a refresh is asked for.
    pub const fn refresh_before(&self) -> Duration {
        self.refresh_before
    }

    /// Checks every rule an option's value must keep; the first broken one
    /// is the error. The attribute runs this at compile time, the builder in
    /// [`ManagerBuilder::try_build`](crate::ManagerBuilder::try_build) and the
    /// environment in [`override_from_env`](Self::override_from_env), so a
    /// value is refused the same way whichever door it came through. Nothing
    /// is clamped or corrected.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ws_core::Config;
    ///
    /// assert!(Config::DEFAULT.validate().is_ok());
    /// let err = Config::DEFAULT.with_heartbeat(Some(Duration::ZERO)).validate().unwrap_err();
    /// assert_eq!(err.to_string(), r#"heartbeat must be a non-zero duration like "30s" or "off""#);
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self.errors().into_iter().next() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Every broken rule, in option order: the attribute reports them all.
    pub(crate) fn errors(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let mut refuse = |broken: bool, option: &'static str| {
            if broken {
                errors.push(ConfigError::invalid(option));
            }
        };
        // One line per rule; an option without one takes every value.
        refuse(self.send_queue == 0, "send_queue");
        refuse(self.max_message_size == 0, "max_message_size");
        refuse(self.heartbeat.is_some_and(|d| d.is_zero()), "heartbeat");
        refuse(
            self.idle_timeout.is_some_and(|d| d.is_zero()),
            "idle_timeout",
        );
        if let Some(limit) = self.rate_limit {
            refuse(limit.messages == 0 || limit.per.is_zero(), "rate_limit");
            // A burst of zero that only follows zero messages is not news.
            refuse(limit.burst == 0 && limit.messages != 0, "rate_burst");
        }
        refuse(self.read_buffer == 0, "read_buffer");
        refuse(self.write_buffer == 0, "write_buffer");
        refuse(self.stall_timeout.is_zero(), "stall_timeout");
        refuse(self.refresh_before.is_zero(), "refresh_before");
        refuse(self.handshake_timeout.is_zero(), "handshake_timeout");
        refuse(self.history_ttl.is_some_and(|d| d.is_zero()), "history_ttl");
        refuse(self.history_bytes == 0, "history_bytes");
        refuse(self.history_memory == 0, "history_memory");
        refuse(self.history_streams == 0, "history_streams");
        if let Some(rate) = self.handshake_rate {
            refuse(
                rate.messages == 0 || rate.per.is_zero() || rate.burst == 0,
                "handshake_rate",
            );
        }
        if let (Some(heartbeat), Some(idle_timeout)) = (self.heartbeat, self.idle_timeout)
            && !heartbeat.is_zero()
            && idle_timeout <= heartbeat
        {
            errors.push(ConfigError::IdleWithinHeartbeat {
                idle_timeout,
                heartbeat,
            });
        }
        errors
    }

    // ---- Untrusted peers: handshake deadline, per-IP limits. ----

    /// How long a connection has from its accept to the 101: the request
    /// head must arrive within it (else the connection is dropped; set by
    /// [`serve`](crate::serve)) and `authenticate` must finish within what
    /// is left (else HTTP 503).
    pub const fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
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

    /// Origins other than the server's own whose pages may open a socket.
    /// A browser handshake (one with an `Origin` header) is accepted when
    /// its origin names the host it asked for (`Host`, or `X-Forwarded-Host`
    /// from a [trusted proxy](Self::with_trusted_proxies)) or matches an
    /// entry here: an exact origin (`https://app.example`), every subdomain
    /// over one scheme (`https://*.example.com`), or `*` for any. Otherwise
    /// it gets 403 before the 101: without this check any site a logged-in
    /// user visits could open a socket with their cookies. Clients that are
    /// not browsers send no `Origin` and are not checked.
    ///
    /// ```
    /// use ws_core::Config;
    /// let config = Config::DEFAULT.with_allowed_origins(["https://app.example", "https://*.example.org"]);
    /// assert_eq!(config.allowed_origins().len(), 2);
    /// ```
    pub fn with_allowed_origins<S: Into<Cow<'static, str>>>(
        mut self,
        origins: impl IntoIterator<Item = S>,
    ) -> Self {
        self.allowed_origins = origins.into_iter().map(Into::into).collect();
        self
    }

    /// Origins other than the server's own whose pages may open a socket.
    pub fn allowed_origins(&self) -> &[Cow<'static, str>] {
        &self.allowed_origins
    }

    /// Overrides options from environment variables named `{prefix}{OPTION}`
    /// in upper case, e.g. `CHAT_MAX_CONNECTIONS=500`, `CHAT_ON_FULL=drop_oldest`,
    /// `CHAT_HEARTBEAT=10s`, `CHAT_MAX_MESSAGE_SIZE=1MiB`, in the grammar
    /// [above](Config#values). Unset variables keep their value.
    /// The result is [validated](Self::validate); a value that does not read,
    /// or breaks a rule, is an error naming the variable and the accepted form:
    ///
    /// ```
    /// use ws_core::Config;
    /// // SAFETY: single-threaded doctest.
    /// unsafe { std::env::set_var("DOC_SEND_QUEUE", "32") };
    /// let config = Config::DEFAULT.override_from_env("DOC_").unwrap();
    /// assert_eq!(config.send_queue(), 32);
    ///
    /// unsafe { std::env::set_var("DOC_HEARTBEAT", "0s") };
    /// let err = Config::DEFAULT.override_from_env("DOC_").unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     r#"DOC_HEARTBEAT="0s": heartbeat must be a non-zero duration like "30s" or "off""#
    /// );
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
        let mut given = Vec::new();
        for (option, set) in ENV_OPTIONS {
            let Some((variable, value)) = lookup(option) else {
                continue;
            };
            match set(self, &value) {
                Ok(config) => self = config,
                Err(error) => {
                    return Err(ConfigError::unreadable(option, error).in_variable(variable, value));
                }
            }
            given.push((*option, variable, value));
        }
        self.validate().map_err(|error| {
            // Blame the first option of the error that a variable set; the
            // others came from the attribute, validated already.
            let culprit = error
                .options()
                .iter()
                .find_map(|option| given.iter().find(|(o, _, _)| o == option));
            match culprit {
                Some((_, variable, value)) => error.in_variable(variable.clone(), value.clone()),
                None => error,
            }
        })?;
        Ok(self)
    }
}

/// What one peer may make the server hold: the rooms a connection is in and
/// the length of their names. Each membership costs registry memory, and
/// with a cluster backend each room one subscription.
impl Config {
    /// Rooms one connection may be in at once; `0` means unlimited. Past
    /// it, [`Ctx::join`](crate::Ctx::join) fails with
    /// [`JoinError::TooManyRooms`](crate::JoinError::TooManyRooms).
    ///
    /// ```
    /// use ws_core::Config;
    /// let config = Config::DEFAULT.with_max_rooms(16).with_max_room_name(64);
    /// assert_eq!((config.max_rooms(), config.max_room_name()), (16, 64));
    /// assert_eq!(Config::DEFAULT.max_rooms(), 128);
    /// ```
    pub const fn with_max_rooms(mut self, max: usize) -> Self {
        self.max_rooms = max;
        self
    }

    /// The longest room name in bytes; `0` means unlimited. A longer one
    /// fails [`Ctx::join`](crate::Ctx::join) with
    /// [`JoinError::RoomNameTooLong`](crate::JoinError::RoomNameTooLong).
    pub const fn with_max_room_name(mut self, bytes: usize) -> Self {
        self.max_room_name = bytes;
        self
    }

    /// Rooms one connection may be in at once; `0` means unlimited.
    pub const fn max_rooms(&self) -> usize {
        self.max_rooms
    }

    /// The longest room name in bytes; `0` means unlimited.
    pub const fn max_room_name(&self) -> usize {
        self.max_room_name
    }
}

/// Delivery guarantees: how much history each room keeps for members that
/// resume after a reconnect, and what all of it may hold on one node. See
/// [`history`](crate::history).
impl Config {
    /// Messages kept per room; `0` (the default) turns history off, and
    /// then it costs nothing. Only the variants marked
    /// `#[ws(server, history)]` are kept, and only when sent to a room.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ws_core::Config;
    /// let config = Config::DEFAULT
    ///     .with_history(1000)
    ///     .with_history_ttl(Some(Duration::from_secs(300)))
    ///     .with_history_bytes(4 << 20)
    ///     .with_history_memory(256 << 20)
    ///     .with_history_streams(50_000);
    /// assert_eq!(config.history(), 1000);
    /// assert_eq!(config.history_ttl(), Some(Duration::from_secs(300)));
    /// assert_eq!((config.history_bytes(), config.history_memory()), (4 << 20, 256 << 20));
    /// assert_eq!(config.history_streams(), 50_000);
    /// assert!(config.validate().is_ok());
    /// ```
    pub const fn with_history(mut self, messages: usize) -> Self {
        self.history = messages;
        self
    }

    /// How old a kept message may get; `None` (the default) keeps messages
    /// until the other bounds push them out. A member resuming from a
    /// message that expired is told `expired`.
    pub const fn with_history_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.history_ttl = ttl;
        self
    }

    /// Bytes of encoded messages kept per room (at least 1).
    pub const fn with_history_bytes(mut self, bytes: usize) -> Self {
        self.history_bytes = bytes;
        self
    }

    /// Bytes of encoded messages kept per node, all rooms together (at
    /// least 1); past it the oldest messages of any room go first.
    pub const fn with_history_memory(mut self, bytes: usize) -> Self {
        self.history_memory = bytes;
        self
    }

    /// Rooms with a history per node (at least 1); past it the room written
    /// least recently loses its history and its epoch, so members resuming
    /// it are told `epoch_changed`.
    pub const fn with_history_streams(mut self, max: usize) -> Self {
        self.history_streams = max;
        self
    }

    /// Messages kept per room; `0` is off.
    pub const fn history(&self) -> usize {
        self.history
    }

    /// How old a kept message may get; `None` is no limit.
    pub const fn history_ttl(&self) -> Option<Duration> {
        self.history_ttl
    }

    /// Bytes kept per room.
    pub const fn history_bytes(&self) -> usize {
        self.history_bytes
    }

    /// Bytes kept per node.
    pub const fn history_memory(&self) -> usize {
        self.history_memory
    }

    /// Rooms with a history per node.
    pub const fn history_streams(&self) -> usize {
        self.history_streams
    }
}

/// How each option reads from a variable, in documentation order (a burst
/// after its rate). Adding an option: one line here, one in [`FORMS`], and a
/// rule in [`Config::errors`] if some values must be refused.
#[allow(clippy::type_complexity)]
const ENV_OPTIONS: &[(&str, fn(Config, &str) -> Result<Config, UnitError>)] = &[
    ("max_connections", |c, v| {
        Ok(c.with_max_connections(to_usize(units::parse_count(v)?)?))
    }),
    ("max_per_user", |c, v| {
        Ok(c.with_max_per_user(to_usize(units::parse_count(v)?)?))
    }),
    ("send_queue", |c, v| {
        Ok(c.with_send_queue(to_usize(units::parse_count(v)?)?))
    }),
    ("on_full", |c, v| {
        Ok(c.with_on_full(match v.trim() {
            "close" => Overflow::Close,
            "drop_newest" => Overflow::DropNewest,
            "drop_oldest" => Overflow::DropOldest,
            _ => return Err(UnitError::Malformed),
        }))
    }),
    ("max_message_size", |c, v| {
        Ok(c.with_max_message_size(to_usize(units::parse_size(v)?)?))
    }),
    ("heartbeat", |c, v| {
        Ok(c.with_heartbeat(units::or_off(v, units::parse_duration)?))
    }),
    ("idle_timeout", |c, v| {
        Ok(c.with_idle_timeout(units::or_off(v, units::parse_duration)?))
    }),
    ("on_invalid", |c, v| {
        Ok(c.with_on_invalid(match v.trim() {
            "error" => OnInvalid::Error,
            "close" => OnInvalid::Close,
            _ => return Err(UnitError::Malformed),
        }))
    }),
    ("rate_limit", |c, v| {
        let rate = units::or_off(v, units::parse_rate)?;
        Ok(c.with_rate_limit(rate.map(|(messages, per)| RateLimit::new(messages, per))))
    }),
    ("rate_burst", |c, v| {
        let burst = u32::try_from(units::parse_count(v)?).map_err(|_| UnitError::TooLarge)?;
        match c.rate_limit {
            Some(limit) => Ok(c.with_rate_limit(Some(limit.with_burst(burst)))),
            None => Err(UnitError::Malformed),
        }
    }),
    ("on_rate_limit", |c, v| {
        Ok(c.with_on_rate_limit(match v.trim() {
            "error" => OnRateLimit::Error,
            "close" => OnRateLimit::Close,
            _ => return Err(UnitError::Malformed),
        }))
    }),
    ("read_buffer", |c, v| {
        Ok(c.with_read_buffer(to_usize(units::parse_size(v)?)?))
    }),
    ("write_buffer", |c, v| {
        Ok(c.with_write_buffer(to_usize(units::parse_size(v)?)?))
    }),
    ("compression", |c, v| {
        Ok(c.with_compression(match v.trim() {
            "deflate" => Compression::Deflate,
            "off" => Compression::Off,
            _ => return Err(UnitError::Malformed),
        }))
    }),
    ("compress_min_size", |c, v| {
        Ok(c.with_compress_min_size(to_usize(units::parse_size(v)?)?))
    }),
    ("stall_timeout", |c, v| {
        Ok(c.with_stall_timeout(units::parse_duration(v)?))
    }),
    ("refresh_before", |c, v| {
        Ok(c.with_refresh_before(units::parse_duration(v)?))
    }),
    ("max_rooms", |c, v| {
        Ok(c.with_max_rooms(to_usize(units::parse_count(v)?)?))
    }),
    ("max_room_name", |c, v| {
        Ok(c.with_max_room_name(to_usize(units::parse_count(v)?)?))
    }),
    ("handshake_timeout", |c, v| {
        Ok(c.with_handshake_timeout(units::parse_duration(v)?))
    }),
    ("max_per_ip", |c, v| {
        Ok(c.with_max_per_ip(to_usize(units::parse_count(v)?)?))
    }),
    ("handshake_rate", |c, v| {
        Ok(c.with_handshake_rate(
            units::or_off(v, units::parse_rate)?.map(|(n, per)| RateLimit::new(n, per)),
        ))
    }),
    ("trusted_proxies", |c, v| {
        Ok(c.with_trusted_proxies(parse_proxies(v).ok_or(UnitError::Malformed)?))
    }),
    ("allowed_origins", |c, v| {
        let origins: Vec<String> = v
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_owned)
            .collect();
        if origins.iter().any(|o| o != "*" && !o.contains("://")) {
            return Err(UnitError::Malformed);
        }
        Ok(c.with_allowed_origins(origins))
    }),
    ("history", |c, v| {
        Ok(c.with_history(to_usize(units::parse_count(v)?)?))
    }),
    ("history_ttl", |c, v| {
        Ok(c.with_history_ttl(units::or_off(v, units::parse_duration)?))
    }),
    ("history_bytes", |c, v| {
        Ok(c.with_history_bytes(to_usize(units::parse_size(v)?)?))
    }),
    ("history_memory", |c, v| {
        Ok(c.with_history_memory(to_usize(units::parse_size(v)?)?))
    }),
    ("history_streams", |c, v| {
        Ok(c.with_history_streams(to_usize(units::parse_count(v)?)?))
    }),
];

/// The accepted form of each option, named in every error about it.
const FORMS: &[(&str, &str)] = &[
    (
        "max_connections",
        r#"a whole number like "10_000", or 0 for unlimited"#,
    ),
    (
        "max_per_user",
        r#"a whole number like "4", or 0 for unlimited"#,
    ),
    (
        "send_queue",
        r#"a whole number of frames of at least 1, like "256""#,
    ),
    (
        "on_full",
        r#"one of "close", "drop_newest" or "drop_oldest""#,
    ),
    (
        "max_message_size",
        r#"a non-zero size like "64KiB" or "1MiB""#,
    ),
    ("heartbeat", r#"a non-zero duration like "30s" or "off""#),
    ("idle_timeout", r#"a non-zero duration like "60s" or "off""#),
    ("on_invalid", r#"one of "error" or "close""#),
    (
        "rate_limit",
        r#"a rate of at least 1 message per non-zero period, like "20/s", "600/m" or "5/500ms", or "off""#,
    ),
    (
        "rate_burst",
        r#"a whole number of at least 1, like "40", with a rate_limit"#,
    ),
    ("on_rate_limit", r#"one of "error" or "close""#),
    ("read_buffer", r#"a non-zero size like "1KiB""#),
    ("write_buffer", r#"a non-zero size like "64KiB""#),
    ("compression", r#"one of "deflate" or "off""#),
    (
        "compress_min_size",
        r#"a size like "256B", or 0 to compress every frame"#,
    ),
    ("stall_timeout", r#"a non-zero duration like "10s""#),
    ("refresh_before", r#"a non-zero duration like "30s""#),
    (
        "max_rooms",
        r#"a whole number like "128", or 0 for unlimited"#,
    ),
    (
        "max_room_name",
        r#"a whole number of bytes like "255", or 0 for unlimited"#,
    ),
    ("handshake_timeout", r#"a non-zero duration like "10s""#),
    (
        "max_per_ip",
        r#"a whole number like "20", or 0 for unlimited"#,
    ),
    (
        "handshake_rate",
        r#"a rate of at least 1 handshake per non-zero period, like "10/s", or "off""#,
    ),
    (
        "trusted_proxies",
        r#"a comma-separated list of IPs or CIDRs like "10.0.0.0/8, ::1""#,
    ),
    (
        "allowed_origins",
        r#"a comma-separated list of origins like "https://app.example, https://*.example.org", or "*""#,
    ),
    (
        "history",
        r#"a whole number of messages like "1000", or 0 for off"#,
    ),
    ("history_ttl", r#"a non-zero duration like "5m" or "off""#),
    ("history_bytes", r#"a non-zero size like "1MiB""#),
    ("history_memory", r#"a non-zero size like "64MiB""#),
    (
        "history_streams",
        r#"a whole number of rooms of at least 1, like "10_000""#,
    ),
];

fn expected(option: &str) -> &'static str {
    form(option).1
}

/// `option`'s name as a `'static` and its accepted form.
fn form(option: &str) -> (&'static str, &'static str) {
    let found = FORMS.iter().find(|(name, _)| *name == option);
    debug_assert!(found.is_some(), "option `{option}` has no entry in FORMS");
    found.copied().unwrap_or(("option", "a valid value"))
}

fn to_usize(n: u64) -> Result<usize, UnitError> {
    usize::try_from(n).map_err(|_| UnitError::TooLarge)
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

/// A configuration value that does not read, or breaks its option's rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `option` does not read as, or is not, its accepted form.
    #[error("{option} must be {expected}")]
    Invalid {
        /// The option, as the attribute names it.
        option: &'static str,
        /// What it accepts.
        expected: &'static str,
    },
    /// `option` holds a number too large for it.
    #[error("{option} is too large; it must be {expected}")]
    TooLarge {
        /// The option, as the attribute names it.
        option: &'static str,
        /// What it accepts.
        expected: &'static str,
    },
    /// A peer that answers every ping would still be closed as idle.
    #[error(
        "idle_timeout ({}) must be longer than heartbeat ({}), or \"off\": a peer that answers every ping would still be closed as idle",
        units::format_duration(*.idle_timeout),
        units::format_duration(*.heartbeat)
    )]
    IdleWithinHeartbeat {
        /// The idle timeout.
        idle_timeout: Duration,
        /// The heartbeat.
        heartbeat: Duration,
    },
    /// The environment variable `variable` holds `value`, which is refused.
    #[error("{variable}={value:?}: {error}")]
    Variable {
        /// The variable's name, e.g. `CHAT_HEARTBEAT`.
        variable: String,
        /// Its value.
        value: String,
        /// Why it is refused.
        error: Box<ConfigError>,
    },
}

impl ConfigError {
    fn invalid(option: &'static str) -> Self {
        ConfigError::Invalid {
            option,
            expected: expected(option),
        }
    }

    /// `option`'s text is not of its form, or its number does not fit.
    pub(crate) fn unreadable(option: &str, error: UnitError) -> Self {
        let (option, expected) = form(option);
        match error {
            UnitError::Malformed => ConfigError::Invalid { option, expected },
            UnitError::TooLarge => ConfigError::TooLarge { option, expected },
        }
    }

    fn in_variable(self, variable: String, value: String) -> Self {
        ConfigError::Variable {
            variable,
            value,
            error: Box::new(self),
        }
    }

    /// The options this error is about, the one to change first.
    pub fn options(&self) -> &[&'static str] {
        match self {
            ConfigError::Invalid { option, .. } | ConfigError::TooLarge { option, .. } => {
                std::slice::from_ref(option)
            }
            ConfigError::IdleWithinHeartbeat { .. } => &["idle_timeout", "heartbeat"],
            ConfigError::Variable { error, .. } => error.options(),
        }
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
                .map(|(k, v)| (format!("CHAT_{}", k.to_ascii_uppercase()), v.clone()))
        })
    }

    fn refused(option: &str, value: &str) -> String {
        match with(&[(option, value), ("rate_limit", "20/s")]) {
            Ok(config) => panic!("CHAT_{option}={value:?} accepted as {config:?}"),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn overrides_parse_every_option() {
        let config = with(&[
            ("max_connections", "5"),
            ("max_per_user", "0"),
            ("send_queue", "8"),
            ("on_full", "drop_oldest"),
            ("max_message_size", "1MiB"),
            ("heartbeat", "off"),
            ("idle_timeout", "1m"),
            ("on_invalid", "close"),
            ("rate_limit", "600/m"),
            ("rate_burst", "5"),
            ("on_rate_limit", "close"),
            ("read_buffer", "4_096"),
            ("write_buffer", "16 KiB"),
            ("compression", "off"),
            ("compress_min_size", "1KiB"),
        ])
        .unwrap();
        assert_eq!(config.max_connections(), 5);
        assert_eq!(config.max_per_user(), 0);
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
        assert_eq!(config.read_buffer(), 4096);
        assert_eq!(config.write_buffer(), 16 << 10);
        assert_eq!(config.compression(), Compression::Off);
        assert_eq!(config.compress_min_size(), 1 << 10);
        let every = with(&[("compression", "deflate"), ("compress_min_size", "0")]).unwrap();
        assert_eq!(every.compression(), Compression::Deflate);
        assert_eq!(every.compress_min_size(), 0);
    }

    /// Every option that has a zero to refuse, at zero, negative, too large
    /// and malformed: the variable, its value and the accepted form.
    #[test]
    fn every_option_refuses_zero_negative_overflow_and_malformed() {
        let count_forms = [
            ("max_connections", FORMS[0].1),
            ("max_per_user", FORMS[1].1),
        ];
        for (option, form) in count_forms {
            let var = option.to_ascii_uppercase();
            assert_eq!(with(&[(option, "0")]).map(|_| ()), Ok(()), "0 is unlimited");
            for bad in ["-1", "ten", "1.5", "1KiB", ""] {
                assert_eq!(
                    refused(option, bad),
                    format!("CHAT_{var}={bad:?}: {option} must be {form}")
                );
            }
            assert_eq!(
                refused(option, "99999999999999999999"),
                format!(
                    "CHAT_{var}=\"99999999999999999999\": {option} is too large; it must be {form}"
                )
            );
        }
        for option in [
            "send_queue",
            "max_message_size",
            "heartbeat",
            "idle_timeout",
            "rate_limit",
            "rate_burst",
            "read_buffer",
            "write_buffer",
        ] {
            let var = option.to_ascii_uppercase();
            let form = expected(option);
            let zero = match option {
                "heartbeat" | "idle_timeout" => "0s",
                "rate_limit" => "0/s",
                "max_message_size" | "read_buffer" | "write_buffer" => "0KiB",
                _ => "0",
            };
            let overflow = match option {
                "heartbeat" | "idle_timeout" => "99999999999999999h",
                "rate_limit" => "4294967296/s",
                "rate_burst" => "4294967296",
                "max_message_size" | "read_buffer" | "write_buffer" => "18446744073709551616KiB",
                _ => "99999999999999999999",
            };
            for bad in [
                zero, "-1", "-1s", "ten", "1.5", "4.2s", "30sec", "", "off off",
            ] {
                assert_eq!(
                    refused(option, bad),
                    format!("CHAT_{var}={bad:?}: {option} must be {form}"),
                );
            }
            assert_eq!(
                refused(option, overflow),
                format!("CHAT_{var}={overflow:?}: {option} is too large; it must be {form}"),
            );
        }
        for option in ["on_full", "on_invalid", "on_rate_limit", "compression"] {
            let var = option.to_ascii_uppercase();
            for bad in ["0", "-1", "Close", "drop", ""] {
                assert_eq!(
                    refused(option, bad),
                    format!("CHAT_{var}={bad:?}: {option} must be {}", expected(option))
                );
            }
        }
    }

    #[test]
    fn the_issue_s_examples() {
        assert_eq!(
            with(&[("heartbeat", "0s")]).unwrap_err().to_string(),
            r#"CHAT_HEARTBEAT="0s": heartbeat must be a non-zero duration like "30s" or "off""#
        );
        assert_eq!(
            with(&[("write_buffer", "0")]).unwrap_err().to_string(),
            r#"CHAT_WRITE_BUFFER="0": write_buffer must be a non-zero size like "64KiB""#
        );
        assert_eq!(
            with(&[("max_message_size", "0")]).unwrap_err().to_string(),
            r#"CHAT_MAX_MESSAGE_SIZE="0": max_message_size must be a non-zero size like "64KiB" or "1MiB""#
        );
        // The attribute's grammar, which the environment refused before.
        assert_eq!(
            with(&[("heartbeat", "1_000ms")]).unwrap().heartbeat(),
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn a_burst_needs_a_rate() {
        assert_eq!(
            with(&[("rate_burst", "5")]).unwrap_err().to_string(),
            r#"CHAT_RATE_BURST="5": rate_burst must be a whole number of at least 1, like "40", with a rate_limit"#
        );
        // A rate from the attribute is one to burst above.
        let limited =
            Config::DEFAULT.with_rate_limit(Some(RateLimit::new(2, Duration::from_secs(1))));
        let config = limited
            .override_with(|o| (o == "rate_burst").then(|| ("B".into(), "9".into())))
            .unwrap();
        assert_eq!(config.rate_limit().unwrap().burst(), 9);
    }

    #[test]
    fn idle_timeout_is_checked_against_heartbeat_naming_the_variable_given() {
        let within = r#"idle_timeout (1m) must be longer than heartbeat (2m), or "off": a peer that answers every ping would still be closed as idle"#;
        assert_eq!(
            with(&[("heartbeat", "2m")]).unwrap_err().to_string(),
            format!(r#"CHAT_HEARTBEAT="2m": {within}"#)
        );
        assert_eq!(
            with(&[("heartbeat", "2m"), ("idle_timeout", "1m")])
                .unwrap_err()
                .to_string(),
            format!(r#"CHAT_IDLE_TIMEOUT="1m": {within}"#)
        );
        assert!(with(&[("heartbeat", "2m"), ("idle_timeout", "off")]).is_ok());
        assert!(with(&[("heartbeat", "2m"), ("idle_timeout", "2m1s")]).is_ok());
    }

    #[test]
    fn validate_refuses_what_the_setters_take() {
        let d = Duration::from_secs;
        let rate = |n, per| Some(RateLimit::new(n, per));
        let cases: [(Config, &str); 11] = [
            (Config::DEFAULT.with_send_queue(0), "send_queue"),
            (Config::DEFAULT.with_max_message_size(0), "max_message_size"),
            (
                Config::DEFAULT.with_heartbeat(Some(Duration::ZERO)),
                "heartbeat",
            ),
            (
                Config::DEFAULT.with_idle_timeout(Some(Duration::ZERO)),
                "idle_timeout",
            ),
            (Config::DEFAULT.with_rate_limit(rate(0, d(1))), "rate_limit"),
            (
                Config::DEFAULT.with_rate_limit(rate(1, Duration::ZERO)),
                "rate_limit",
            ),
            (
                Config::DEFAULT.with_rate_limit(Some(RateLimit::new(1, d(1)).with_burst(0))),
                "rate_burst",
            ),
            (Config::DEFAULT.with_read_buffer(0), "read_buffer"),
            (Config::DEFAULT.with_write_buffer(0), "write_buffer"),
            (Config::DEFAULT.with_heartbeat(Some(d(60))), "idle_timeout"),
            (
                Config::DEFAULT.with_idle_timeout(Some(d(1))),
                "idle_timeout",
            ),
        ];
        for (config, option) in cases {
            let err = config.validate().unwrap_err();
            assert_eq!(err.options()[0], option, "{err}");
        }
        // Nothing was clamped on the way.
        assert_eq!(Config::DEFAULT.with_send_queue(0).send_queue(), 0);
        assert_eq!(RateLimit::new(0, Duration::ZERO).with_burst(0).burst(), 0);
        assert_eq!(
            Config::DEFAULT
                .with_send_queue(0)
                .with_write_buffer(0)
                .errors()
                .len(),
            2
        );
    }

    #[test]
    fn every_form_has_an_env_option_and_back() {
        let env: Vec<&str> = ENV_OPTIONS.iter().map(|(o, _)| *o).collect();
        let forms: Vec<&str> = FORMS.iter().map(|(o, _)| *o).collect();
        assert_eq!(env, forms);
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
        assert_eq!(
            with(&[("handshake_timeout", "0s")])
                .unwrap_err()
                .to_string(),
            r#"CHAT_HANDSHAKE_TIMEOUT="0s": handshake_timeout must be a non-zero duration like "10s""#
        );
        assert!(with(&[("max_per_ip", "-1")]).is_err());
        assert!(with(&[("handshake_rate", "0/s")]).is_err());
        assert_eq!(
            with(&[("trusted_proxies", "10.0.0.0/33")])
                .unwrap_err()
                .to_string(),
            r#"CHAT_TRUSTED_PROXIES="10.0.0.0/33": trusted_proxies must be a comma-separated list of IPs or CIDRs like "10.0.0.0/8, ::1""#
        );
    }

    #[test]
    fn peer_limits_from_the_environment() {
        let config = with(&[("max_rooms", "16"), ("max_room_name", "0")]).unwrap();
        assert_eq!((config.max_rooms(), config.max_room_name()), (16, 0));
        assert_eq!(
            with(&[("max_rooms", "-1")]).unwrap_err().to_string(),
            r#"CHAT_MAX_ROOMS="-1": max_rooms must be a whole number like "128", or 0 for unlimited"#
        );
        assert!(with(&[("max_room_name", "1KiB")]).is_err());
        assert!(with(&[("max_rooms", "99999999999999999999999")]).is_err());
    }
}
