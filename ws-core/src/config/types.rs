//! The types of option values: the policies, and the rates.

use std::time::Duration;

use super::ConfigError;
use super::table::choices;
use super::units;

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
/// with [`Config::override_from_env`](super::Config::override_from_env)):
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
    /// or a zero period are kept as given and refused by [`Config::validate`](super::Config::validate).
    pub const fn new(messages: u32, per: Duration) -> Self {
        Self {
            messages,
            per,
            burst: messages,
        }
    }

    /// Allows bursts of up to `burst` messages; zero is refused by
    /// [`Config::validate`](super::Config::validate).
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

/// The grammar of the `rate_limit` option: `"20/s"`, `"600/m"`,
/// `"3_600/h"`, `"5/500ms"`; the burst is then the rate.
///
/// ```
/// use std::time::Duration;
/// use ws_core::{ConfigError, RateLimit};
///
/// let limit: RateLimit = "20/s".parse()?;
/// assert_eq!(limit, RateLimit::new(20, Duration::from_secs(1)));
/// assert_eq!("5/500ms".parse::<RateLimit>()?.per(), Duration::from_millis(500));
/// assert!("20 per second".parse::<RateLimit>().is_err());
/// assert!("0/s".parse::<RateLimit>().is_err());
/// # Ok::<(), ConfigError>(())
/// ```
impl std::str::FromStr for RateLimit {
    type Err = ConfigError;

    fn from_str(text: &str) -> Result<Self, ConfigError> {
        let (messages, per) = units::parse_rate(text)
            .map_err(|error| ConfigError::unreadable("rate_limit", error))?;
        if messages == 0 || per.is_zero() {
            return Err(ConfigError::invalid("rate_limit"));
        }
        Ok(RateLimit::new(messages, per))
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

/// A budget of bytes per period, for the work compressed messages cause:
/// see [`Config::with_inflate_rate`](super::Config::with_inflate_rate). Bursts of up to one period's worth.
///
/// ```
/// use std::time::Duration;
/// use ws_core::ByteRate;
/// let rate = ByteRate::new(1 << 20, Duration::from_secs(1));
/// assert_eq!((rate.bytes(), rate.per()), (1 << 20, Duration::from_secs(1)));
/// ```
///
/// In the attribute (and `CHAT_INFLATE_RATE=4MiB/s` with
/// [`Config::override_from_env`](super::Config::override_from_env)), with the fragment bounds beside it:
///
/// ```
/// use std::time::Duration;
/// use ws_core::{ws_protocol, ByteRate, Protocol};
///
/// #[ws_protocol(inflate_rate = "4MiB/s", inflate_node_rate = "off",
///               max_fragments = 64, fragment_timeout = "5s")]
/// #[serde(tag = "type", rename_all = "snake_case")]
/// pub enum Docs {
///     #[ws(client, server)]
///     Edit { text: String },
/// }
///
/// let rate = ByteRate::new(4 << 20, Duration::from_secs(1));
/// assert_eq!(Docs::CONFIG.inflate_rate(), Some(rate));
/// assert_eq!(Docs::CONFIG.inflate_node_rate(), None);
/// assert_eq!(Docs::CONFIG.max_fragments(), 64);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ByteRate {
    bytes: u64,
    per: Duration,
}

impl ByteRate {
    /// `bytes` per `per`. Zero bytes or a zero period are kept as given
    /// and refused by [`Config::validate`](super::Config::validate).
    pub const fn new(bytes: u64, per: Duration) -> Self {
        Self { bytes, per }
    }

    /// Bytes per period.
    pub const fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The period.
    pub const fn per(&self) -> Duration {
        self.per
    }
}

choices!(Overflow, "policy", {
    "close" => Close,
    "drop_newest" => DropNewest,
    "drop_oldest" => DropOldest,
});
choices!(OnInvalid, "policy", { "error" => Error, "close" => Close });
choices!(OnRateLimit, "policy", { "error" => Error, "close" => Close });
choices!(Compression, "choice", { "deflate" => Deflate, "off" => Off });
