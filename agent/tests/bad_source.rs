//! A source that yields nothing usable never costs the node its services, on every backend:
//! with the rules programmed first, a truncated JSON List, an empty file, text that is not
//! objects, a YAML alias bomb and deeply nested JSON leave the rules as they were; `sync`
//! exits non-zero naming the problem; `run` logs it, keeps serving, and applies the next good
//! write.

use std::net::IpAddr;
use std::process::{Command, Output};

use testkit::Netns;
use testkit::e2e::manifest::{Ep, Svc, render};

use crate::common::{Running, TempFile, answers, cluster, serving_sandbox};

/// Each bad input: its name, its text, and a word the refusal must contain.
fn bad_inputs() -> Vec<(&'static str, String, &'static str)> {
    let list = r#"{"apiVersion": "v1", "items": [{"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 80"#;
    let mut bomb = String::from("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for pair in names.windows(2) {
        let refs = vec![format!("*{}", pair[0]); 9].join(", ");
        bomb.push_str(&format!("{}: &{} [{refs}]\n", pair[1], pair[1]));
    }
    vec![
        ("truncated JSON List", list.to_owned(), "truncated"),
        ("empty file", String::new(), "--allow-empty-source"),
        (
            "text that is not objects",
            "this is not a manifest\n".to_owned(),
            "none of its objects is usable",
        ),
        ("YAML alias bomb", bomb, "repetition limit"),
        (
            "deeply nested JSON",
            r#"{"a":"#.repeat(120_000),
            "nested deeper than 128 levels",
        ),
    ]
}

/// A backend as the command line names it.
struct Backend {
    args: &'static [&'static str],
    /// Shell command listing what it programmed, stable across identical syncs.
    observe: &'static str,
}

const NFTABLES: Backend = Backend {
    args: &["--backend", "nftables"],
    observe: "nft list table ip svcproxy",
};
const LEGACY: Backend = Backend {
    args: &["--backend", "iptables", "--iptables-variant", "legacy"],
    observe: "iptables-legacy-save | grep -v '^#' | sed 's/\\[[0-9]*:[0-9]*\\]//'",
};
const IPTABLES_NFT: Backend = Backend {
    args: &["--backend", "iptables", "--iptables-variant", "nft"],
    observe: "iptables-nft-save | grep -v '^#' | sed 's/\\[[0-9]*:[0-9]*\\]//'",
};

