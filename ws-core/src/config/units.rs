//! The one grammar of counts, sizes, durations and rates, read by the
//! `#[ws_protocol(...)]` attribute and by the environment alike.
//!
//! ws-macros compiles this file too (by `#[path]`, as serde_derive shares its
//! internals), so it uses nothing but `core` and `std`.
//!
//! | kind     | form | examples |
//! |----------|------|----------|
//! | count    | digits, `_` allowed after the first | `256`, `10_000` |
//! | size     | a count, then optionally a unit `B`, `KiB`, `MiB`, `GiB` (`KB`, `MB`, `GB` are the same binary units; any case) | `65536`, `64KiB`, `1 MB` |
//! | duration | one or more counts each with a unit `ms`, `s`, `m`, `h` | `500ms`, `30s`, `1m30s`, `1h 30m` |
//! | rate     | a count of messages `/` a unit `s`, `m`, `h`, or a duration | `20/s`, `600/m`, `5/500ms` |
//! | byte rate | a size `/` a unit `s`, `m`, `h`, or a duration | `1MiB/s`, `64 MiB/s`, `512KiB/500ms` |
//!
//! Spaces are allowed around the whole and between a number and its unit.
//! No signs, fractions or exponents: `-1`, `1.5s` and `1e3` are malformed.
//! Options that can be disabled also take `off`. Whether a value is
//! acceptable (non-zero, ordered against another option) is not grammar: it
//! is `Config::validate`'s to say.

use std::time::Duration;

/// Why a value does not read as its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnitError {
    /// Not of the form at all.
    Malformed,
    /// Of the form, but the number does not fit.
    TooLarge,
}

/// The word that disables an option which allows it.
pub const OFF: &str = "off";

/// `256`, `10_000`.
pub fn parse_count(text: &str) -> Result<u64, UnitError> {
    match number(text.trim())? {
        (n, "") => Ok(n),
        _ => Err(UnitError::Malformed),
    }
}

/// `65536`, `64KiB`, `64 KB`, `1MiB`, `2GiB`: bytes.
pub fn parse_size(text: &str) -> Result<u64, UnitError> {
    let (n, unit) = number(text.trim())?;
    let scale: u64 = match unit.trim_start().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" | "kib" => 1 << 10,
        "mb" | "mib" => 1 << 20,
        "gb" | "gib" => 1 << 30,
        _ => return Err(UnitError::Malformed),
    };
    n.checked_mul(scale).ok_or(UnitError::TooLarge)
}

/// `500ms`, `30s`, `1m30s`, `1h 30m`: a sum of terms, each with its unit.
/// Millisecond precision; `0s` reads as zero.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(UnitError::Malformed);
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let (n, after) = number(rest)?;
        let after = after.trim_start();
        let unit_end = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        let scale: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => return Err(UnitError::Malformed),
        };
        total = n
            .checked_mul(scale)
            .and_then(|ms| total.checked_add(ms))
            .ok_or(UnitError::TooLarge)?;
        rest = after.trim_start();
    }
    Ok(Duration::from_millis(total))
}

/// `20/s`, `600/m`, `3600/h`, `5/500ms`: messages per period.
pub fn parse_rate(text: &str) -> Result<(u32, Duration), UnitError> {
    let (messages, per) = text.split_once('/').ok_or(UnitError::Malformed)?;
    let messages = parse_count(messages)?;
    let per = parse_period(per)?;
    let messages = u32::try_from(messages).map_err(|_| UnitError::TooLarge)?;
    Ok((messages, per))
}

/// `1MiB/s`, `64 MiB/m`, `512KiB/500ms`: bytes per period.
pub fn parse_byte_rate(text: &str) -> Result<(u64, Duration), UnitError> {
    let (bytes, per) = text.split_once('/').ok_or(UnitError::Malformed)?;
    Ok((parse_size(bytes)?, parse_period(per)?))
}

