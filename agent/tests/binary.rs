//! The binary itself: exit codes and one-line errors.

use std::process::{Command, Output};

fn svcproxy(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_svcproxy"))
        .args(args)
        .env("RUST_LOG", "off")
        .output()
        .expect("run svcproxy")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn help_lists_the_subcommands_and_flags() {
    let out = svcproxy(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for command in ["sync", "run", "dump", "cleanup", "demo"] {
        assert!(help.contains(command), "{help}");
    }
    let out = svcproxy(&["run", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--backend",
        "--source",
        "--node-name",
        "--node-ip",
        "--cluster-cidr",
        "--detect-local-mode",
        "--service-cidr",
        "--nodeport-addresses",
        "--masquerade-all",
        "--netns",
        "--iptables-variant",
        "--min-sync-period",
        "--sync-period",
        "--lock-wait",
    ] {
        assert!(help.contains(flag), "{flag} missing from: {help}");
    }
}

#[test]
fn an_invalid_configuration_exits_2_with_one_line() {
    let out = svcproxy(&[
        "sync",
        "--backend",
        "nftables",
        "--source",
        "file:/x",
        "--node-name",
        "n",
        "--node-ip",
        "10.0.0.1",
        "--cluster-cidr",
        "10.0.0.1/8",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "svcproxy: --cluster-cidr: 10.0.0.1/8 has host bits set: did you mean 10.0.0.0/8?\n"
    );
}

#[test]
fn a_failure_exits_1_with_one_line() {
    for backend in ["nftables", "iptables"] {
        let out = svcproxy(&[
            "sync",
            "--backend",
            backend,
            "--source",
            "file:/x",
            "--node-name",
            "n",
            "--node-ip",
            "10.0.0.1",
            "--netns",
            "svcproxy-test-no-such-netns",
        ]);
        assert_eq!(out.status.code(), Some(1), "{backend}");
        let err = stderr(&out);
        assert!(
            err.starts_with("svcproxy: sync: ")
                && err.contains("/run/netns/svcproxy-test-no-such-netns")
                && err.ends_with('\n')
                && err.lines().count() == 1,
            "{backend}: {err}"
        );
    }
}

#[test]
fn a_usage_error_exits_2() {
    let out = svcproxy(&["sync", "--source", "kube"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--backend"));
}

/// `--detect-local-mode NodeCIDR` takes the pod network from the Node's `spec.podCIDRs`:
/// `dump` shows the node's pod CIDR where `ClusterCIDR` shows `--cluster-cidr`, on both
/// backends.
#[test]
fn node_cidr_local_detection_uses_the_nodes_pod_cidrs() {
    let mut text = crate::common::service_yaml("web", "10.96.0.10", "10.244.7.5");
    text.push_str(
        "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: node-a\n\
         spec:\n  podCIDRs: [\"10.244.7.0/24\"]\n",
    );
    let file = crate::common::TempFile::with("detect-local.yaml", &text);
    let source = format!("file:{}", file.path().display());
    for backend in ["nftables", "iptables"] {
        let dump = |mode: &str| {
            let out = svcproxy(&[
                "dump",
                "--backend",
                backend,
                "--source",
                &source,
                "--node-name",
                "node-a",
                "--node-ip",
                "192.168.0.2",
                "--cluster-cidr",
                "10.244.0.0/16",
                "--detect-local-mode",
                mode,
            ]);
            assert!(out.status.success(), "{backend} {mode}: {}", stderr(&out));
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let (cluster, node) = (dump("ClusterCIDR"), dump("NodeCIDR"));
        assert!(cluster.contains("10.244.0.0/16"), "{backend}:\n{cluster}");
        assert!(!cluster.contains("10.244.7.0/24"), "{backend}:\n{cluster}");
        assert!(node.contains("10.244.7.0/24"), "{backend}:\n{node}");
        assert!(!node.contains("10.244.0.0/16"), "{backend}:\n{node}");
    }
}
