//! Which `iptables` to drive: `iptables-legacy` (the x_tables kernel API) or `iptables-nft`
//! (the same rules, stored as nf_tables), and how to tell which one a host uses.
//!
//! Both variants can be installed and both can hold rules at the same time (packets then go
//! through both), so a proxy must program the one the rest of the host uses. Like upstream's
//! `iptables-wrapper`, [`detect`] looks at what each variant holds in the target namespace
//! ([`Census`]) and decides with [`choose`]:
//!
//! 1. a variant whose tools are missing is out;
//! 2. the variant holding Kubernetes chains (`KUBE-*`, e.g. kubelet's `KUBE-IPTABLES-HINT`) or
//!    ours, when the other holds none;
//! 3. the variant with more rules;
//! 4. the variant `iptables --version` reports (the host's default), else `nft`.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use proxy_core::model::IpFamily;

use crate::error::Result;
use crate::runner::{CommandRunner, RestoreRunner};

/// One of the two `iptables` implementations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Variant {
    /// `iptables-legacy`: the x_tables API; every change replaces a whole table blob.
    Legacy,
    /// `iptables-nft`: iptables rules stored in nf_tables tables (`ip nat`, `ip filter`).
    Nft,
}

impl Variant {
    /// Both variants.
    pub const ALL: [Variant; 2] = [Variant::Legacy, Variant::Nft];

    /// `legacy` or `nft`.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Legacy => "legacy",
            Variant::Nft => "nft",
        }
    }

    /// The other variant.
    pub fn other(self) -> Variant {
        match self {
            Variant::Legacy => Variant::Nft,
            Variant::Nft => Variant::Legacy,
        }
    }

    /// The `iptables` command of `family` (`iptables-nft`, `ip6tables-legacy`, ...).
    pub fn iptables(self, family: IpFamily) -> &'static str {
        match (self, family) {
            (Variant::Legacy, IpFamily::V4) => "iptables-legacy",
            (Variant::Legacy, IpFamily::V6) => "ip6tables-legacy",
            (Variant::Nft, IpFamily::V4) => "iptables-nft",
            (Variant::Nft, IpFamily::V6) => "ip6tables-nft",
        }
    }

    /// The restore command of `family`.
    pub fn restore(self, family: IpFamily) -> &'static str {
        match (self, family) {
            (Variant::Legacy, IpFamily::V4) => "iptables-legacy-restore",
            (Variant::Legacy, IpFamily::V6) => "ip6tables-legacy-restore",
            (Variant::Nft, IpFamily::V4) => "iptables-nft-restore",
            (Variant::Nft, IpFamily::V6) => "ip6tables-nft-restore",
        }
    }

    /// The save command of `family`.
    pub fn save(self, family: IpFamily) -> &'static str {
        match (self, family) {
            (Variant::Legacy, IpFamily::V4) => "iptables-legacy-save",
            (Variant::Legacy, IpFamily::V6) => "ip6tables-legacy-save",
            (Variant::Nft, IpFamily::V4) => "iptables-nft-save",
            (Variant::Nft, IpFamily::V6) => "ip6tables-nft-save",
        }
    }

    /// Whether this variant's tools take the xtables lock (`iptables-nft` relies on nf_tables
    /// transactions and ignores `-w`).
    pub fn uses_xtables_lock(self) -> bool {
        self == Variant::Legacy
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Variant {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "legacy" => Ok(Variant::Legacy),
            "nft" | "nf_tables" => Ok(Variant::Nft),
            _ => Err(format!("{s:?} is not an iptables variant (legacy or nft)")),
        }
    }
}

/// What one variant holds in a namespace, from its `iptables-save` and `ip6tables-save`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Census {
    /// Whether its tools could be run at all.
    pub available: bool,
    /// Rules (`-A` lines), both families.
    pub rules: usize,
    /// Kubernetes chains (`KUBE-*`) and our chains, both families.
    pub proxy_chains: usize,
}

impl Census {
    /// Adds what `save` (an `iptables-save` output) holds; `is_ours` recognizes our chains.
    pub fn count(&mut self, save: &str, is_ours: &dyn Fn(&str) -> bool) {
        self.available = true;
        for line in save.lines() {
            if line.starts_with("-A ") {
                self.rules += 1;
            } else if let Some(decl) = line.strip_prefix(':') {
                let name = decl.split_whitespace().next().unwrap_or_default();
                if name.starts_with("KUBE-") || is_ours(name) {
                    self.proxy_chains += 1;
                }
            }
        }
    }
}

/// The variant chosen and why, for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detection {
    /// The variant to use.
    pub variant: Variant,
    /// Why, in words.
    pub reason: String,
}

