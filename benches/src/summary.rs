//! Every individual sync or load a run timed, by benchmark id, and the closing table: medians
//! side by side, svcproxy vs `nft -f` ratios, and issue 3's targets.
//!
//! Criterion reports each benchmark on its own (in flat sampling, the mean of per-sample
//! averages); this summary puts the comparisons the targets are about next to each other, from
//! the same measurements, as the median of individual iterations.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::time::Duration;

/// Durations recorded during a run, by benchmark id, in the order the ids were first seen.
#[derive(Debug, Default)]
pub struct Summary {
    times: RefCell<Vec<(String, Vec<Duration>)>>,
}

impl Summary {
    /// An empty summary.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one timed iteration of `id`.
    pub fn record(&self, id: &str, d: Duration) {
        let mut times = self.times.borrow_mut();
        match times.iter_mut().find(|(k, _)| k == id) {
            Some((_, v)) => v.push(d),
            None => times.push((id.to_owned(), vec![d])),
        }
    }

    fn with<T>(&self, id: &str, f: impl FnOnce(&[Duration]) -> T) -> Option<T> {
        let times = self.times.borrow();
        times.iter().find(|(k, _)| k == id).map(|(_, v)| f(v))
    }

    /// The median of `id`'s recorded iterations, if any.
    pub fn median(&self, id: &str) -> Option<Duration> {
        self.with(id, median).flatten()
    }

    /// How many iterations of `id` were recorded.
    pub fn count(&self, id: &str) -> usize {
        self.with(id, <[Duration]>::len).unwrap_or(0)
    }

    /// The closing table (empty when nothing was recorded).
    pub fn render(&self) -> String {
        let times = self.times.borrow();
        if times.is_empty() {
            return String::new();
        }
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\nSummary: median of the individual syncs / loads timed in this run (n = how many)"
        );
        for (id, v) in times.iter() {
            if let Some(m) = median(v) {
                let _ = writeln!(out, "  {id:<45} {:>12}  (n = {})", fmt(m), v.len());
            }
        }
        let ratios: Vec<String> = ["1k_x5", "5k_x5", "10k_x5"]
            .iter()
            .filter_map(|size| {
                let ours = self.median(&format!("full_sync/svcproxy/{size}"))?;
                let theirs = self.median(&format!("full_sync/nft_f_kube_proxy_shape/{size}"))?;
                Some(format!(
                    "  full sync {size}: nft -f of kube-proxy's shape / svcproxy = {:.1}x",
                    theirs.as_secs_f64() / ours.as_secs_f64()
                ))
            })
            .collect();
        if !ratios.is_empty() {
            let _ = writeln!(out, "Side by side:");
            for r in ratios {
                let _ = writeln!(out, "{r}");
            }
        }
        let checks = self.targets();
        if !checks.is_empty() {
            let _ = writeln!(out, "Targets (issue 3):");
            for (ok, text) in checks {
                let _ = writeln!(out, "  [{}] {text}", if ok { "met" } else { "MISSED" });
            }
        }
        out
    }

    /// Issue 3's targets whose inputs were measured: (met, description with the figures).
    fn targets(&self) -> Vec<(bool, String)> {
        let mut checks = Vec::new();
        if let Some(full) = self.median("full_sync/svcproxy/10k_x5") {
            checks.push((
                full < Duration::from_secs(1),
                format!("cold full sync 10k x 5 under 1 s: {}", fmt(full)),
            ));
            if let Some(nft) = self.median("full_sync/nft_f_kube_proxy_shape/10k_x5") {
                let ratio = nft.as_secs_f64() / full.as_secs_f64();
                checks.push((
                    ratio >= 20.0,
                    format!(
                        "at least 20x faster than nft -f at 10k x 5: {ratio:.1}x ({} vs {})",
                        fmt(full),
                        fmt(nft)
                    ),
                ));
            }
        }
        for group in ["add_service", "change_endpoint"] {
            let at = |size: &str| self.median(&format!("{group}/svcproxy/{size}"));
            if let Some(m10) = at("10k") {
                checks.push((
                    m10 < Duration::from_millis(2),
                    format!("{group} at 10k under 2 ms: {}", fmt(m10)),
                ));
            }
            if let (Some(m1), Some(m44)) = (at("1k"), at("44k")) {
                let ratio = m44.as_secs_f64() / m1.as_secs_f64();
                checks.push((
                    ratio <= 2.0,
                    format!(
                        "{group} at 44k within 2x of 1k: {ratio:.1}x ({} vs {})",
                        fmt(m44),
                        fmt(m1)
                    ),
                ));
            }
        }
        checks
    }
}

/// The median (the mean of the middle two for an even count).
pub fn median(v: &[Duration]) -> Option<Duration> {
    let mut v = v.to_vec();
    v.sort();
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2),
    }
}

/// A duration as criterion prints it: 5 significant digits and a unit.
pub fn fmt(d: Duration) -> String {
    let ns = d.as_secs_f64() * 1e9;
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    let digits = if value < 10.0 {
        4
    } else if value < 100.0 {
        3
    } else if value < 1000.0 {
        2
    } else {
        1
    };
    format!("{value:.digits$} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        let ms = Duration::from_millis;
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[ms(3), ms(1), ms(2)]), Some(ms(2)));
        assert_eq!(
            median(&[ms(4), ms(1), ms(2), ms(3)]),
            Some(Duration::from_micros(2500))
        );
    }

    #[test]
    fn formats_like_criterion() {
        assert_eq!(fmt(Duration::from_micros(174_520)), "174.52 ms");
        assert_eq!(fmt(Duration::from_nanos(67_314)), "67.314 µs");
        assert_eq!(fmt(Duration::from_millis(91_183)), "91.183 s");
        assert_eq!(fmt(Duration::from_nanos(1_151_700)), "1.1517 ms");
    }

    #[test]
    fn targets_and_ratios() {
        let s = Summary::new();
        let ms = Duration::from_millis;
        s.record("full_sync/svcproxy/10k_x5", ms(400));
        s.record("full_sync/nft_f_kube_proxy_shape/10k_x5", ms(40_000));
        s.record("add_service/svcproxy/1k", ms(1));
        s.record("add_service/svcproxy/44k", ms(3));
        let text = s.render();
        assert!(
            text.contains("nft -f of kube-proxy's shape / svcproxy = 100.0x"),
            "{text}"
        );
        assert!(
            text.contains("[met] cold full sync 10k x 5 under 1 s: 400.00 ms"),
            "{text}"
        );
        assert!(
            text.contains("[met] at least 20x faster than nft -f at 10k x 5: 100.0x"),
            "{text}"
        );
        assert!(
            text.contains("[MISSED] add_service at 44k within 2x of 1k: 3.0x"),
            "{text}"
        );
        assert!(!text.contains("change_endpoint"), "{text}");
        assert_eq!(s.count("add_service/svcproxy/1k"), 1);
        assert_eq!(Summary::new().render(), "");
    }
}
