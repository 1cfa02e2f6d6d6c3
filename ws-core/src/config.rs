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
//! | `inflate_rate`       | `"1MiB/s"` | bytes one connection may have inflated (permessage-deflate) per period, bursts of one period's worth; past it the connection's reading pauses until its budget refills; `"off"` disables |
//! | `inflate_node_rate`  | `"64MiB/s"` | the same, for all connections of the node together; past it every connection that sends a compressed message pauses alike |
//! | `max_fragments`      | `1_024`   | frames one message may span; more: close 1008; `0` = unlimited |
//! | `fragment_timeout`   | `"30s"`   | from a message's first fragment to its last; later: close 1008; `"off"` disables |
//! | `stall_timeout`      | `"10s"`   | reading pauses while the send queue is half full; a peer whose writer makes no progress this long is closed with 1013 |
//! | `refresh_before`     | `"30s"`   | a session with an expiry ([`Session::expires_at`](crate::Session::expires_at)) gets a `refresh_required` frame this long before it; unrefreshed by the expiry: close 4001 |
//! | `max_rooms`          | `128`     | rooms one connection may be in; `0` = unlimited; past it `ctx.join` fails: [`JoinError::TooManyRooms`](crate::JoinError) |
//! | `max_room_name`      | `255`     | longest room name in bytes; `0` = unlimited; longer: [`JoinError::RoomNameTooLong`](crate::JoinError) |
//! | `max_presence_meta`  | `"1KiB"`  | largest presence meta of one connection (its JSON); `0` = unlimited; larger: [`PresenceError::TooLarge`](crate::presence::PresenceError) |
//! | `handshake_timeout`  | `"10s"`   | from accept to the 101, request head and `authenticate` included; later: dropped (head) or HTTP 503 (`authenticate`) |
//! | `max_per_ip`         | `0`       | connections one client IP may hold; `0` = unlimited; past it: HTTP 503 |
//! | `handshake_rate`     | off       | handshakes per client IP, e.g. `"10/s"`; past it: HTTP 429 |
//! | `trusted_proxies`    | none      | builder and environment only: IPs or CIDRs whose `X-Forwarded-For` names the client (and `X-Forwarded-Host`, `X-Forwarded-Proto` the server's own origin) |
//! | `allowed_origins`    | none      | builder and environment only: origins besides the server's own (its scheme, host and port) whose pages may connect (`*` = any); others get 403 |
//! | `history`            | `0`       | messages kept per room for recovery (variants marked `#[ws(server, history)]`); `0` = off: see [`history`](crate::history) |
//! | `history_ttl`        | `"off"`   | how old a kept message may get, e.g. `"5m"`; older: resuming gets `expired` |
//! | `history_bytes`      | `"1MiB"`  | bytes of messages kept per room |
//! | `history_memory`     | `"64MiB"` | memory kept for history per node, all rooms together, messages and rooms' bookkeeping (the oldest go first); reused buffers add up to an 8th |
//! | `history_streams`    | `10_000`  | rooms with a history per node (the least recently written goes first, its epoch with it) |
//!
//! The defaults are [`Config::DEFAULT`]'s, and written nowhere else: the
//! attribute emits only the options given, applied over it. How values are
//! written, and which are refused: [`Config`].

use std::borrow::Cow;
use std::time::Duration;

use ipnet::IpNet;

// Spelled out so that ws-macros, which compiles this file by `#[path]`, finds
// the grammar and the table at the same place.
#[path = "config/error.rs"]
mod error;
#[path = "config/options.rs"]
mod options;
#[path = "config/table.rs"]
pub(crate) mod table;
#[path = "config/types.rs"]
mod types;
#[path = "config/units.rs"]
pub(crate) mod units;

pub use error::ConfigError;
pub use types::{ByteRate, Compression, OnInvalid, OnRateLimit, Overflow, RateLimit};

pub(crate) use options::options_table;
use table::{config_items, config_struct};
use units::UnitError;

options_table!(config_struct);
options_table!(config_items);

impl Default for Config {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl Config {
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
        let mut errors: Vec<ConfigError> = OPTIONS
            .iter()
            .filter(|spec| (spec.refused)(self))
            .map(|spec| ConfigError::invalid(spec.name))
            .collect();
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

    /// Proxies whose `X-Forwarded-For` is believed.
    pub fn trusted_proxies(&self) -> &[IpNet] {
        &self.trusted_proxies
    }

    /// Origins other than the server's own whose pages may open a socket.
    /// A browser handshake (one with an `Origin` header) is accepted when
    /// its origin is the server's own, compared as RFC 6454 origins (scheme,
    /// host and port): the host it asked for (`Host`, or `X-Forwarded-Host`
    /// from a [trusted proxy](Self::with_trusted_proxies)), over `https`
    /// when a trusted proxy says so in `X-Forwarded-Proto` and `http`
    /// otherwise (so behind a TLS-terminating proxy, list the proxy, or the
    /// `https://` origin here); or when it matches an entry here: an exact origin (`https://app.example`), every subdomain
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
        for spec in OPTIONS {
            let Some((variable, value)) = lookup(spec.name) else {
                continue;
            };
            // A value that reads but needs another option (a burst without a
            // rate) is refused as not of its form, which names the other.
            let read = (spec.parse)(&value)
                .and_then(|read| (spec.set)(self.clone(), read).ok_or(UnitError::Malformed));
            match read {
                Ok(config) => self = config,
                Err(error) => {
                    return Err(
                        ConfigError::unreadable(spec.name, error).in_variable(variable, value)
                    );
                }
            }
            given.push((spec.name, variable, value));
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

#[cfg(test)]
#[path = "config/tests.rs"]
mod tests;
