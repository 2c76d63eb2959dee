//! What one size measured ([`SizeResult`]) and the closing tables, with the targets of the
//! agent benchmark checked: start to first sync <= 1 s at 10k and <= 4 s at 44k; VmRSS
//! <= 100 MB at 10k; one endpoint change, event received to kernel committed, p50 <= 2 ms and
//! p99 <= 10 ms at every size.

use std::fmt::Write as _;
use std::time::Duration;

use super::agent::Memory;
use crate::summary::{fmt, median};

/// Latency targets: p50 and p99.
pub const LATENCY_TARGETS: (Duration, Duration) =
    (Duration::from_millis(2), Duration::from_millis(10));

/// The VmRSS target at 10k services, in bytes (MB = 10^6 bytes).
pub const RSS_TARGET_10K: u64 = 100_000_000;

/// The start target at `services`, where there is one.
pub fn start_target(services: u32) -> Option<Duration> {
    match services {
        10_000 => Some(Duration::from_secs(1)),
        44_000 => Some(Duration::from_secs(4)),
        _ => None,
    }
}

/// One start of the agent: process spawned to first full sync committed, and its phases.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Start {
    /// Spawn to the log line of the first full sync.
    pub total: Duration,
    /// Spawn to "watching the API server" (lock, backend, client set up).
    pub up: Duration,
    /// Spawn to the last of the Service and EndpointSlice lists complete.
    pub listed: Duration,
    /// The full sync's datapath time (plan, encode, netlink, kernel).
    pub sync: Duration,
}

/// Everything measured at one size.
#[derive(Clone, Debug, Default)]
pub struct SizeResult {
    /// Services.
    pub services: u32,
    /// Endpoints per service.
    pub endpoints: u32,
    /// Each start measured.
    pub starts: Vec<Start>,
    /// Memory of the kept agent a second after its first sync.
    pub after_sync: Option<Memory>,
    /// Memory of the kept agent a second after the changes.
    pub after_changes: Option<Memory>,
    /// Per change: the agent's `latency_us` (event received to commit).
    pub latencies: Vec<Duration>,
    /// Per change: the API process's write to the agent's log line of the commit.
    pub walls: Vec<Duration>,
    /// Changes made.
    pub changes: usize,
    /// The periodic full syncs during the changes: their datapath time.
    pub resyncs: Vec<Duration>,
    /// Changes whose commit was never logged (within 10 s).
    pub lost: usize,
    /// From the first change's planned time to the last change's write.
    pub elapsed: Duration,
}

impl SizeResult {
    /// `10k x 5`, `44k x 5`, `500 x 5`.
    pub fn label(&self) -> String {
        let n = self.services;
        let count = if n >= 1000 && n.is_multiple_of(1000) {
            format!("{}k", n / 1000)
        } else {
            n.to_string()
        };
        format!("{count} x {}", self.endpoints)
    }
}

