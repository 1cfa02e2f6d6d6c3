//! How the table of options in [`options`](super::options) becomes code.
//!
//! The table is one `macro_rules!` invocation (as clap's derive is one
//! declaration per argument): each entry gives an option's field, default,
//! rustdoc, grammar, accepted form, rule and doors, and the macros here
//! turn it into the [`Config`] struct, its `DEFAULT`, its `with_*` setters
//! and getters, the [`ManagerBuilder`](crate::ManagerBuilder) setters, and
//! [`OPTIONS`], the data that the environment, `validate()`, the attribute's
//! parser and expansion, and the documentation tests read.
//!
//! An entry has one of three shapes:
//!
//! - `name(arg: Type) = default { get: "..", read: .., default: "..",
//!   form: "..", refuse: .., attribute: true }`: a field with generated
//!   setter, getter and builder setter; the `///` lines are the setter's
//!   rustdoc, `get` the getter's.
//! - `name: Type = default { read: .., default: "..", form: "..",
//!   refuse: .., attribute: false }`: a field whose methods are written by
//!   hand (generic setters).
//! - `name { read: .., set: .., default: "..", form: "..", refuse: ..,
//!   attribute: true }`: an option that is not a field of its own
//!   (`rate_burst`, part of `rate_limit`).
//!
//! `read` turns text into the value, in the grammar of [`units`](super::units);
//! `refuse` says which values [`Config::validate`] refuses.

use std::borrow::Cow;
use std::time::Duration;

use ipnet::IpNet;

use super::units::{self, UnitError};
use super::{ByteRate, Config, RateLimit};

/// One option of the table.
#[derive(Clone, Copy)]
pub struct Spec {
    /// The option's name: the attribute's key, the builder's method, and
    /// in upper case the environment variable's suffix.
    pub name: &'static str,
    /// The accepted form, named in every error about the option.
    pub form: &'static str,
    /// The default as the documentation's tables write it.
    pub default: &'static str,
    /// Whether `#[ws_protocol(...)]` takes it (all options are builder's
    /// and environment's).
    pub attribute: bool,
    /// The choices, for an option that takes one of a few names.
    pub choices: Option<Choices>,
    /// Reads the option's text.
    pub parse: fn(&str) -> Result<Value, UnitError>,
    /// Applies a value read by `parse`; `None` when it needs another option
    /// that is not set (a burst without a rate).
    pub set: fn(Config, Value) -> Option<Config>,
    /// The option's value, for the attribute's expansion; `None` for an
    /// option that another one carries, or that the attribute does not take.
    pub get: fn(&Config) -> Option<Value>,
    /// Whether the configuration breaks this option's rule.
    pub refused: fn(&Config) -> bool,
}

/// The names an option chooses among, and what the attribute calls them
/// ("policy", "choice").
#[derive(Clone, Copy, Debug)]
pub struct Choices {
    /// What a value is called in the attribute's errors.
    pub what: &'static str,
    /// The accepted names, in documentation order.
    pub names: &'static [&'static str],
}

/// An option's value between its text and the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A count or a size.
    Count(usize),
    /// A duration that cannot be off.
    Duration(Duration),
    /// A duration or off.
    MaybeDuration(Option<Duration>),
    /// A message rate or off.
    Rate(Option<RateLimit>),
    /// A byte rate or off.
    ByteRate(Option<ByteRate>),
    /// One of an enum's variants: its type, its variant and its name.
    Choice {
        /// The enum, e.g. `Overflow`.
        ty: &'static str,
        /// The variant, e.g. `DropOldest`.
        variant: &'static str,
    },
    /// IPs and CIDRs.
    Proxies(Vec<IpNet>),
    /// Origins.
    Origins(Vec<String>),
}

/// A type an option's field holds: how it goes to and from a [`Value`].
pub trait Setting: Sized {
    /// The names to choose among, for an enum.
    const CHOICES: Option<Choices> = None;
    /// The value.
    fn into_value(self) -> Value;
    /// Back from a value of the same kind.
    fn from_value(value: Value) -> Option<Self>;
    /// The variant named `name`, for an enum.
    fn from_name(_name: &str) -> Option<Self> {
        None
    }
}

macro_rules! setting {
    ($ty:ty, $variant:ident) => {
        impl Setting for $ty {
            fn into_value(self) -> Value {
                Value::$variant(self.into())
            }
            fn from_value(value: Value) -> Option<Self> {
                match value {
                    Value::$variant(inner) => Some(inner.into()),
                    _ => None,
                }
            }
        }
    };
}

setting!(usize, Count);
setting!(Duration, Duration);
setting!(Option<Duration>, MaybeDuration);
setting!(Option<RateLimit>, Rate);
setting!(Option<ByteRate>, ByteRate);
setting!(Cow<'static, [IpNet]>, Proxies);

impl Setting for Cow<'static, [Cow<'static, str>]> {
    fn into_value(self) -> Value {
        Value::Origins(self.iter().map(|origin| origin.to_string()).collect())
    }
    fn from_value(value: Value) -> Option<Self> {
        match value {
            Value::Origins(origins) => Some(origins.into_iter().map(Cow::Owned).collect()),
            _ => None,
        }
    }
}

