//! The agent's log lines, as tracing-subscriber's default format writes them without colours:
//! `2026-12-08T01:35:40.123456Z DEBUG proxy_core::runner: datapath synced backend="nftables"
//! mode=Partial duration=1.2ms changed=1 deleted=0 added=1 removed=1 latency_us=1530`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One timestamped log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// When it was logged (the agent's wall clock, microsecond precision).
    pub at: SystemTime,
    /// Everything after the timestamp: level, target, message and fields.
    pub text: String,
}

impl Line {
    /// Parses a line; `None` for lines without a leading RFC 3339 UTC timestamp.
    pub fn parse(raw: &str) -> Option<Line> {
        let (stamp, rest) = raw.split_once(' ')?;
        Some(Line {
            at: parse_timestamp(stamp)?,
            text: rest.trim_start().to_owned(),
        })
    }

    /// Whether the message is `message` (it follows the target's `: `).
    pub fn is(&self, message: &str) -> bool {
        self.text
            .split_once(": ")
            .is_some_and(|(_, m)| m.starts_with(message))
    }

    /// The value of field `key` (up to the next space; quotes kept), if present.
    pub fn field(&self, key: &str) -> Option<&str> {
        let start = self.text.find(&format!(" {key}="))? + key.len() + 2;
        let value = &self.text[start..];
        Some(value.split(' ').next().unwrap_or(value))
    }
}

/// A `datapath synced` line: one successful call to the datapath.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Synced {
    /// When it was logged (right after the commit and the after-sync hook).
    pub at: SystemTime,
    /// Whether the sync was full.
    pub full: bool,
    /// How long the datapath took.
    pub duration: Duration,
    /// From the arrival of the oldest change it programmed to the commit (`latency_us`).
    pub latency: Option<Duration>,
}

impl Synced {
    /// The sync `line` reports, if it is a `datapath synced` line.
    pub fn from_line(line: &Line) -> Option<Synced> {
        if !line.is("datapath synced") {
            return None;
        }
        Some(Synced {
            at: line.at,
            full: line.field("mode")? == "Full",
            duration: parse_debug_duration(line.field("duration")?)?,
            latency: line
                .field("latency_us")
                .and_then(|v| v.parse().ok())
                .map(Duration::from_micros),
        })
    }
}

/// Parses `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC, any number of fraction digits).
pub fn parse_timestamp(s: &str) -> Option<SystemTime> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-').map(str::parse::<i64>);
    let (year, month, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let (hms, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.splitn(3, ':').map(str::parse::<u64>);
    let (h, m, sec) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let digits = fraction.len().min(9);
    let nanos: u32 = match digits {
        0 => 0,
        _ => fraction[..digits].parse::<u32>().ok()? * 10u32.pow(9 - digits as u32),
    };
    let days = u64::try_from(days_from_civil(year, month, day)).ok()?;
    let secs = days * 86_400 + h * 3600 + m * 60 + sec;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses a `Duration`'s `Debug` form: `1.5s`, `12.3ms`, `850.1µs`, `100ns`.
pub fn parse_debug_duration(s: &str) -> Option<Duration> {
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (number, unit) = s.split_at(split);
    let value: f64 = number.parse().ok()?;
    let scale = match unit {
        "s" => 1.0,
        "ms" => 1e-3,
        "µs" | "us" => 1e-6,
        "ns" => 1e-9,
        _ => return None,
    };
    Duration::try_from_secs_f64(value * scale).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYNCED: &str = "2026-12-08T01:35:40.123456Z DEBUG proxy_core::runner: datapath synced \
        backend=\"nftables\" mode=Partial duration=1.25ms changed=1 deleted=0 added=1 removed=1 \
        latency_us=1530";

    #[test]
    fn timestamps_are_utc_with_microseconds() {
        let at = parse_timestamp("2026-12-08T01:35:40.123456Z").expect("valid");
        let since = at.duration_since(UNIX_EPOCH).expect("after the epoch");
        assert_eq!(since, Duration::new(1_796_693_740, 123_456_000));
        let epoch = parse_timestamp("1970-01-01T00:00:00.000000Z");
        assert_eq!(epoch, Some(UNIX_EPOCH));
        assert!(parse_timestamp("2024-02-29T23:59:59Z").is_some());
        for bad in [
            "2026-13-01T00:00:00Z",
            "2026-12-08 01:35:40Z",
            "x",
            "2026-12-08T01:35Z",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn synced_lines_give_mode_duration_and_latency() {
        let line = Line::parse(SYNCED).expect("timestamped");
        assert_eq!(line.field("backend"), Some("\"nftables\""));
        let synced = Synced::from_line(&line).expect("a sync");
        assert!(!synced.full);
        assert_eq!(synced.duration, Duration::from_micros(1250));
        assert_eq!(synced.latency, Some(Duration::from_micros(1530)));
        let periodic = SYNCED
            .replace("mode=Partial", "mode=Full")
            .replace(" latency_us=1530", "");
        let periodic = Line::parse(&periodic).and_then(|l| Synced::from_line(&l));
        assert_eq!(periodic.map(|s| (s.full, s.latency)), Some((true, None)));
    }

    #[test]
    fn other_lines_are_not_syncs() {
        let line = Line::parse(
            "2026-12-08T01:35:40.1Z  INFO svcproxy::source::kube: list complete kind=Service",
        )
        .expect("timestamped");
        assert!(line.is("list complete"));
        assert_eq!(line.field("kind"), Some("Service"));
        assert_eq!(Synced::from_line(&line), None);
        assert_eq!(Line::parse("svcproxy: run: cannot open"), None);
    }

    #[test]
    fn debug_durations() {
        let d = |s| parse_debug_duration(s);
        assert_eq!(d("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(d("850µs"), Some(Duration::from_micros(850)));
        assert_eq!(d("100ns"), Some(Duration::from_nanos(100)));
        assert_eq!(d("12ms"), Some(Duration::from_millis(12)));
        assert_eq!(d("12 parsecs"), None);
    }
}
