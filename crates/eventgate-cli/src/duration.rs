//! Durations written the way people type them: `500ms`, `30s`, `15m`, `1h`, `2d`.
//!
//! ```
//! use std::time::Duration;
//! use eventgate_cli::duration::parse_duration;
//!
//! assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
//! assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
//! assert!(parse_duration("10").is_err()); // a unit is required
//! ```

use std::time::Duration;

/// Why a duration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// Nothing was given.
    #[error("empty duration (expected e.g. 30s, 15m, 1h)")]
    Empty,
    /// A number without a unit.
    #[error("missing unit after {0} (use ms, s, m, h or d, e.g. 30s)")]
    MissingUnit(u64),
    /// A unit this parser does not know.
    #[error("unknown unit {0:?} (use ms, s, m, h or d)")]
    UnknownUnit(String),
    /// Something other than digits where a number was expected.
    #[error("expected a number at {0:?} (e.g. 30s, 15m, 1h)")]
    ExpectedNumber(String),
    /// The value does not fit.
    #[error("duration too large")]
    Overflow,
}

/// Reads a duration: one or more `<number><unit>` parts (`1h30m`), units `ms`, `s`, `m`,
/// `h`, `d`. A unit is required (a bare `10` is ambiguous).
///
/// # Errors
/// A [`DurationError`] naming what is wrong.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(DurationError::ExpectedNumber(rest.to_owned()));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| DurationError::Overflow)?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        if unit_len == 0 {
            return Err(DurationError::MissingUnit(number));
        }
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let millis_per: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            other => return Err(DurationError::UnknownUnit(other.to_owned())),
        };
        let millis = number
            .checked_mul(millis_per)
            .ok_or(DurationError::Overflow)?;
        total = total
            .checked_add(Duration::from_millis(millis))
            .ok_or(DurationError::Overflow)?;
    }
    Ok(total)
}

/// Writes a duration in the shortest form [`parse_duration`] reads back (`90s` -> `1m30s`).
#[must_use]
pub fn format_duration(d: Duration) -> String {
    let mut ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, per) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if ms >= per {
            out.push_str(&format!("{}{unit}", ms / per));
            ms %= per;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_and_compound_durations_parse() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("2d").unwrap(), Duration::from_secs(172_800));
        assert_eq!(
            parse_duration("1h30m5s").unwrap(),
            Duration::from_secs(5405)
        );
    }

    #[test]
    fn bad_durations_are_typed_errors() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert_eq!(parse_duration("10"), Err(DurationError::MissingUnit(10)));
        assert_eq!(
            parse_duration("5y"),
            Err(DurationError::UnknownUnit("y".into()))
        );
        assert_eq!(
            parse_duration("h"),
            Err(DurationError::ExpectedNumber("h".into()))
        );
        assert_eq!(
            parse_duration("99999999999999999999s"),
            Err(DurationError::Overflow)
        );
        assert_eq!(
            parse_duration("18446744073709551615d"),
            Err(DurationError::Overflow)
        );
    }

    #[test]
    fn formatted_durations_read_back() {
        for ms in [0u64, 1, 999, 1000, 61_000, 3_600_000, 90_061_001] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
    }
}