/// `Setting` for an enum whose variants are chosen by name.
macro_rules! choices {
    ($ty:ident, $what:literal, { $($name:literal => $variant:ident),* $(,)? }) => {
        impl $crate::config::table::Setting for $ty {
            const CHOICES: Option<$crate::config::table::Choices> =
                Some($crate::config::table::Choices {
                    what: $what,
                    names: &[$($name),*],
                });
            fn into_value(self) -> $crate::config::table::Value {
                let variant = match self {
                    $($ty::$variant => stringify!($variant),)*
                };
                $crate::config::table::Value::Choice { ty: stringify!($ty), variant }
            }
            fn from_value(value: $crate::config::table::Value) -> Option<Self> {
                match value {
                    $($crate::config::table::Value::Choice {
                        ty: stringify!($ty),
                        variant: stringify!($variant),
                    } => Some($ty::$variant),)*
                    _ => None,
                }
            }
            fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($name => Some($ty::$variant),)*
                    _ => None,
                }
            }
        }
    };
}
pub(crate) use choices;

/// The accepted form of `option`, and its name as a `'static`.
pub(crate) fn form(option: &str) -> (&'static str, &'static str) {
    let found = super::OPTIONS.iter().find(|spec| spec.name == option);
    debug_assert!(found.is_some(), "option `{option}` is not in the table");
    found.map_or(("option", "a valid value"), |spec| (spec.name, spec.form))
}