/// The period of a rate: `s`, `m`, `h` or a duration.
fn parse_period(per: &str) -> Result<Duration, UnitError> {
    match per.trim() {
        "s" => Ok(Duration::from_secs(1)),
        "m" => Ok(Duration::from_secs(60)),
        "h" => Ok(Duration::from_secs(3600)),
        other => parse_duration(other),
    }
}

/// `off` as `None`, anything else through `parse`.
pub fn or_off<T>(
    text: &str,
    parse: impl FnOnce(&str) -> Result<T, UnitError>,
) -> Result<Option<T>, UnitError> {
    match text.trim() {
        OFF => Ok(None),
        other => parse(other).map(Some),
    }
}

/// A duration as this grammar writes it: `1m30s`, `500ms`, `0s`; one finer
/// than a millisecond (only the builder makes those) in `Debug` form.
pub fn format_duration(duration: Duration) -> String {
    if !duration.subsec_nanos().is_multiple_of(1_000_000) {
        return format!("{duration:?}");
    }
    let ms = duration.as_millis();
    let mut out = String::new();
    let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let (s, ms) = (rest / 1_000, rest % 1_000);
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s"), (ms, "ms")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

/// The leading number of `text` (digits, `_` after the first) and the rest.
fn number(text: &str) -> Result<(u64, &str), UnitError> {
    if !text.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(UnitError::Malformed);
    }
    let end = text
        .find(|c: char| !c.is_ascii_digit() && c != '_')
        .unwrap_or(text.len());
    let (digits, rest) = text.split_at(end);
    let mut n: u64 = 0;
    for digit in digits.bytes().filter(|b| *b != b'_') {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(digit - b'0')))
            .ok_or(UnitError::TooLarge)?;
    }
    Ok((n, rest))
}

#[cfg(test)]
mod tests {
    use super::UnitError::{Malformed, TooLarge};
    use super::*;

    const MALFORMED_EVERYWHERE: &[&str] = &[
        "", " ", "_1", "-1", "+1", "1.5", "1e3", "0x10", "ten", "1 2", "1__s/", "∞",
    ];

    /// `parse` refuses each of `bad`, and what every kind refuses, as
    /// malformed.
    fn refuses<T: std::fmt::Debug + PartialEq>(
        parse: impl Fn(&str) -> Result<T, UnitError>,
        bad: &[&str],
    ) {
        for bad in bad.iter().chain(MALFORMED_EVERYWHERE) {
            assert_eq!(parse(bad), Err(Malformed), "{bad:?}");
        }
    }