/// `svcproxy SUBCOMMAND` of `source` into `ns` with the backend's flags.
fn command(sub: &str, backend: &Backend, ns: &str, source: &TempFile, node_ip: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_svcproxy"));
    cmd.arg(sub)
        .args(backend.args)
        .arg("--source")
        .arg(format!("file:{}", source.path().display()))
        .args(["--node-name", "node-a", "--node-ip", node_ip, "--netns", ns])
        .env("RUST_LOG", "info");
    cmd
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Programs a good file with `sync`, then syncs each bad input: each fails naming its
/// problem and leaves the rules byte for byte; a good write after them is applied.
fn sync_refuses_bad_inputs(test: &str, backend: &Backend) {
    if !testkit::root_or_skip(test) {
        return;
    }
    let ns = Netns::new("svcproxy-bad").expect("namespace");
    let source = TempFile::with("bad.yaml", &cluster(true));
    let sync = |source: &TempFile| {
        command("sync", backend, ns.name(), source, "192.168.0.2")
            .output()
            .expect("run svcproxy")
    };
    let out = sync(&source);
    assert!(out.status.success(), "first sync: {}", stderr(&out));
    let programmed = ns.sh(backend.observe).expect("observe");
    assert!(programmed.contains("10.96.0.20"), "{programmed}");

    for (name, text, word) in bad_inputs() {
        source.write(&text);
        let out = sync(&source);
        let message = stderr(&out);
        assert!(!out.status.success(), "{name}: sync succeeded: {message}");
        assert!(message.contains(word), "{name}: {message}");
        assert!(message.contains("refusing to apply"), "{name}: {message}");
        let now = ns.sh(backend.observe).expect("observe");
        assert_eq!(now, programmed, "{name}: the rules changed");
    }

    source.write(&cluster(false));
    let out = sync(&source);
    assert!(out.status.success(), "good write: {}", stderr(&out));
    let now = ns.sh(backend.observe).expect("observe");
    assert!(
        !now.contains("10.96.0.20"),
        "the api service is gone: {now}"
    );
    assert!(now.contains("10.96.0.10"), "web stays: {now}");

    // An empty source applies when asked for, removing every service.
    source.write("");
    let out = command("sync", backend, ns.name(), &source, "192.168.0.2")
        .arg("--allow-empty-source")
        .output()
        .expect("run svcproxy");
    assert!(out.status.success(), "allowed empty: {}", stderr(&out));
    let now = ns.sh(backend.observe).unwrap_or_default();
    assert!(!now.contains("10.96.0.10"), "every service removed: {now}");
}

#[test]
fn sync_of_a_bad_source_keeps_the_nftables_rules() {
    sync_refuses_bad_inputs("sync_of_a_bad_source_keeps_the_nftables_rules", &NFTABLES);
}

#[test]
fn sync_of_a_bad_source_keeps_the_iptables_legacy_rules() {
    sync_refuses_bad_inputs(
        "sync_of_a_bad_source_keeps_the_iptables_legacy_rules",
        &LEGACY,
    );
}

#[test]
fn sync_of_a_bad_source_keeps_the_iptables_nft_rules() {
    sync_refuses_bad_inputs(
        "sync_of_a_bad_source_keeps_the_iptables_nft_rules",
        &IPTABLES_NFT,
    );
}

/// `run` serving a service from pods 0 and 1; each bad input is logged and refused while the
/// service keeps answering; then a good write moving it to pod 2 is applied.
fn run_keeps_serving(test: &str, backend: &Backend) {
    if !testkit::root_or_skip(test) {
        return;
    }
    let (sandbox, _servers) = serving_sandbox("bad", 3);
    let ep = |i: usize| Ep {
        ip: sandbox.pods[i].ipv4.into(),
        node: if i == 0 { "node-a" } else { "node-b" },
    };
    let vip: IpAddr = "10.96.0.20".parse().expect("address");
    let svc = Svc::new("web", vip, "TCP", 80, 8080);
    let source = TempFile::with(
        "run.yaml",
        &render(&[svc.clone().endpoints([ep(0), ep(1)])]),
    );
    let node_ip = testkit::plan::NODE_V4.to_string();
    let mut cmd = command("run", backend, sandbox.node.ns.name(), &source, &node_ip);
    cmd.args([
        "--cluster-cidr",
        "10.244.0.0/16",
        "--min-sync-period",
        "100ms",
    ])
    .env("RUST_LOG", "info,proxy_core=debug");
    let run = Running::start(cmd);
    run.wait_for("datapath synced", 0);
    let first = [
        sandbox.pods[0].ipv4.to_string(),
        sandbox.pods[1].ipv4.to_string(),
    ];
    assert_eq!(answers(&sandbox, vip), (first.to_vec(), 0));

    for (name, text, word) in bad_inputs() {
        let refused = run.count("source file unusable");
        source.write(&text);
        run.wait_for("source file unusable", refused);
        assert!(run.count(word) > 0, "{name}: the log does not say {word:?}");
        assert_eq!(
            answers(&sandbox, vip),
            (first.to_vec(), 0),
            "{name}: still served"
        );
    }

    let syncs = run.count("datapath synced");
    source.write(&render(&[svc.endpoints([ep(2)])]));
    run.wait_for("datapath synced", syncs);
    let moved = vec![sandbox.pods[2].ipv4.to_string()];
    assert_eq!(
        answers(&sandbox, vip),
        (moved, 0),
        "the good write is applied"
    );
}

#[test]
fn run_keeps_serving_through_bad_writes_on_nftables() {
    run_keeps_serving(
        "run_keeps_serving_through_bad_writes_on_nftables",
        &NFTABLES,
    );
}

#[test]
fn run_keeps_serving_through_bad_writes_on_iptables_legacy() {
    run_keeps_serving(
        "run_keeps_serving_through_bad_writes_on_iptables_legacy",
        &LEGACY,
    );
}

#[test]
fn run_keeps_serving_through_bad_writes_on_iptables_nft() {
    run_keeps_serving(
        "run_keeps_serving_through_bad_writes_on_iptables_nft",
        &IPTABLES_NFT,
    );
}
