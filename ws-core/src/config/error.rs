//! [`ConfigError`]: a value that does not read, or breaks its option's rule.

use std::time::Duration;

use super::table::form;
use super::units::{self, UnitError};

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
    pub(super) fn invalid(option: &'static str) -> Self {
        ConfigError::Invalid {
            option,
            expected: form(option).1,
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

    pub(super) fn in_variable(self, variable: String, value: String) -> Self {
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
