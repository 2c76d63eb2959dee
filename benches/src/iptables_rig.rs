//! Rigs for the iptables bench (`benches/iptables.rs`): a fresh network namespace and the
//! thing under test programming it.
//!
//! * [`Iptables`]: an [`IptablesDatapath`] of one [`Variant`] (forced, not detected) bound to
//!   its own [`Netns`]; [`Iptables::sync`] times one `Datapath::sync` call (plan, render, the
//!   restore runs, and on the first sync the look at what the kernel holds that every cold
//!   start does);
//! * [`LegacyRestore`]: a [`Netns`] into which [`LegacyRestore::load`] times
//!   `ip netns exec NS iptables-legacy-restore --noflush -w 30 < FILE`, the reference the
//!   legacy cold full sync is compared against; [`reference_text`] is the same rules, from
//!   the planner ([`plan::full_plan`] and [`datapath::inputs_from_scratch`]: what `svcproxy
//!   dump` prints, one document since legacy is not chunked).
//!
//! Both empty their namespace before it is deleted ([`empty`]), synchronously, so that the
//! kernel's asynchronous teardown of a namespace full of rules does not compete with the next
//! measurement. They do so with one whole-table restore (legacy) or `nft flush ruleset`
//! (iptables-nft), not the datapath's own cleanup: that one removes only our chains, with
//! `-X` per chain in one `--noflush` restore, and is not what is measured here; the namespace
//! is ours and throwaway. Neither ever touches the caller's namespace.

use std::fs::File;
use std::hash::{DefaultHasher, Hash as _, Hasher as _};
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use backend_iptables::datapath::{self, IptablesConfig, IptablesDatapath};
use backend_iptables::runner::{DEFAULT_LOCK_WAIT, xtables_lock_holder};
use backend_iptables::{Variant, names, plan};
use proxy_core::model::IpFamily;
use proxy_core::{Datapath, Delta, ProxyState, SyncMode, SyncReport};
use testkit::Netns;
use tokio::runtime::Runtime;
use tokio::time::Instant;

use crate::cluster::Cluster;
use crate::rig::Result;

/// The iptables planner configuration for `cluster`: the node configuration
/// [`Cluster::plan_config`] gives the nftables planner; chunking left to the datapath (from the
/// variant).
pub fn plan_config(cluster: &Cluster) -> plan::Config {
    plan::Config {
        node: cluster.plan_config(),
        chunk_chains: None,
    }
}

/// The restore input of a cold full sync of `state` with legacy (one document: chains, rules
/// and the jumps from the built-in chains), and how many chains of ours it declares.
///
/// # Panics
///
/// If the plan has no IPv4 part or more than one document (it is not chunked).
pub fn reference_text(cluster: &Cluster, state: &ProxyState) -> (String, usize) {
    let config = plan_config(cluster);
    let plan = plan::full_plan(state, &config);
    let fam = plan
        .family(IpFamily::V4)
        .expect("an IPv4 plan for an IPv4 node");
    let mut texts = datapath::inputs_from_scratch(fam);
    assert_eq!(texts.len(), 1, "an unchunked plan is one document");
    (texts.remove(0), fam.counts.chains_written)
}

/// The lock wait given to the reference's restore, as the datapath gives its own.
fn lock_wait_arg() -> String {
    DEFAULT_LOCK_WAIT.as_secs().max(1).to_string()
}

/// Whether another program holds the host's xtables lock now (only legacy takes it; it is
/// shared by every namespace, so another user's `iptables-legacy` anywhere on the host
/// delays a legacy restore here).
pub fn xtables_lock_busy() -> bool {
    xtables_lock_holder().is_some()
}

/// svcproxy's iptables datapath programming a fresh namespace.
pub struct Iptables {
    runtime: Runtime,
    datapath: IptablesDatapath,
    variant: Variant,
    // Dropped last: emptied, then deleted.
    ns: Netns,
}

impl std::fmt::Debug for Iptables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Iptables")
            .field("ns", &self.ns.name())
            .field("variant", &self.variant)
            .finish_non_exhaustive()
    }
}