/// The `p`-th percentile (nearest rank) of `v`.
pub fn percentile(v: &[Duration], p: f64) -> Option<Duration> {
    let mut v = v.to_vec();
    v.sort();
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v.get(rank.clamp(1, v.len().max(1)) - 1).copied()
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn mem(m: Option<Memory>) -> String {
    m.map_or("-".to_owned(), |m| {
        format!("{} (peak {})", mb(m.rss), mb(m.hwm))
    })
}

fn opt(d: Option<Duration>) -> String {
    d.map_or("-".to_owned(), fmt)
}

/// The tables and the targets, for every size measured.
pub fn render(results: &[SizeResult]) -> String {
    let mut out = String::new();
    let mut checks: Vec<(bool, String)> = Vec::new();
    let _ = writeln!(
        out,
        "\nStart -> first full sync committed (log line of the sync; median of n starts)"
    );
    let _ = writeln!(
        out,
        "  {:<10} {:>3} {:>11} {:>23}   phases (medians): up / lists done / full sync",
        "size", "n", "median", "min - max"
    );
    for r in results {
        let totals: Vec<Duration> = r.starts.iter().map(|s| s.total).collect();
        let med =
            |f: fn(&Start) -> Duration| opt(median(&r.starts.iter().map(f).collect::<Vec<_>>()));
        let total = median(&totals);
        let range = match (totals.iter().min(), totals.iter().max()) {
            (Some(a), Some(b)) => format!("{} - {}", fmt(*a), fmt(*b)),
            _ => "-".to_owned(),
        };
        let _ = writeln!(
            out,
            "  {:<10} {:>3} {:>11} {:>23}   {} / {} / {}",
            r.label(),
            totals.len(),
            opt(total),
            range,
            med(|s| s.up),
            med(|s| s.listed),
            med(|s| s.sync),
        );
        if let (Some(target), Some(total)) = (start_target(r.services), total) {
            checks.push((
                total <= target,
                format!(
                    "{}: start -> first sync <= {}: {}",
                    r.label(),
                    fmt(target),
                    fmt(total)
                ),
            ));
        }
    }
    let _ = writeln!(out, "\nAgent memory, VmRSS (VmHWM), 1 s after:");
    let _ = writeln!(
        out,
        "  {:<10} {:>28} {:>28}",
        "size", "the first sync", "the changes"
    );
    for r in results {
        let _ = writeln!(
            out,
            "  {:<10} {:>28} {:>28}",
            r.label(),
            mem(r.after_sync),
            mem(r.after_changes)
        );
        if r.services == 10_000 {
            for (when, m) in [("first sync", r.after_sync), ("changes", r.after_changes)] {
                if let Some(m) = m {
                    checks.push((
                        m.rss <= RSS_TARGET_10K,
                        format!(
                            "{}: VmRSS after the {when} <= {}: {}",
                            r.label(),
                            mb(RSS_TARGET_10K),
                            mb(m.rss)
                        ),
                    ));
                }
            }
        }
    }
    let _ = writeln!(
        out,
        "\nOne endpoint change: event received -> kernel committed (agent's latency_us); \
         wall: API write -> log line of the commit"
    );
    let _ = writeln!(
        out,
        "  {:<10} {:>5} {:>5} {:>7} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11}   periodic full syncs meanwhile",
        "size", "n", "lost", "rate/s", "p50", "p99", "max", "wall p50", "wall p99", "wall max"
    );
    let (p50_target, p99_target) = LATENCY_TARGETS;
    for r in results.iter().filter(|r| r.changes > 0) {
        let rate = r.changes.saturating_sub(1) as f64 / r.elapsed.as_secs_f64().max(1e-9);
        let (p50, p99) = (
            percentile(&r.latencies, 50.0),
            percentile(&r.latencies, 99.0),
        );
        let _ = writeln!(
            out,
            "  {:<10} {:>5} {:>5} {:>7.1} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11}   {} (median {})",
            r.label(),
            r.latencies.len(),
            r.lost,
            rate,
            opt(p50),
            opt(p99),
            opt(r.latencies.iter().max().copied()),
            opt(percentile(&r.walls, 50.0)),
            opt(percentile(&r.walls, 99.0)),
            opt(r.walls.iter().max().copied()),
            r.resyncs.len(),
            opt(median(&r.resyncs)),
        );
        if let (Some(p50), Some(p99)) = (p50, p99) {
            checks.push((
                p50 <= p50_target,
                format!(
                    "{}: change p50 <= {}: {}",
                    r.label(),
                    fmt(p50_target),
                    fmt(p50)
                ),
            ));
            checks.push((
                p99 <= p99_target,
                format!(
                    "{}: change p99 <= {}: {}",
                    r.label(),
                    fmt(p99_target),
                    fmt(p99)
                ),
            ));
        }
        if r.lost > 0 {
            checks.push((
                false,
                format!("{}: {} changes never committed", r.label(), r.lost),
            ));
        }
    }
    let _ = writeln!(out, "\nTargets:");
    for (ok, text) in checks {
        let _ = writeln!(out, "  [{}] {text}", if ok { "met" } else { "MISSED" });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(ms).collect();
        assert_eq!(percentile(&v, 50.0), Some(ms(50)));
        assert_eq!(percentile(&v, 99.0), Some(ms(99)));
        assert_eq!(percentile(&[ms(7)], 99.0), Some(ms(7)));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn the_table_says_which_targets_are_missed() {
        let ten = SizeResult {
            services: 10_000,
            endpoints: 5,
            starts: vec![Start {
                total: ms(1500),
                up: ms(10),
                listed: ms(900),
                sync: ms(400),
            }],
            after_sync: Some(Memory {
                rss: 80_000_000,
                hwm: 150_000_000,
            }),
            after_changes: None,
            latencies: vec![ms(1); 99].into_iter().chain([ms(20)]).collect(),
            walls: vec![ms(2); 100],
            resyncs: vec![ms(500)],
            changes: 100,
            lost: 0,
            elapsed: Duration::from_millis(9900),
        };
        let text = render(&[ten]);
        assert!(
            text.contains("[MISSED] 10k x 5: start -> first sync <= 1.0000 s: 1.5000 s"),
            "{text}"
        );
        assert!(
            text.contains("[met] 10k x 5: VmRSS after the first sync <= 100.0 MB: 80.0 MB"),
            "{text}"
        );
        assert!(
            text.contains("[met] 10k x 5: change p50 <= 2.0000 ms: 1.0000 ms"),
            "{text}"
        );
        assert!(
            text.contains("[met] 10k x 5: change p99 <= 10.000 ms: 1.0000 ms"),
            "{text}"
        );
        assert!(text.contains("     0    10.0 "), "the rate: {text}");
        assert!(text.contains("   1 (median 500.00 ms)"), "{text}");
        let small = SizeResult {
            services: 500,
            endpoints: 5,
            ..SizeResult::default()
        };
        assert_eq!(small.label(), "500 x 5");
        assert!(!render(&[small]).contains("[met]"));
    }
}
