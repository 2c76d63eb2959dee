//! The iptables bench's record of every timed sync or load, and its closing table: medians
//! (with min and max) side by side with the nftables backend, the ratios issue 4's targets are
//! about, and the targets, met or missed.
//!
//! Criterion reports each benchmark on its own (in flat sampling, the mean of per-sample
//! averages); this summary is computed from the same iterations (warm-up included), as the
//! median of individual ones.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::time::Duration;

use crate::summary::{fmt, median};

/// `iptables_full/legacy/{label}`: a cold full sync through the datapath, legacy.
pub fn full_legacy(label: &str) -> String {
    format!("iptables_full/legacy/{label}")
}

/// `iptables_full/nft/{label}`: a cold full sync through the datapath, iptables-nft.
pub fn full_nft(label: &str) -> String {
    format!("iptables_full/nft/{label}")
}

/// `iptables_full/legacy_restore_reference/{label}`: one `iptables-legacy-restore` of the
/// same rules.
pub fn reference(label: &str) -> String {
    format!("iptables_full/legacy_restore_reference/{label}")
}

/// `iptables_partial/legacy/{label}`: a one-endpoint partial sync, legacy.
pub fn partial_legacy(label: &str) -> String {
    format!("iptables_partial/legacy/{label}")
}

/// `iptables_partial/nft/{label}`: a one-endpoint partial sync, iptables-nft.
pub fn partial_nft(label: &str) -> String {
    format!("iptables_partial/nft/{label}")
}

/// `nftables_full/{label}`: a cold full sync of the nftables backend.
pub fn nftables_full(label: &str) -> String {
    format!("nftables_full/{label}")
}

/// `nftables_partial/{label}`: a one-endpoint partial sync of the nftables backend.
pub fn nftables_partial(label: &str) -> String {
    format!("nftables_partial/{label}")
}

/// Partial restores must be at least this many times faster than full ones.
pub const PARTIAL_SPEEDUP: f64 = 3.0;
/// The cold full sync on legacy within this factor of one `iptables-legacy-restore`.
pub const LEGACY_VS_REFERENCE: f64 = 1.2;
/// The cold full sync on iptables-nft under this.
pub const NFT_FULL_LIMIT: Duration = Duration::from_secs(20);

#[derive(Debug, Default)]
struct Entry {
    id: String,
    times: Vec<Duration>,
    /// Iterations that started while another program held the host's xtables lock.
    lock_busy: usize,
}

/// Durations recorded during a run, by benchmark id, in the order the ids were first seen.
#[derive(Debug, Default)]
pub struct IptablesSummary {
    entries: RefCell<Vec<Entry>>,
    /// Legacy cold full sync / reference load, per back-to-back pair.
    pairs: RefCell<Vec<f64>>,
}

impl IptablesSummary {
    /// An empty summary.
    pub fn new() -> Self {
        Self::default()
    }

    fn with_entry<T>(&self, id: &str, f: impl FnOnce(&mut Entry) -> T) -> T {
        let mut entries = self.entries.borrow_mut();
        let i = match entries.iter().position(|e| e.id == id) {
            Some(i) => i,
            None => {
                entries.push(Entry {
                    id: id.to_owned(),
                    ..Entry::default()
                });
                entries.len() - 1
            }
        };
        f(&mut entries[i])
    }

    /// Records one timed iteration of `id`; `lock_busy`: the xtables lock was held by
    /// another program when it started.
    pub fn record(&self, id: &str, d: Duration, lock_busy: bool) {
        self.with_entry(id, |e| {
            e.times.push(d);
            e.lock_busy += usize::from(lock_busy);
        });
    }

    /// Records the ratio of one back-to-back pair: legacy cold full sync / reference load.
    pub fn record_pair(&self, ratio: f64) {
        self.pairs.borrow_mut().push(ratio);
    }

    /// The median, minimum and maximum of the pairs' ratios, and how many there were.
    pub fn pair_ratios(&self) -> Option<(f64, f64, f64, usize)> {
        let mut v = self.pairs.borrow().clone();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some((median, v[0], v[n - 1], n))
    }

    /// The median of `id`'s iterations, if any.
    pub fn median(&self, id: &str) -> Option<Duration> {
        let entries = self.entries.borrow();
        entries
            .iter()
            .find(|e| e.id == id)
            .and_then(|e| median(&e.times))
    }

    /// How many iterations of `id` were recorded.
    pub fn count(&self, id: &str) -> usize {
        let entries = self.entries.borrow();
        entries
            .iter()
            .find(|e| e.id == id)
            .map_or(0, |e| e.times.len())
    }

