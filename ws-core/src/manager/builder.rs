//! [`ManagerBuilder`]: the attribute's configuration, overridden at start-up
//! by setters or the environment, and the backend.

use std::marker::PhantomData;
use std::time::Duration;

use super::Manager;
use crate::backend::Backend;
#[cfg(feature = "redis")]
use crate::backend::BackendError;
use crate::config::{
    ByteRate, Compression, Config, ConfigError, OnInvalid, OnRateLimit, Overflow, RateLimit,
};
use crate::protocol::Protocol;

/// Overrides the attribute's limits at start-up; see [`Config`].
///
/// ```
/// # use ws_core::{ws_protocol, Manager};
/// # #[ws_protocol]
/// # #[serde(tag = "type")]
/// # pub enum Chat { #[ws(server)] Notice { text: String } }
/// let manager = Manager::<Chat>::builder()
///     .from_env("CHAT_").expect("valid CHAT_* variables")
///     .max_connections(20_000)
///     .build();
/// ```
#[must_use = "call `.build()` to get the manager"]
pub struct ManagerBuilder<P> {
    pub(super) config: Config,
    pub(super) backend: Backend,
    pub(super) protocol: PhantomData<fn() -> P>,
}

impl<P: Protocol> ManagerBuilder<P> {
    /// Applies `{prefix}MAX_CONNECTIONS` and the like, and validates the
    /// result; the error names the variable and the accepted form. See
    /// [`Config::override_from_env`].
    pub fn from_env(mut self, prefix: &str) -> Result<Self, ConfigError> {
        self.config = self.config.override_from_env(prefix)?;
        Ok(self)
    }

    /// Replaces the whole configuration.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// See [`Config::with_max_connections`].
    pub fn max_connections(self, max: usize) -> Self {
        self.map(|c| c.with_max_connections(max))
    }

    /// See [`Config::with_max_per_user`].
    pub fn max_per_user(self, max: usize) -> Self {
        self.map(|c| c.with_max_per_user(max))
    }

    /// See [`Config::with_send_queue`].
    pub fn send_queue(self, frames: usize) -> Self {
        self.map(|c| c.with_send_queue(frames))
    }

    /// See [`Config::with_on_full`].
    pub fn on_full(self, policy: Overflow) -> Self {
        self.map(|c| c.with_on_full(policy))
    }

    /// See [`Config::with_max_message_size`].
    pub fn max_message_size(self, bytes: usize) -> Self {
        self.map(|c| c.with_max_message_size(bytes))
    }

    /// See [`Config::with_compression`].
    pub fn compression(self, compression: Compression) -> Self {
        self.map(|c| c.with_compression(compression))
    }

    /// See [`Config::with_compress_min_size`].
    pub fn compress_min_size(self, bytes: usize) -> Self {
        self.map(|c| c.with_compress_min_size(bytes))
    }

    /// See [`Config::with_heartbeat`].
    pub fn heartbeat(self, every: Option<Duration>) -> Self {
        self.map(|c| c.with_heartbeat(every))
    }

    /// See [`Config::with_idle_timeout`].
    pub fn idle_timeout(self, after: Option<Duration>) -> Self {
        self.map(|c| c.with_idle_timeout(after))
    }

    /// See [`Config::with_inflate_rate`].
    pub fn inflate_rate(self, rate: Option<ByteRate>) -> Self {
        self.map(|c| c.with_inflate_rate(rate))
    }

    /// See [`Config::with_inflate_node_rate`].
    pub fn inflate_node_rate(self, rate: Option<ByteRate>) -> Self {
        self.map(|c| c.with_inflate_node_rate(rate))
    }

    /// See [`Config::with_max_fragments`].
    pub fn max_fragments(self, max: usize) -> Self {
        self.map(|c| c.with_max_fragments(max))
    }

    /// See [`Config::with_fragment_timeout`].
    pub fn fragment_timeout(self, after: Option<Duration>) -> Self {
        self.map(|c| c.with_fragment_timeout(after))
    }

    /// See [`Config::with_stall_timeout`].
    pub fn stall_timeout(self, after: Duration) -> Self {
        self.map(|c| c.with_stall_timeout(after))
    }

    /// See [`Config::with_rate_limit`].
    pub fn rate_limit(self, limit: Option<RateLimit>) -> Self {
        self.map(|c| c.with_rate_limit(limit))
    }

    /// See [`Config::with_on_rate_limit`].
    pub fn on_rate_limit(self, policy: OnRateLimit) -> Self {
        self.map(|c| c.with_on_rate_limit(policy))
    }

    /// See [`Config::with_on_invalid`].
    pub fn on_invalid(self, policy: OnInvalid) -> Self {
        self.map(|c| c.with_on_invalid(policy))
    }

    /// See [`Config::with_max_rooms`].
    pub fn max_rooms(self, max: usize) -> Self {
        self.map(|c| c.with_max_rooms(max))
    }

