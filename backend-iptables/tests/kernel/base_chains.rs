//! `iptables-nft` creates a built-in chain (an nftables base chain) only when a rule is put in
//! it, so our first sync creates those no one else uses; cleanup must delete them again, and
//! only those: a built-in chain holding anyone else's rule, or with a policy other than
//! `ACCEPT`, stays. Observed with `nft list chains` in the namespace (the `iptables` tools
//! list every built-in chain, existing or not).

use std::collections::BTreeSet;

use backend_iptables::Variant;
use backend_iptables::runner::Cleaned;
use proxy_core::model::IpFamily;
use proxy_core::{Delta, SyncMode};
use testkit::Netns;

use crate::common::{FOREIGN, load, netns};
use crate::datapath::{cleanup, config, datapath, rich_state, sync};

/// Every chain of the namespace, as `FAMILY TABLE CHAIN`, from `nft list chains`.
fn nft_chains(ns: &Netns) -> BTreeSet<String> {
    let listing = ns.sh("nft list chains").expect("nft list chains");
    let mut table = String::new();
    let mut out = BTreeSet::new();
    for line in listing.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("table ") {
            table = rest.trim_end_matches(" {").to_owned();
        } else if let Some(rest) = line.strip_prefix("chain ") {
            out.insert(format!("{table} {}", rest.trim_end_matches(" {")));
        }
    }
    out
}

/// The base chains our jumps go into, per family.
const BASE: [&str; 6] = [
    "nat PREROUTING",
    "nat OUTPUT",
    "nat POSTROUTING",
    "filter INPUT",
    "filter FORWARD",
    "filter OUTPUT",
];

#[test]
fn cleanup_deletes_the_base_chains_that_held_only_our_jumps() {
    let Some(ns) = netns("cleanup_deletes_the_base_chains_that_held_only_our_jumps") else {
        return;
    };
    let variant = Variant::Nft;
    // IPv4: foreign rules in nat PREROUTING and filter INPUT, and FORWARD dropping by policy.
    load(&ns, variant, IpFamily::V4, FOREIGN);
    ns.sh("iptables-nft -w -P FORWARD DROP").expect("policy");
    let foreign = nft_chains(&ns);

    let mut dp = datapath(&ns, variant, config());
    sync(&mut dp, &rich_state(), &Delta::default(), SyncMode::Full).expect("full sync");
    let synced = nft_chains(&ns);
    for family in ["ip", "ip6"] {
        for base in BASE {
            let chain = format!("{family} {base}");
            assert!(
                synced.contains(&chain),
                "{chain} holds our jump: {synced:?}"
            );
        }
    }

    cleanup(&mut dp).expect("cleanup");
    let expected: BTreeSet<String> = [
        "ip nat FOREIGN-NAT",
        "ip nat PREROUTING",
        "ip filter FOREIGN-FILTER",
        "ip filter INPUT",
        "ip filter FORWARD",
    ]
    .map(str::to_owned)
    .into();
    assert_eq!(foreign, expected, "the setup");
    assert_eq!(
        nft_chains(&ns),
        expected,
        "only chains holding a foreign rule or a DROP policy remain"
    );
    let rules = ns.sh("iptables-nft-save").expect("save");
    assert!(rules.contains(":FORWARD DROP"), "{rules}");
    assert!(rules.contains("-A INPUT -j FOREIGN-FILTER"), "{rules}");

    // Idempotent, and nothing more is deleted.
    cleanup(&mut dp).expect("a second cleanup");
    assert_eq!(nft_chains(&ns), expected);
}

#[test]
fn cleanup_counts_the_base_chains_and_leaves_legacy_ones_alone() {
    for variant in Variant::ALL {
        let Some(ns) = netns("cleanup_counts_the_base_chains_and_leaves_legacy_ones_alone") else {
            return;
        };
        let mut dp = datapath(&ns, variant, config());
        sync(&mut dp, &rich_state(), &Delta::default(), SyncMode::Full).expect("full sync");
        let mut total = Cleaned::default();
        for family in IpFamily::ALL {
            let mut runner = crate::common::runner(&ns, variant);
            let cleaned = backend_iptables::runner::cleanup(
                &mut runner,
                family,
                &backend_iptables::names::is_ours,
            )
            .expect("cleanup");
            total.add(&cleaned);
        }
        let expected = match variant {
            // Legacy's built-in chains always exist: nothing to delete.
            Variant::Legacy => 0,
            Variant::Nft => 2 * BASE.len(),
        };
        assert_eq!(total.base_chains, expected, "{variant}: {total:?}");
        if variant == Variant::Nft {
            assert!(nft_chains(&ns).is_empty(), "{:?}", nft_chains(&ns));
        }
    }
}