/// Chooses between what the variants hold (see the module documentation); `default` is what
/// `iptables --version` reports, if anything.
pub fn choose(legacy: &Census, nft: &Census, default: Option<Variant>) -> Detection {
    let pick = |variant, reason: String| Detection { variant, reason };
    match (legacy.available, nft.available) {
        (true, false) => return pick(Variant::Legacy, "only iptables-legacy is installed".into()),
        (false, true) => return pick(Variant::Nft, "only iptables-nft is installed".into()),
        _ => {}
    }
    match (legacy.proxy_chains > 0, nft.proxy_chains > 0) {
        (true, false) => {
            return pick(
                Variant::Legacy,
                format!(
                    "iptables-legacy holds {} proxy chains, iptables-nft none",
                    legacy.proxy_chains
                ),
            );
        }
        (false, true) => {
            return pick(
                Variant::Nft,
                format!(
                    "iptables-nft holds {} proxy chains, iptables-legacy none",
                    nft.proxy_chains
                ),
            );
        }
        _ => {}
    }
    if legacy.rules != nft.rules {
        let variant = if legacy.rules > nft.rules {
            Variant::Legacy
        } else {
            Variant::Nft
        };
        return pick(
            variant,
            format!(
                "iptables-legacy holds {} rules, iptables-nft {}",
                legacy.rules, nft.rules
            ),
        );
    }
    match default {
        Some(variant) => pick(
            variant,
            format!("no rules either way; `iptables --version` says {variant}"),
        ),
        None => pick(
            Variant::Nft,
            "no rules either way and no default `iptables`; nft".into(),
        ),
    }
}

/// The variant `iptables --version` reports (`iptables v1.8.9 (nf_tables)`), if the command
/// runs.
pub fn default_variant(netns: Option<&Path>) -> Option<Variant> {
    let out = crate::runner::run_in(netns, "iptables", &["--version"], None).ok()?;
    parse_version(&String::from_utf8_lossy(&out.stdout))
}

/// The variant in an `iptables --version` line: `(nf_tables)` or `(legacy)`; older versions
/// without either are legacy.
pub fn parse_version(text: &str) -> Option<Variant> {
    if !text.contains("iptables") {
        return None;
    }
    if text.contains("(nf_tables)") {
        Some(Variant::Nft)
    } else {
        Some(Variant::Legacy)
    }
}

/// Counts what `variant` holds in the namespace (both families); unavailable if its IPv4
/// save tool cannot run.
pub fn census(
    netns: Option<&Path>,
    variant: Variant,
    is_ours: &dyn Fn(&str) -> bool,
) -> Result<Census> {
    let mut runner = CommandRunner::new(netns, variant)?;
    let mut census = Census::default();
    for family in IpFamily::ALL {
        match runner.save(family, None) {
            Ok(text) => census.count(&text, is_ours),
            Err(e) if family == IpFamily::V4 => {
                tracing::debug!(%variant, error = %e, "iptables variant not usable");
                return Ok(Census::default());
            }
            Err(e) => tracing::debug!(%variant, error = %e, "no ip6tables for this variant"),
        }
    }
    Ok(census)
}

/// Detects the variant used in the namespace `netns` (the current one if `None`); see the
/// module documentation.
pub fn detect(netns: Option<&Path>, is_ours: &dyn Fn(&str) -> bool) -> Result<Detection> {
    let legacy = census(netns, Variant::Legacy, is_ours)?;
    let nft = census(netns, Variant::Nft, is_ours)?;
    Ok(choose(&legacy, &nft, default_variant(netns)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn census(rules: usize, proxy_chains: usize) -> Census {
        Census {
            available: true,
            rules,
            proxy_chains,
        }
    }

    #[test]
    fn counts_rules_and_proxy_chains() {
        let save = "*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:OURS-X - [0:0]\n:OTHER - [0:0]\n-A PREROUTING -j KUBE-SERVICES\n-A OTHER -j ACCEPT\nCOMMIT\n";
        let mut c = Census::default();
        c.count(save, &|n| n.starts_with("OURS-"));
        assert_eq!(c, census(2, 2));
    }

    #[test]
    fn prefers_installed_then_proxy_chains_then_rules_then_default() {
        let none = Census::default();
        let pick = |l: &Census, n: &Census, d| choose(l, n, d).variant;
        assert_eq!(
            pick(&none, &census(0, 0), Some(Variant::Legacy)),
            Variant::Nft
        );
        assert_eq!(pick(&census(0, 0), &none, None), Variant::Legacy);
        assert_eq!(pick(&census(1, 1), &census(50, 0), None), Variant::Legacy);
        assert_eq!(pick(&census(50, 0), &census(1, 1), None), Variant::Nft);
        assert_eq!(
            pick(&census(9, 0), &census(3, 0), Some(Variant::Nft)),
            Variant::Legacy
        );
        assert_eq!(
            pick(&census(0, 0), &census(0, 0), Some(Variant::Legacy)),
            Variant::Legacy
        );
        assert_eq!(pick(&census(0, 0), &census(0, 0), None), Variant::Nft);
    }

    #[test]
    fn reads_the_version_line() {
        assert_eq!(
            parse_version("iptables v1.8.9 (nf_tables)\n"),
            Some(Variant::Nft)
        );
        assert_eq!(
            parse_version("iptables v1.8.9 (legacy)\n"),
            Some(Variant::Legacy)
        );
        assert_eq!(parse_version("iptables v1.6.1\n"), Some(Variant::Legacy));
        assert_eq!(parse_version(""), None);
        assert_eq!("nft".parse(), Ok(Variant::Nft));
        assert!("both".parse::<Variant>().is_err());
    }
}
