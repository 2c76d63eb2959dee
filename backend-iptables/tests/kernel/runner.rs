//! The applier on its own ([`CommandRunner`], [`runner::cleanup`], variant detection), for
//! both variants, with hand-written restore inputs.

use std::time::Duration;

use backend_iptables::runner::{self, RestoreRunner};
use backend_iptables::variant;
use backend_iptables::{Error, Variant};
use proxy_core::model::IpFamily;

use crate::common::{FOREIGN, FOREIGN6, XTABLES_LOCK, foreign_lines, load, netns, runner, save};

fn ours(name: &str) -> bool {
    name.starts_with("TEST-OURS-")
}

const OURS: &str = "*nat\n:TEST-OURS-SERVICES - [0:0]\n:TEST-OURS-SVC - [0:0]\n-A TEST-OURS-SERVICES -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j TEST-OURS-SVC\n-A TEST-OURS-SVC -p tcp -m tcp -j DNAT --to-destination 10.244.0.2:8080\nCOMMIT\n*filter\n:TEST-OURS-FILTER - [0:0]\n-A TEST-OURS-FILTER -d 10.96.0.12/32 -p tcp -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable\nCOMMIT\n";

#[test]
fn restore_applies_in_the_namespace_and_cleanup_removes_only_ours() {
    let _xtables = XTABLES_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    for variant in Variant::ALL {
        let Some(ns) = netns("restore_applies_in_the_namespace_and_cleanup_removes_only_ours")
        else {
            return;
        };
        load(&ns, variant, IpFamily::V4, FOREIGN);
        load(&ns, variant, IpFamily::V6, FOREIGN6);
        let foreign = foreign_lines(&save(&ns, variant, IpFamily::V4));
        let foreign6 = foreign_lines(&save(&ns, variant, IpFamily::V6));
        assert_eq!(foreign.len(), 6, "{variant}: {foreign:?}");

        let mut r = runner(&ns, variant);
        let restored = r.restore(IpFamily::V4, OURS).expect("restore");
        assert!(!restored.lock_held);
        let jumps = "*nat\n-I PREROUTING 1 -m comment --comment \"test ours\" -j TEST-OURS-SERVICES\n-I OUTPUT 1 -m comment --comment \"test ours\" -j TEST-OURS-SERVICES\nCOMMIT\n*filter\n-I FORWARD 1 -m comment --comment \"test ours\" -j TEST-OURS-FILTER\nCOMMIT\n";
        r.restore(IpFamily::V4, jumps)
            .expect("jumps from built-in chains");
        let listed = r.list(IpFamily::V4, "nat", "PREROUTING").expect("list");
        assert_eq!(
            runner::chain_rules(&listed, "nat", "PREROUTING").len(),
            2,
            "{variant}: ours and the foreign one\n{listed}"
        );
        let nat = r.save(IpFamily::V4, Some("nat")).expect("save nat");
        assert!(
            nat.contains("*nat") && !nat.contains("*filter"),
            "{variant}: {nat}"
        );
        let text = save(&ns, variant, IpFamily::V4);
        assert!(
            text.contains(
                "-A TEST-OURS-SVC -p tcp -m tcp -j DNAT --to-destination 10.244.0.2:8080"
            ),
            "{variant}: {text}"
        );
        assert!(
            text.contains("-A PREROUTING -m comment --comment \"test ours\" -j TEST-OURS-SERVICES"),
            "{variant}: {text}"
        );
        // The other variant saw nothing.
        let other = save(&ns, variant.other(), IpFamily::V4);
        assert!(!other.contains("TEST-OURS"), "{variant}: {other}");

        let cleaned = runner::cleanup(&mut r, IpFamily::V4, &ours).expect("cleanup");
        assert_eq!((cleaned.chains, cleaned.jumps), (3, 3), "{variant}");
        let after = save(&ns, variant, IpFamily::V4);
        assert!(!after.contains("TEST-OURS"), "{variant}: {after}");
        assert_eq!(
            foreign_lines(&after),
            foreign,
            "{variant}: foreign rules survive"
        );
        assert_eq!(
            foreign_lines(&save(&ns, variant, IpFamily::V6)),
            foreign6,
            "{variant}: IPv6 untouched"
        );
        let again = runner::cleanup(&mut r, IpFamily::V4, &ours).expect("cleanup again");
        assert!(again.is_empty(), "{variant}: idempotent");
    }
}