impl Iptables {
    /// A new namespace and a datapath of `variant` (nothing programmed yet) with `cluster`'s
    /// planner configuration.
    pub fn new(cluster: &Cluster, variant: Variant) -> Result<Self> {
        let ns = Netns::new(&format!("ipt-{variant}-bench"))?;
        let datapath = IptablesDatapath::new(IptablesConfig {
            netns: Some(ns.path().to_path_buf()),
            variant: Some(variant),
            plan: plan_config(cluster),
            ..IptablesConfig::default()
        })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?;
        Ok(Iptables {
            runtime,
            datapath,
            variant,
            ns,
        })
    }

    /// The namespace programmed.
    pub fn netns(&self) -> &Netns {
        &self.ns
    }

    /// The variant driven.
    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// Runs one sync and returns its wall time and report.
    ///
    /// # Panics
    ///
    /// If the sync fails: a bench of a failing sync measures nothing.
    pub fn sync(
        &mut self,
        state: &ProxyState,
        delta: &Delta,
        mode: SyncMode,
    ) -> (Duration, SyncReport) {
        let start = Instant::now();
        let result = self
            .runtime
            .block_on(self.datapath.sync(state, delta, mode));
        let elapsed = start.elapsed();
        match result {
            Ok(report) => (elapsed, report),
            Err(e) => panic!("iptables-{} {mode:?} sync failed: {e}", self.variant),
        }
    }

    /// The IPv4 ruleset as the variant's save tool prints it ([`normalize`]d).
    pub fn save(&self) -> Result<String> {
        save(&self.ns, self.variant)
    }
}

impl Drop for Iptables {
    fn drop(&mut self) {
        if let Err(e) = empty(&self.ns, self.variant) {
            eprintln!("emptying {} failed: {e}", self.ns.name());
        }
    }
}

/// A fresh namespace that `iptables-legacy-restore --noflush` loads a file into.
#[derive(Debug)]
pub struct LegacyRestore {
    ns: Netns,
}

impl LegacyRestore {
    /// A new, empty namespace.
    pub fn new() -> Result<Self> {
        Ok(LegacyRestore {
            ns: Netns::new("ipt-ref-bench")?,
        })
    }

    /// The namespace.
    pub fn netns(&self) -> &Netns {
        &self.ns
    }

    /// Runs `ip netns exec NS iptables-legacy-restore --noflush -w 30 < path` and returns its
    /// wall time (process start included, a few milliseconds).
    pub fn load(&self, path: &Path) -> Result<Duration> {
        let input = File::open(path)?;
        let wait = lock_wait_arg();
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", self.ns.name()])
            .args([
                Variant::Legacy.restore(IpFamily::V4),
                "--noflush",
                "-w",
                &wait,
            ])
            .stdin(Stdio::from(input))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let start = Instant::now();
        let output = command.output()?;
        let elapsed = start.elapsed();
        check(&output, "iptables-legacy-restore of the reference")?;
        Ok(elapsed)
    }

    /// The IPv4 ruleset as `iptables-legacy-save` prints it ([`normalize`]d).
    pub fn save(&self) -> Result<String> {
        save(&self.ns, Variant::Legacy)
    }
}

impl Drop for LegacyRestore {
    fn drop(&mut self) {
        if let Err(e) = empty(&self.ns, Variant::Legacy) {
            eprintln!("emptying {} failed: {e}", self.ns.name());
        }
    }
}

/// An error unless `output` is a success.
fn check(output: &Output, what: &str) -> Result<()> {
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what}: exit {:?}: {}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).trim()
        )
        .into())
    }
}

/// Removes every IPv4 rule and user chain of `variant` from `ns` (ours and throwaway): for
/// legacy one `iptables-legacy-restore` without `--noflush` of empty `nat` and `filter`
/// tables (each replaced by an empty blob: one read and one small write), for iptables-nft
/// `nft flush ruleset` (one transaction).
pub fn empty(ns: &Netns, variant: Variant) -> Result<()> {
    match variant {
        Variant::Legacy => {
            let wait = lock_wait_arg();
            let mut child = Command::new("ip")
                .args(["netns", "exec", ns.name()])
                .args([variant.restore(IpFamily::V4), "-w", &wait])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()?;
            if let Some(mut stdin) = child.stdin.take() {
                stdin.write_all(b"*nat\nCOMMIT\n*filter\nCOMMIT\n")?;
            }
            check(&child.wait_with_output()?, "emptying the legacy tables")
        }
        Variant::Nft => check(
            &ns.output("nft", ["flush", "ruleset"])?,
            "nft flush ruleset",
        ),
    }
}