    #[test]
    fn counts() {
        assert_eq!(parse_count("256"), Ok(256));
        assert_eq!(parse_count(" 10_000 "), Ok(10_000));
        assert_eq!(parse_count("1_"), Ok(1));
        assert_eq!(parse_count("0"), Ok(0));
        assert_eq!(parse_count("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_count("18446744073709551616"), Err(TooLarge));
        assert_eq!(parse_count("99999999999999999999"), Err(TooLarge));
        refuses(parse_count, &["1KiB"]);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("65_536"), Ok(65536));
        assert_eq!(parse_size("512B"), Ok(512));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("64KB"), Ok(64 << 10));
        assert_eq!(parse_size("64 kib"), Ok(64 << 10));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("1 MB"), Ok(1 << 20));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("0KiB"), Ok(0));
        assert_eq!(parse_size("17179869183GiB"), Ok(17_179_869_183 << 30));
        assert_eq!(parse_size("17179869184GiB"), Err(TooLarge));
        assert_eq!(parse_size("18446744073709551616KiB"), Err(TooLarge));
        assert_eq!(parse_size("99999999999999999999"), Err(TooLarge));
        refuses(
            parse_size,
            &[
                "KiB",
                "64k",
                "1TiB",
                "1.5MiB",
                "64 kilobytes",
                "-1KiB",
                "1 KiB B",
            ],
        );
    }

    #[test]
    fn durations() {
        let ms = Duration::from_millis;
        assert_eq!(parse_duration("30s"), Ok(ms(30_000)));
        assert_eq!(parse_duration("500ms"), Ok(ms(500)));
        assert_eq!(parse_duration("1_000ms"), Ok(ms(1_000)));
        assert_eq!(parse_duration("1m"), Ok(ms(60_000)));
        assert_eq!(parse_duration("2h"), Ok(ms(7_200_000)));
        assert_eq!(parse_duration("1m30s"), Ok(ms(90_000)));
        assert_eq!(parse_duration("1h 30m"), Ok(ms(5_400_000)));
        assert_eq!(parse_duration(" 1 s "), Ok(ms(1_000)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0m0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("18446744073709551615ms"), Ok(ms(u64::MAX)));
        assert_eq!(parse_duration("18446744073709551616ms"), Err(TooLarge));
        assert_eq!(parse_duration("99999999999999999h"), Err(TooLarge));
        assert_eq!(parse_duration("5124095576030431h 1h"), Err(TooLarge));
        // humantime's forms are not this grammar.
        refuses(
            parse_duration,
            &[
                "30",
                "4.2s",
                "30sec",
                "30 seconds",
                "1d",
                "s",
                "OFF",
                "off",
                "1S",
            ],
        );
    }

    #[test]
    fn rates() {
        let s = Duration::from_secs;
        assert_eq!(parse_rate("20/s"), Ok((20, s(1))));
        assert_eq!(parse_rate("600/m"), Ok((600, s(60))));
        assert_eq!(parse_rate("3_600/h"), Ok((3600, s(3600))));
        assert_eq!(
            parse_rate(" 5 / 500ms "),
            Ok((5, Duration::from_millis(500)))
        );
        assert_eq!(parse_rate("0/s"), Ok((0, s(1))));
        assert_eq!(parse_rate("5/0s"), Ok((5, Duration::ZERO)));
        assert_eq!(parse_rate("4294967295/s"), Ok((u32::MAX, s(1))));
        assert_eq!(parse_rate("4294967296/s"), Err(TooLarge));
        assert_eq!(parse_rate("1/99999999999999999h"), Err(TooLarge));
        refuses(
            parse_rate,
            &[
                "20",
                "20/",
                "/s",
                "20/fortnight",
                "x/s",
                "-1/s",
                "20 per second",
                "1/s/s",
            ],
        );
    }

    #[test]
    fn byte_rates() {
        let s = Duration::from_secs;
        assert_eq!(parse_byte_rate("1MiB/s"), Ok((1 << 20, s(1))));
        assert_eq!(parse_byte_rate(" 64 MiB / m "), Ok((64 << 20, s(60))));
        assert_eq!(
            parse_byte_rate("512KiB/500ms"),
            Ok((512 << 10, Duration::from_millis(500)))
        );
        assert_eq!(parse_byte_rate("0/s"), Ok((0, s(1))));
        assert_eq!(parse_byte_rate("99999999999GiB/s"), Err(TooLarge));
        refuses(
            parse_byte_rate,
            &[
                "1MiB",
                "1MiB/",
                "/s",
                "1MiB/fortnight",
                "1.5MiB/s",
                "1MiB/s/s",
            ],
        );
    }

    #[test]
    fn off() {
        assert_eq!(or_off("off", parse_duration), Ok(None));
        assert_eq!(or_off(" off ", parse_rate), Ok(None));
        assert_eq!(
            or_off("30s", parse_duration),
            Ok(Some(Duration::from_secs(30)))
        );
        assert_eq!(or_off("Off", parse_duration), Err(Malformed));
    }

    #[test]
    fn durations_format_back() {
        for (ms, text) in [
            (30_000, "30s"),
            (90_000, "1m30s"),
            (500, "500ms"),
            (3_600_000, "1h"),
            (0, "0s"),
        ] {
            let duration = Duration::from_millis(ms);
            assert_eq!(format_duration(duration), text);
            assert_eq!(parse_duration(text), Ok(duration));
        }
        assert_eq!(format_duration(Duration::from_nanos(1)), "1ns");
    }
}