#[test]
fn a_refused_restore_changes_nothing_and_names_the_line() {
    for variant in Variant::ALL {
        let Some(ns) = netns("a_refused_restore_changes_nothing_and_names_the_line") else {
            return;
        };
        let mut r = runner(&ns, variant);
        r.restore(IpFamily::V4, OURS).expect("restore");
        let before = save(&ns, variant, IpFamily::V4);
        let bad = "*nat\n:TEST-OURS-SVC - [0:0]\n-A TEST-OURS-SVC -p tcp -m tcp -j DNAT --to-destination 10.244.0.3:8080\n-A TEST-OURS-SERVICES -j TEST-OURS-MISSING\nCOMMIT\n";
        let err = r.restore(IpFamily::V4, bad).expect_err("refused");
        println!("{variant}: {err}");
        let Error::Restore {
            line, text, exit, ..
        } = &err
        else {
            panic!("{variant}: not a restore error: {err:?}");
        };
        assert_eq!(*exit, Some(2), "{variant}");
        // legacy blames the rule, nft the COMMIT that found the missing chain.
        let (want_line, want_text) = match variant {
            Variant::Legacy => (4, "-A TEST-OURS-SERVICES -j TEST-OURS-MISSING"),
            Variant::Nft => (5, "COMMIT"),
        };
        assert_eq!(*line, Some(want_line), "{variant}: {err}");
        assert_eq!(text.as_deref(), Some(want_text), "{variant}: {err}");
        assert!(err.to_string().contains("TEST-OURS-MISSING"), "{err}");
        assert_eq!(
            save(&ns, variant, IpFamily::V4),
            before,
            "{variant}: nothing changed"
        );
    }
}

#[test]
fn a_held_xtables_lock_is_waited_for_and_reported() {
    let _xtables = XTABLES_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let Some(ns) = netns("a_held_xtables_lock_is_waited_for_and_reported") else {
        return;
    };
    // Hold the host-wide lock (a file in /run, not anything of a network namespace) for a
    // moment, like another iptables user would.
    let holder = std::process::Command::new("flock")
        .args(["-x", "/run/xtables.lock", "sleep", "1.5"])
        .spawn()
        .expect("flock");
    let mut tries = 0;
    while runner::xtables_lock_holder().is_none() {
        tries += 1;
        assert!(tries < 100, "the lock never showed up in /proc/locks");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut r = runner(&ns, Variant::Legacy);
    let restored = r
        .restore(IpFamily::V4, OURS)
        .expect("the restore waits, then applies");
    let mut holder = holder;
    let _ = holder.wait();
    assert!(restored.lock_held, "{restored:?}");
    assert!(
        restored.duration >= Duration::from_millis(500),
        "{restored:?}"
    );
    assert!(save(&ns, Variant::Legacy, IpFamily::V4).contains("TEST-OURS-SVC"));
}

#[test]
fn detection_follows_the_rules_present() {
    let Some(ns) = netns("detection_follows_the_rules_present") else {
        return;
    };
    let path = Some(ns.path());
    let fresh = variant::detect(path, &ours).expect("detect");
    assert_eq!(
        Some(fresh.variant),
        variant::default_variant(path),
        "an empty namespace: the default ({})",
        fresh.reason
    );
    for variant in Variant::ALL {
        let Some(ns) = netns("detection_follows_the_rules_present") else {
            return;
        };
        load(&ns, variant, IpFamily::V4, OURS);
        let d = variant::detect(Some(ns.path()), &ours).expect("detect");
        assert_eq!(d.variant, variant, "{}", d.reason);
    }
    // Kubernetes' hint chain counts too, our chains or not.
    for variant in Variant::ALL {
        let Some(ns) = netns("detection_follows_the_rules_present") else {
            return;
        };
        load(
            &ns,
            variant,
            IpFamily::V4,
            "*mangle\n:KUBE-IPTABLES-HINT - [0:0]\nCOMMIT\n",
        );
        load(&ns, variant.other(), IpFamily::V4, FOREIGN);
        let d = variant::detect(Some(ns.path()), &ours).expect("detect");
        assert_eq!(d.variant, variant, "{}", d.reason);
    }
}

#[test]
fn a_missing_namespace_is_a_netns_error() {
    let err = runner::CommandRunner::new(
        Some(std::path::Path::new(
            "/run/netns/svcproxy-test-no-such-netns",
        )),
        Variant::Nft,
    )
    .expect_err("no such namespace");
    assert!(matches!(err, Error::Netns { .. }), "{err:?}");
    assert!(!err.is_retryable());
}
