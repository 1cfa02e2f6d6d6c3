//! A small flag parser: `--name value` pairs and `--help`, each flag named
//! in the subcommand's usage text. Enough for a load tool; no clap needed.

use std::collections::HashMap;
use std::str::FromStr;

use serde_json::Value;

/// The flags of one subcommand.
#[derive(Debug)]
pub struct Flags {
    values: HashMap<String, String>,
    usage: &'static str,
}

/// Why the command line was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum ArgError {
    /// `--help` or `-h`: print the usage and exit 0.
    Help(&'static str),
    /// Anything else: print the message and exit 2.
    Bad(String),
}

/// Runs a subcommand's `run` on a runtime of its own; a runtime that does
/// not start and an error of the run are the command's.
pub fn block_on(run: impl Future<Output = Result<Value, String>>) -> Result<Value, ArgError> {
    tokio::runtime::Runtime::new()
        .map_err(|e| ArgError::Bad(e.to_string()))?
        .block_on(run)
        .map_err(ArgError::Bad)
}

impl Flags {
    /// Parses `args`; `known` lists the accepted flags (without `--`),
    /// `switches` the ones that take no value.
    pub fn parse(
        args: &[String],
        known: &[&str],
        switches: &[&str],
        usage: &'static str,
    ) -> Result<Self, ArgError> {
        let mut values = HashMap::new();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            if arg == "-h" || arg == "--help" {
                return Err(ArgError::Help(usage));
            }
            let Some(name) = arg.strip_prefix("--") else {
                return Err(ArgError::Bad(format!(
                    "unexpected argument `{arg}`; try --help"
                )));
            };
            let (name, inline) = match name.split_once('=') {
                Some((name, value)) => (name, Some(value.to_owned())),
                None => (name, None),
            };
            if switches.contains(&name) {
                values.insert(name.to_owned(), inline.unwrap_or_else(|| "true".to_owned()));
                continue;
            }
            if !known.contains(&name) {
                return Err(ArgError::Bad(format!(
                    "unknown flag `--{name}`; try --help"
                )));
            }
            let value = match inline {
                Some(value) => value,
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| ArgError::Bad(format!("`--{name}` needs a value")))?,
            };
            values.insert(name.to_owned(), value);
        }
        Ok(Self { values, usage })
    }

    /// The value of `--name`, parsed, or `default`.
    pub fn get<T: FromStr>(&self, name: &str, default: T) -> Result<T, ArgError>
    where
        T::Err: std::fmt::Display,
    {
        match self.values.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .replace('_', "")
                .parse()
                .map_err(|e| ArgError::Bad(format!("`--{name} {raw}`: {e}"))),
        }
    }

    /// The value of `--name`, parsed, if given.
    pub fn opt<T: FromStr>(&self, name: &str) -> Result<Option<T>, ArgError>
    where
        T::Err: std::fmt::Display,
    {
        match self.values.get(name) {
            None => Ok(None),
            Some(raw) => raw
                .replace('_', "")
                .parse()
                .map(Some)
                .map_err(|e| ArgError::Bad(format!("`--{name} {raw}`: {e}"))),
        }
    }

    /// The value of `--name` as given; an error naming the usage if missing.
    pub fn required(&self, name: &str) -> Result<String, ArgError> {
        self.values
            .get(name)
            .cloned()
            .ok_or_else(|| ArgError::Bad(format!("`--{name}` is required\n\n{}", self.usage)))
    }

    /// Whether the switch `--name` was given.
    pub fn switch(&self, name: &str) -> bool {
        self.values.get(name).is_some_and(|v| v != "false")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn values_switches_and_help() {
        let flags = Flags::parse(
            &args("--clients 1_000 --size=100 --quiet"),
            &["clients", "size"],
            &["quiet"],
            "u",
        )
        .unwrap();
        assert_eq!(flags.get::<usize>("clients", 0).unwrap(), 1000);
        assert_eq!(flags.get::<usize>("size", 0).unwrap(), 100);
        assert_eq!(flags.get::<usize>("messages", 7).unwrap(), 7);
        assert!(flags.switch("quiet"));
        assert_eq!(
            Flags::parse(&args("--help"), &[], &[], "u").unwrap_err(),
            ArgError::Help("u")
        );
        assert!(matches!(
            Flags::parse(&args("--nope 1"), &["clients"], &[], "u"),
            Err(ArgError::Bad(_))
        ));
        assert!(matches!(
            Flags::parse(&args("--clients"), &["clients"], &[], "u"),
            Err(ArgError::Bad(_))
        ));
    }
}