    /// The closing table for the runs of size `label` (empty when nothing was recorded).
    pub fn render(&self, label: &str) -> String {
        let entries = self.entries.borrow();
        if entries.is_empty() {
            return String::new();
        }
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\nSummary: the individual syncs / loads timed in this run (median, min-max, n)"
        );
        for e in entries.iter() {
            let Some(m) = median(&e.times) else { continue };
            let min = e.times.iter().min().copied().unwrap_or_default();
            let max = e.times.iter().max().copied().unwrap_or_default();
            let _ = write!(
                out,
                "  {:<46} {:>10}  ({} - {}, n = {})",
                e.id,
                fmt(m),
                fmt(min),
                fmt(max),
                e.times.len()
            );
            if e.lock_busy > 0 {
                let _ = write!(
                    out,
                    "  [xtables lock held by another program at the start of {}]",
                    e.lock_busy
                );
            }
            out.push('\n');
        }
        drop(entries);
        let side = self.side_by_side(label);
        if !side.is_empty() {
            let _ = writeln!(out, "Side by side with the nftables backend ({label}):");
            for line in side {
                let _ = writeln!(out, "  {line}");
            }
        }
        let checks = self.targets(label);
        if !checks.is_empty() {
            let _ = writeln!(out, "Targets (issue 4):");
            for (ok, text) in checks {
                let _ = writeln!(out, "  [{}] {text}", if ok { "met" } else { "MISSED" });
            }
        }
        out
    }

    /// Each iptables median as a multiple of the nftables backend's, per kind of sync.
    fn side_by_side(&self, label: &str) -> Vec<String> {
        let mut lines = Vec::new();
        for (kind, nft, ours) in [
            (
                "full",
                nftables_full(label),
                [full_legacy(label), full_nft(label), reference(label)],
            ),
            (
                "partial",
                nftables_partial(label),
                [partial_legacy(label), partial_nft(label), String::new()],
            ),
        ] {
            let Some(base) = self.median(&nft) else {
                continue;
            };
            let mut line = format!("{kind:<7} nftables {}", fmt(base));
            for (name, id) in ["iptables-legacy", "iptables-nft", "iptables-legacy-restore"]
                .into_iter()
                .zip(&ours)
            {
                if let Some(m) = self.median(id) {
                    let _ = write!(
                        line,
                        " | {name} {} ({:.1}x)",
                        fmt(m),
                        m.as_secs_f64() / base.as_secs_f64()
                    );
                }
            }
            lines.push(line);
        }
        lines
    }

    /// Issue 4's targets whose inputs were measured: (met, description with the figures).
    fn targets(&self, label: &str) -> Vec<(bool, String)> {
        let mut checks = Vec::new();
        for (variant, full, partial) in [
            ("iptables-legacy", full_legacy(label), partial_legacy(label)),
            ("iptables-nft", full_nft(label), partial_nft(label)),
        ] {
            if let (Some(f), Some(p)) = (self.median(&full), self.median(&partial)) {
                let ratio = f.as_secs_f64() / p.as_secs_f64();
                checks.push((
                    ratio >= PARTIAL_SPEEDUP,
                    format!(
                        "{variant}: one-endpoint partial sync at least {PARTIAL_SPEEDUP}x faster \
                         than the full one: {ratio:.1}x ({} vs {})",
                        fmt(p),
                        fmt(f)
                    ),
                ));
            }
        }
        if let (Some(ours), Some(reference)) = (
            self.median(&full_legacy(label)),
            self.median(&reference(label)),
        ) {
            let ratio = ours.as_secs_f64() / reference.as_secs_f64();
            let mut text = format!(
                "iptables-legacy: cold full sync within {LEGACY_VS_REFERENCE}x of one \
                 iptables-legacy-restore of the same rules: {ratio:.2}x ({} vs {})",
                fmt(ours),
                fmt(reference)
            );
            if let Some((median, min, max, n)) = self.pair_ratios() {
                let _ = write!(
                    text,
                    "; per back-to-back pair: median {median:.2}x ({min:.2}x - {max:.2}x, n = {n})"
                );
            }
            checks.push((ratio <= LEGACY_VS_REFERENCE, text));
        }
        if let Some(full) = self.median(&full_nft(label)) {
            checks.push((
                full < NFT_FULL_LIMIT,
                format!(
                    "iptables-nft: cold full sync under {}: {} ({:.0} % of the limit)",
                    fmt(NFT_FULL_LIMIT),
                    fmt(full),
                    100.0 * full.as_secs_f64() / NFT_FULL_LIMIT.as_secs_f64()
                ),
            ));
        }
        checks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: &str = "10k_x5";

    #[test]
    fn targets_and_ratios() {
        let s = IptablesSummary::new();
        let ms = Duration::from_millis;
        s.record(&nftables_full(L), ms(500), false);
        s.record(&full_legacy(L), ms(3_000), false);
        s.record(&full_legacy(L), ms(3_200), true);
        s.record(&full_legacy(L), ms(2_800), false);
        s.record(&reference(L), ms(2_700), false);
        s.record(&partial_legacy(L), ms(1_200), false);
        s.record(&full_nft(L), ms(21_000), false);
        s.record(&partial_nft(L), ms(150), false);
        for r in [1.3, 1.05, 1.1, 0.9] {
            s.record_pair(r);
        }
        let text = s.render(L);
        assert!(
            text.contains("[MISSED] iptables-legacy: one-endpoint partial sync at least 3x faster than the full one: 2.5x (1.2000 s vs 3.0000 s)"),
            "{text}"
        );
        assert!(
            text.contains("[met] iptables-nft: one-endpoint partial sync at least 3x faster than the full one: 140.0x"),
            "{text}"
        );
        assert!(
            text.contains("[met] iptables-legacy: cold full sync within 1.2x of one iptables-legacy-restore of the same rules: 1.11x (3.0000 s vs 2.7000 s); per back-to-back pair: median 1.08x (0.90x - 1.30x, n = 4)"),
            "{text}"
        );
        assert!(
            text.contains("[MISSED] iptables-nft: cold full sync under 20.000 s: 21.000 s (105 % of the limit)"),
            "{text}"
        );
        assert!(
            text.contains("full    nftables 500.00 ms | iptables-legacy 3.0000 s (6.0x) | iptables-nft 21.000 s (42.0x) | iptables-legacy-restore 2.7000 s (5.4x)"),
            "{text}"
        );
        assert!(
            !text.contains("partial nftables"),
            "no nftables partial measured: {text}"
        );
        assert!(text.contains("at the start of 1]"), "{text}");
        assert_eq!(s.count(&full_legacy(L)), 3);
        assert_eq!(s.median(&full_legacy(L)), Some(ms(3_000)));
        assert_eq!(IptablesSummary::new().render(L), "");
    }
}