/// The fields and `DEFAULT` of [`Config`], from the table (a muncher: an
/// option that is no field of its own adds neither).
macro_rules! config_struct {
    (@go [$($field:tt)*] [$($default:tt)*]) => {
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
        /// | byte rate | a size `/` `s`, `m`, `h` or a duration | `"1MiB/s"`, `"64 MiB/s"`, `"512KiB/500ms"` |
        ///
        /// No signs, fractions or other spellings (`-1`, `"4.2s"`, `"30sec"`,
        /// `"64k"`); `heartbeat`, `idle_timeout`, `rate_limit`, `inflate_rate`,
        /// `inflate_node_rate` and `fragment_timeout` also take `"off"`.
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
            $($field)*
        }

        impl Config {
            /// The defaults, as the options table of [`ws_protocol`](crate::ws_protocol)
            /// lists them.
            pub const DEFAULT: Config = Config {
                $($default)*
            };
        }
    };
    (@go [$($field:tt)*] [$($default:tt)*]
        $(#[$attr:meta])* $name:ident, $setter:ident($arg:ident: $ty:ty) = $value:expr;
        { $($body:tt)* }
        $($rest:tt)*
    ) => {
        $crate::config::table::config_struct!(@go
            [$($field)* $name: $ty,] [$($default)* $name: $value,] $($rest)*);
    };
    (@go [$($field:tt)*] [$($default:tt)*]
        $(#[$attr:meta])* $name:ident: $ty:ty = $value:expr; { $($body:tt)* }
        $($rest:tt)*
    ) => {
        $crate::config::table::config_struct!(@go
            [$($field)* $name: $ty,] [$($default)* $name: $value,] $($rest)*);
    };
    (@go [$($field:tt)*] [$($default:tt)*]
        $(#[$attr:meta])* $name:ident { $($body:tt)* }
        $($rest:tt)*
    ) => {
        $crate::config::table::config_struct!(@go [$($field)*] [$($default)*] $($rest)*);
    };
    ($($table:tt)*) => {
        $crate::config::table::config_struct!(@go [] [] $($table)*);
    };
}
pub(crate) use config_struct;

/// `Config`'s generated setters and getters, and [`OPTIONS`].
macro_rules! config_items {
    ($(
        $(#[$attr:meta])* $name:ident $(, $setter:ident($arg:ident: $ty:ty))? $(: $hand:ty)?
        $(= $value:expr;)? { $($body:tt)* }
    )*) => {
        impl Config {
            $($crate::config::table::methods!(
                $(#[$attr])* $name $(, $setter($arg: $ty))? { $($body)* }
            );)*
        }

        /// Every option, in documentation order.
        pub const OPTIONS: &[$crate::config::table::Spec] = &[
            $($crate::config::table::spec!($name $(($ty))? $(($hand))? { $($body)* }),)*
        ];
    };
}
pub(crate) use config_items;

/// The setter and getter of a field whose methods are generated.
macro_rules! methods {
    ($(#[$attr:meta])* $name:ident, $setter:ident($arg:ident: $ty:ty) {
        get: $get:literal, $($rest:tt)*
    }) => {
        $(#[$attr])*
        pub const fn $setter(mut self, $arg: $ty) -> Self {
            self.$name = $arg;
            self
        }

        #[doc = $get]
        pub const fn $name(&self) -> $ty {
            self.$name
        }
    };
    ($($other:tt)*) => {};
}
pub(crate) use methods;

/// One entry's [`Spec`]: a field (with or without generated methods) or an
/// option that is no field of its own.
macro_rules! spec {
    ($name:ident ($ty:ty) {
        $(get: $get:literal,)? read: $read:expr, default: $default:literal,
        form: $form:literal, refuse: $refuse:expr, attribute: $attribute:literal $(,)?
    }) => {
        $crate::config::table::spec!(@spec $name, $form, $default, $attribute,
            <$ty as $crate::config::table::Setting>::CHOICES,
            |text| Ok(<$ty as $crate::config::table::Setting>::into_value(($read)(text)?)),
            |mut config, value| {
                config.$name = <$ty as $crate::config::table::Setting>::from_value(value)?;
                Some(config)
            },
            $crate::config::table::spec!(@get $name, $ty $(, $get)?),
            |config| ($refuse)(&config.$name))
    };
    ($name:ident {
        read: $read:expr, set: $set:expr, default: $default:literal, form: $form:literal,
        refuse: $refuse:expr, attribute: $attribute:literal $(,)?
    }) => {
        $crate::config::table::spec!(@spec $name, $form, $default, $attribute, None,
            $read, $set, |_| None, $refuse)
    };
    // Only the attribute's options are expanded: those with generated methods.
    (@get $name:ident, $ty:ty, $get:literal) => {
        |config| Some(<$ty as $crate::config::table::Setting>::into_value(config.$name))
    };
    (@get $name:ident, $ty:ty) => {
        |_| None
    };
    (@spec $name:ident, $form:literal, $default:literal, $attribute:literal, $choices:expr,
        $parse:expr, $set:expr, $get:expr, $refused:expr) => {
        $crate::config::table::Spec {
            name: stringify!($name),
            form: $form,
            default: $default,
            attribute: $attribute,
            choices: $choices,
            parse: $parse,
            set: $set,
            get: $get,
            refused: $refused,
        }
    };
}
pub(crate) use spec;

// ---- How the table's `read`s turn text into values. ----

fn to_usize(n: u64) -> Result<usize, UnitError> {
    usize::try_from(n).map_err(|_| UnitError::TooLarge)
}

/// A whole number: `10_000`.
pub(super) fn count(text: &str) -> Result<usize, UnitError> {
    to_usize(units::parse_count(text)?)
}

/// A size: `"64KiB"`.
pub(super) fn size(text: &str) -> Result<usize, UnitError> {
    to_usize(units::parse_size(text)?)
}

/// A duration: `"30s"`.
pub(super) fn duration(text: &str) -> Result<Duration, UnitError> {
    units::parse_duration(text)
}

/// A duration or `"off"`.
pub(super) fn duration_or_off(text: &str) -> Result<Option<Duration>, UnitError> {
    units::or_off(text, units::parse_duration)
}

/// A message rate or `"off"`: `"20/s"`.
pub(super) fn rate_or_off(text: &str) -> Result<Option<RateLimit>, UnitError> {
    Ok(units::or_off(text, units::parse_rate)?.map(|(n, per)| RateLimit::new(n, per)))
}

/// A byte rate or `"off"`: `"1MiB/s"`.
pub(super) fn byte_rate_or_off(text: &str) -> Result<Option<ByteRate>, UnitError> {
    Ok(units::or_off(text, units::parse_byte_rate)?.map(|(bytes, per)| ByteRate::new(bytes, per)))
}

/// One of an enum's names.
pub(super) fn choice<T: Setting>(text: &str) -> Result<T, UnitError> {
    T::from_name(text.trim()).ok_or(UnitError::Malformed)
}

/// `10.0.0.1, 10.0.0.0/8, fd00::/8`; an address alone is one host.
pub(super) fn proxies(text: &str) -> Result<Cow<'static, [IpNet]>, UnitError> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<IpNet>()
                .ok()
                .or_else(|| item.parse::<std::net::IpAddr>().ok().map(IpNet::from))
                .ok_or(UnitError::Malformed)
        })
        .collect()
}

/// `https://app.example, https://*.example.org`, or `*`.
pub(super) fn origins(text: &str) -> Result<Cow<'static, [Cow<'static, str>]>, UnitError> {
    let origins: Vec<Cow<'static, str>> = text
        .split(',')
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .map(|origin| Cow::Owned(origin.to_owned()))
        .collect();
    if origins.iter().any(|o| o != "*" && !o.contains("://")) {
        return Err(UnitError::Malformed);
    }
    Ok(origins.into())
}

/// A rule that every value keeps.
pub(super) fn never<T>(_: &T) -> bool {
    false
}

/// The rule of a count or size that must not be zero.
pub(super) fn zero(n: &usize) -> bool {
    *n == 0
}

/// The rule of a duration, or off, that must not be zero.
pub(super) fn zero_duration(duration: &Option<Duration>) -> bool {
    duration.is_some_and(|d| d.is_zero())
}

/// The rule of a byte rate, or off.
pub(super) fn zero_byte_rate(rate: &Option<ByteRate>) -> bool {
    rate.is_some_and(|rate| rate.bytes() == 0 || rate.per().is_zero())
}