    /// See [`Config::with_max_room_name`].
    pub fn max_room_name(self, bytes: usize) -> Self {
        self.map(|c| c.with_max_room_name(bytes))
    }

    // ---- Untrusted peers: handshake deadline, per-IP limits. ----

    /// See [`Config::with_handshake_timeout`].
    pub fn handshake_timeout(self, timeout: Duration) -> Self {
        self.map(|c| c.with_handshake_timeout(timeout))
    }

    /// See [`Config::with_max_per_ip`].
    pub fn max_per_ip(self, max: usize) -> Self {
        self.map(|c| c.with_max_per_ip(max))
    }

    /// See [`Config::with_handshake_rate`].
    pub fn handshake_rate(self, rate: Option<RateLimit>) -> Self {
        self.map(|c| c.with_handshake_rate(rate))
    }

    /// See [`Config::with_allowed_origins`].
    pub fn allowed_origins<S: Into<std::borrow::Cow<'static, str>>>(
        self,
        origins: impl IntoIterator<Item = S>,
    ) -> Self {
        self.map(|c| c.with_allowed_origins(origins))
    }

    /// See [`Config::with_trusted_proxies`].
    pub fn trusted_proxies(
        self,
        proxies: impl Into<std::borrow::Cow<'static, [ipnet::IpNet]>>,
    ) -> Self {
        self.map(|c| c.with_trusted_proxies(proxies))
    }

    // ---- Delivery guarantees: the history per room. ----

    /// See [`Config::with_history`].
    pub fn history(self, messages: usize) -> Self {
        self.map(|c| c.with_history(messages))
    }

    /// See [`Config::with_history_ttl`].
    pub fn history_ttl(self, ttl: Option<Duration>) -> Self {
        self.map(|c| c.with_history_ttl(ttl))
    }

    /// See [`Config::with_history_bytes`].
    pub fn history_bytes(self, bytes: usize) -> Self {
        self.map(|c| c.with_history_bytes(bytes))
    }

    /// See [`Config::with_history_memory`].
    pub fn history_memory(self, bytes: usize) -> Self {
        self.map(|c| c.with_history_memory(bytes))
    }

    /// See [`Config::with_history_streams`].
    pub fn history_streams(self, max: usize) -> Self {
        self.map(|c| c.with_history_streams(max))
    }

    /// Where sends go beyond this process; [`Backend::local`] by default.
    /// See [`Backend`].
    pub fn backend(mut self, backend: impl Into<Backend>) -> Self {
        self.backend = backend.into();
        self
    }

    /// Joins the nodes sharing the Redis at `url` (feature `redis`):
    /// shorthand for `.backend(Backend::redis(url)?)`.
    ///
    /// ```no_run
    /// # use ws_core::{ws_protocol, Manager};
    /// # #[ws_protocol]
    /// # #[serde(tag = "type")]
    /// # pub enum Chat { #[ws(server)] Notice { text: String } }
    /// # #[tokio::main] async fn main() {
    /// let manager = Manager::<Chat>::builder().redis("redis://127.0.0.1/").unwrap().build();
    /// # }
    /// ```
    #[cfg(feature = "redis")]
    pub fn redis(self, url: &str) -> Result<Self, BackendError> {
        Ok(self.backend(Backend::redis(url)?))
    }

    /// The manager, or the first rule of [`Config::validate`] that the
    /// configuration breaks. With a cluster backend its tasks start here, so
    /// this must run inside a Tokio runtime.
    ///
    /// ```
    /// # use ws_core::{ws_protocol, Manager};
    /// # #[ws_protocol]
    /// # #[serde(tag = "type")]
    /// # pub enum Chat { #[ws(server)] Notice { text: String } }
    /// let err = Manager::<Chat>::builder().send_queue(0).try_build().unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     r#"send_queue must be a whole number of frames of at least 1, like "256""#
    /// );
    /// ```
    pub fn try_build(self) -> Result<Manager<P>, ConfigError> {
        self.config.validate()?;
        Ok(Manager::with_backend(self.config, self.backend))
    }

    /// The manager. With a cluster backend its tasks start here, so this
    /// must run inside a Tokio runtime.
    ///
    /// # Panics
    ///
    /// If the configuration breaks a rule of [`Config::validate`], with the
    /// error's message. Values from the attribute are validated at compile
    /// time and values from [`from_env`](Self::from_env) when they are read,
    /// so what is left are the setters' arguments: use
    /// [`try_build`](Self::try_build) when those come from input.
    pub fn build(self) -> Manager<P> {
        match self.try_build() {
            Ok(manager) => manager,
            Err(error) => panic!("invalid ws_core::Config: {error}"),
        }
    }

    fn map(mut self, f: impl FnOnce(Config) -> Config) -> Self {
        self.config = f(self.config);
        self
    }
}
