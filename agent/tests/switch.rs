//! Switching backends in a throwaway namespace, through the binary: starting one backend
//! removes what the other left (as kube-proxy does when its mode changes), `cleanup --backend
//! X` removes only X's rules, `--iptables-variant` picks the variant, and `dump --backend
//! iptables` prints restore input. Rules of others (a foreign nftables table, a foreign
//! iptables chain and rule) survive everything.

use std::process::{Command, Output};

use testkit::Netns;

use crate::common::{TempFile, cluster};

fn svcproxy(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_svcproxy"))
        .args(args)
        .env("RUST_LOG", "info")
        .output()
        .expect("run svcproxy")
}

fn ok(out: Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{what} failed: {stderr}");
    stderr
}

/// `svcproxy sync --backend BACKEND [EXTRA..] --netns NS` of `source`.
fn sync(ns: &Netns, source: &TempFile, backend: &str, extra: &[&str]) -> String {
    let source = format!("file:{}", source.path().display());
    let mut args = vec!["sync", "--backend", backend, "--source", &source];
    args.extend(["--node-name", "node-a", "--node-ip", "192.168.0.2"]);
    args.extend(["--netns", ns.name()]);
    args.extend(extra);
    ok(
        svcproxy(&args),
        &format!("sync --backend {backend} {extra:?}"),
    )
}

fn cleanup(ns: &Netns, backend: &str, extra: &[&str]) {
    let mut args = vec!["cleanup", "--backend", backend, "--netns", ns.name()];
    args.extend(extra);
    ok(svcproxy(&args), &format!("cleanup --backend {backend}"));
}

/// What of ours (and of the foreign rules) the namespace holds.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    nft_table: bool,
    legacy_chains: bool,
    nft_chains: bool,
    foreign_nft: bool,
    foreign_iptables: bool,
}

fn seen(ns: &Netns) -> Seen {
    // `nft list tables` (nft 1.0.6) aborts on some of the nftables backend's rules; listing
    // chains does not parse rules.
    let tables = ns.sh("nft list chains").expect("nft list chains");
    let legacy = ns
        .sh("iptables-legacy-save; ip6tables-legacy-save")
        .expect("save");
    let nft = ns
        .sh("iptables-nft-save; ip6tables-nft-save")
        .expect("save");
    Seen {
        nft_table: tables.contains("table ip svcproxy"),
        legacy_chains: legacy.contains(":SVCP-"),
        nft_chains: nft.contains(":SVCP-"),
        foreign_nft: tables.contains("table inet foreign"),
        foreign_iptables: legacy.contains("-A INPUT -p tcp -m tcp --dport 22 -j FOREIGN"),
    }
}

fn expect(nft_table: bool, legacy_chains: bool, nft_chains: bool) -> Seen {
    Seen {
        nft_table,
        legacy_chains,
        nft_chains,
        foreign_nft: true,
        foreign_iptables: true,
    }
}

/// A namespace with a foreign nftables table and a foreign iptables (legacy) chain and rule.
fn namespace(test: &str) -> Option<Netns> {
    if !testkit::root_or_skip(test) {
        return None;
    }
    let ns = Netns::new("svcproxy-switch").expect("namespace");
    ns.sh("nft add table inet foreign && nft add chain inet foreign c && iptables-legacy -w -N FOREIGN && iptables-legacy -w -A INPUT -p tcp --dport 22 -j FOREIGN")
        .expect("foreign rules");
    Some(ns)
}

#[test]
fn starting_a_backend_removes_the_other_backends_rules() {
    let Some(ns) = namespace("starting_a_backend_removes_the_other_backends_rules") else {
        return;
    };
    let source = TempFile::with("switch.yaml", &cluster(true));
    sync(&ns, &source, "nftables", &[]);
    assert_eq!(seen(&ns), expect(true, false, false));

    let log = sync(&ns, &source, "iptables", &["--iptables-variant", "legacy"]);
    assert_eq!(seen(&ns), expect(false, true, false), "{log}");

    let log = sync(&ns, &source, "iptables", &["--iptables-variant", "nft"]);
    assert_eq!(seen(&ns), expect(false, false, true), "{log}");
    assert!(log.contains("removed svcproxy's iptables chains"), "{log}");

    // Auto keeps to the variant holding our chains.
    let log = sync(&ns, &source, "iptables", &[]);
    assert_eq!(seen(&ns), expect(false, false, true), "{log}");
    assert!(log.contains("iptables variant detected"), "{log}");

    let log = sync(&ns, &source, "nftables", &[]);
    assert_eq!(seen(&ns), expect(true, false, false), "{log}");
    assert!(log.contains("removed svcproxy's iptables chains"), "{log}");
}

#[test]
fn cleanup_leaves_the_other_backends_rules_alone() {
    let Some(ns) = namespace("cleanup_leaves_the_other_backends_rules_alone") else {
        return;
    };
    let source = TempFile::with("cleanup.yaml", &cluster(true));
    sync(&ns, &source, "iptables", &["--iptables-variant", "legacy"]);
    // Leftovers of the other backend, made behind svcproxy's back.
    ns.sh("nft add table ip svcproxy")
        .expect("an nftables table of ours");
    assert_eq!(seen(&ns), expect(true, true, false));

    cleanup(&ns, "nftables", &[]);
    assert_eq!(seen(&ns), expect(false, true, false));
    ns.sh("nft add table ip svcproxy")
        .expect("an nftables table of ours");
    cleanup(&ns, "iptables", &["--iptables-variant", "nft"]);
    assert_eq!(
        seen(&ns),
        expect(true, true, false),
        "a forced variant cleans only itself"
    );
    cleanup(&ns, "iptables", &[]);
    assert_eq!(
        seen(&ns),
        expect(true, false, false),
        "auto cleans both variants"
    );
    cleanup(&ns, "iptables", &[]);
    assert_eq!(seen(&ns), expect(true, false, false), "idempotent");
}

#[test]
fn dump_prints_restore_input() {
    let source = TempFile::with("dump.yaml", &cluster(false));
    let path = format!("file:{}", source.path().display());
    let out = svcproxy(&[
        "dump",
        "--backend",
        "iptables",
        "--source",
        &path,
        "--node-name",
        "node-a",
        "--node-ip",
        "192.168.0.2",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("# iptables-restore --noflush (IPv4)\n*nat\n"),
        "{text}"
    );
    assert!(text.contains("\n:SVCP-SERVICES - [0:0]\n"), "{text}");
    assert!(text.contains("--to-destination 10.244.0.5:8080"), "{text}");
    assert!(text.contains("\nCOMMIT\n"), "{text}");
    assert!(
        text.contains(
            "\n-I PREROUTING 1 -m comment --comment \"svcproxy service portals\" -j SVCP-SERVICES\n"
        ),
        "{text}"
    );
    assert!(!text.contains("ip6tables"), "IPv4 only: {text}");

    // The tools take it as it is.
    if !testkit::root_or_skip("dump_prints_restore_input (loading it)") {
        return;
    }
    let ns = Netns::new("svcproxy-dump").expect("namespace");
    let file = TempFile::with("dump.rules", &text);
    for variant in ["legacy", "nft"] {
        ns.sh(&format!(
            "iptables-{variant}-restore --noflush < {}",
            file.path().display()
        ))
        .expect("the dump loads");
    }
}
