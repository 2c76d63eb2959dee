//! Humane durations for flags: `500ms`, `1s`, `30s`, `1m30s`, `1.5h` (Go's `time.Duration`
//! syntax, as kube-proxy's flags use, without the sign).

use std::time::Duration;

/// The units a duration may use, longest spelling first so `ms` is not read as `m`.
const UNITS: [(&str, f64); 8] = [
    ("ns", 1e-9),
    ("us", 1e-6),
    ("µs", 1e-6),
    ("μs", 1e-6),
    ("ms", 1e-3),
    ("s", 1.0),
    ("m", 60.0),
    ("h", 3600.0),
];

/// Parses a duration: one or more `NUMBER UNIT` parts (`1m30s`), the number possibly decimal
/// (`1.5s`), the unit one of `ns`, `us`, `ms`, `s`, `m`, `h`; `0` alone is zero.
///
/// ```
/// use std::time::Duration;
/// use svcproxy::duration::parse_duration;
///
/// assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
/// assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
/// assert!(parse_duration("30").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let syntax = || {
        format!(
            "invalid duration {text:?}: expected a number and a unit (ms, s, m, h), e.g. 500ms, 1s, 1m30s"
        )
    };
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = text;
    let mut seconds = 0.0_f64;
    if rest.is_empty() {
        return Err(syntax());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(syntax)?;
        let (number, tail) = rest.split_at(digits);
        if number.is_empty() || number == "." {
            return Err(syntax());
        }
        let value: f64 = number.parse().map_err(|_| syntax())?;
        let (unit, scale) = UNITS
            .iter()
            .filter(|(unit, _)| tail.starts_with(unit))
            .max_by_key(|(unit, _)| unit.len())
            .ok_or_else(syntax)?;
        seconds += value * scale;
        rest = &tail[unit.len()..];
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("duration {text:?} is too long"))
}

/// Formats a duration the way [`parse_duration`] reads it, for messages: `500ms`, `1s`,
/// `1m30s` (sub-second parts other than whole milliseconds in Rust's `Debug` form).
pub fn format_duration(d: Duration) -> String {
    if d.is_zero() {
        return "0s".to_owned();
    }
    if d.as_secs() == 0 && d.subsec_nanos().is_multiple_of(1_000_000) {
        return format!("{}ms", d.subsec_millis());
    }
    if d.subsec_nanos() != 0 {
        return format!("{d:?}");
    }
    let secs = d.as_secs();
    let parts = [(secs / 3600, "h"), (secs / 60 % 60, "m"), (secs % 60, "s")];
    parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect()
}