/// `{variant}-save` of IPv4 in `ns`, [`normalize`]d.
pub fn save(ns: &Netns, variant: Variant) -> Result<String> {
    let out = ns.exec(variant.save(IpFamily::V4), std::iter::empty::<&str>())?;
    Ok(normalize(&String::from_utf8_lossy(&out.stdout)))
}

/// A save output without its comment lines (they hold a date) and with every counter
/// (`[packets:bytes]`) zeroed, so two loads of the same rules compare equal.
pub fn normalize(save: &str) -> String {
    let mut out = String::with_capacity(save.len());
    for line in save.lines().filter(|l| !l.starts_with('#')) {
        match line.rfind(" [") {
            Some(i) if line.starts_with(':') && line.ends_with(']') => {
                out.push_str(&line[..i]);
                out.push_str(" [0:0]");
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// How many chains of ours a save output declares (all tables).
pub fn our_chains(save: &str) -> usize {
    save.lines()
        .filter_map(|l| l.strip_prefix(':'))
        .filter_map(|decl| decl.split_whitespace().next())
        .filter(|name| names::is_ours(name))
        .count()
}

/// How many rules (`-A` lines) a save output holds.
pub fn rules(save: &str) -> usize {
    save.lines().filter(|l| l.starts_with("-A ")).count()
}

/// A fingerprint of a save output (for comparing two rulesets without keeping both).
pub fn fingerprint(save: &str) -> u64 {
    let mut h = DefaultHasher::new();
    save.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rig::TempFile;

    #[test]
    fn normalizes_saves() {
        let a = "# Generated by iptables-save v1.8.9 on Mon\n*nat\n:PREROUTING ACCEPT [3:180]\n:SVCP-SERVICES - [0:0]\n-A PREROUTING -j SVCP-SERVICES\nCOMMIT\n# Completed on Mon\n";
        let b = "# Generated by iptables-save v1.8.9 on Tue\n*nat\n:PREROUTING ACCEPT [0:0]\n:SVCP-SERVICES - [0:0]\n-A PREROUTING -j SVCP-SERVICES\nCOMMIT\n# Completed on Tue\n";
        assert_eq!(normalize(a), normalize(b));
        assert_eq!(fingerprint(&normalize(a)), fingerprint(&normalize(b)));
        assert_eq!(our_chains(&normalize(a)), 1);
        assert_eq!(rules(a), 1);
    }

    #[test]
    fn reference_is_the_datapath_s_rules() {
        if !testkit::root_or_skip("reference_is_the_datapath_s_rules") {
            return;
        }
        let c = Cluster::new(50, 3);
        let state = c.state();
        let (text, chains) = reference_text(&c, &state);
        let file = TempFile::new("ipt-test", &text).unwrap();
        let reference = LegacyRestore::new().unwrap();
        reference.load(file.path()).unwrap();
        let loaded = reference.save().unwrap();
        assert_eq!(our_chains(&loaded), chains);

        let mut rig = Iptables::new(&c, Variant::Legacy).unwrap();
        rig.sync(&state, &Delta::default(), SyncMode::Full);
        assert_eq!(rig.save().unwrap(), loaded);
        empty(rig.netns(), Variant::Legacy).unwrap();
        assert_eq!(our_chains(&rig.save().unwrap()), 0);
    }

    #[test]
    fn both_variants_full_then_partial() {
        if !testkit::root_or_skip("both_variants_full_then_partial") {
            return;
        }
        let c = Cluster::new(50, 3);
        let (_, chains) = reference_text(&c, &c.state());
        for variant in Variant::ALL {
            let mut state = c.state();
            let mut rig = Iptables::new(&c, variant).unwrap();
            rig.sync(&state, &Delta::default(), SyncMode::Full);
            assert_eq!(our_chains(&rig.save().unwrap()), chains, "{variant}");
            let delta = c.toggle_endpoint(&mut state, 25);
            let (_, report) = rig.sync(&state, &delta, SyncMode::Partial);
            assert!(report.messages < 20, "{variant}: {report:?}");
            let saved = rig.save().unwrap();
            assert_eq!(our_chains(&saved), chains, "{variant}");
            let moved = c.alternate_endpoint(25);
            assert!(
                saved.contains(&format!("--to-destination {moved}")),
                "{variant}: {moved} not programmed"
            );
            empty(rig.netns(), variant).unwrap();
            assert_eq!(our_chains(&rig.save().unwrap()), 0, "{variant}");
        }
    }
}
