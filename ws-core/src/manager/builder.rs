//! [`ManagerBuilder`]: the attribute's configuration, overridden at start-up
//! by setters or the environment, and the backend.

use std::marker::PhantomData;
use std::time::Duration;

use super::Manager;
use crate::backend::Backend;
#[cfg(feature = "engine")]
use crate::backend::BackendError;
use crate::config::{
    ByteRate, Compression, Config, ConfigError, OnInvalid, OnRateLimit, Overflow, RateLimit,
    options_table,
};
use crate::protocol::Protocol;

/// The builder's setters, one per field whose methods are generated.
macro_rules! builder_setters {
    ($(
        $(#[$attr:meta])* $name:ident $(, $setter:ident($arg:ident: $ty:ty))? $(: $hand:ty)?
        $(= $value:expr;)? { $($body:tt)* }
    )*) => {
        $(builder_setter!($name $(, $setter($arg: $ty))?);)*
    };
}

macro_rules! builder_setter {
    ($name:ident, $setter:ident($arg:ident: $ty:ty)) => {
        #[doc = concat!("See [`Config::", stringify!($setter), "`].")]
        pub fn $name(self, $arg: $ty) -> Self {
            self.map(|config| config.$setter($arg))
        }
    };
    ($name:ident) => {};
}

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

    options_table!(builder_setters);

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

    /// Joins the nodes sharing the Redis Cluster that `urls` belong to
    /// (feature `redis`): shorthand for
    /// `.backend(Backend::redis_cluster(urls)?)`.
    ///
    /// ```no_run
    /// # use ws_core::{ws_protocol, Manager};
    /// # #[ws_protocol]
    /// # #[serde(tag = "type")]
    /// # pub enum Chat { #[ws(server)] Notice { text: String } }
    /// # #[tokio::main] async fn main() {
    /// let urls = ["redis://10.0.0.1:7000/", "redis://10.0.0.2:7000/"];
    /// let manager = Manager::<Chat>::builder().redis_cluster(&urls).unwrap().build();
    /// # }
    /// ```
    #[cfg(feature = "redis")]
    pub fn redis_cluster(self, urls: &[&str]) -> Result<Self, BackendError> {
        Ok(self.backend(Backend::redis_cluster(urls)?))
    }

    /// Joins the nodes sharing the NATS JetStream at `url` (feature
    /// `nats`): shorthand for `.backend(Backend::nats(url)?)`.
    ///
    /// ```no_run
    /// # use ws_core::{ws_protocol, Manager};
    /// # #[ws_protocol]
    /// # #[serde(tag = "type")]
    /// # pub enum Chat { #[ws(server)] Notice { text: String } }
    /// # #[tokio::main] async fn main() {
    /// let manager = Manager::<Chat>::builder().nats("nats://127.0.0.1:4222").unwrap().build();
    /// # }
    /// ```
    #[cfg(feature = "nats")]
    pub fn nats(self, url: &str) -> Result<Self, BackendError> {
        Ok(self.backend(Backend::nats(url)?))
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
