//! Conntrack cleanup wired into the binary: `svcproxy run` deletes the entry of a UDP client
//! that keeps its source port once its endpoint is removed, so its next datagram reaches the
//! remaining endpoint (without the cleanup it would keep reaching the removed one).

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use testkit::e2e::manifest::{Ep, Svc, render};
use testkit::sandbox::Sandbox;
use testkit::server::{Outcome, UdpClient, UdpServer};

use crate::common::{Running, TempFile};

/// `svcproxy run` of `source` into `node_ns`, syncing each change at once.
fn start(source: &TempFile, node_ns: &str) -> Running {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_svcproxy"));
    cmd.args(["run", "--backend", "nftables", "--source"])
        .arg(format!("file:{}", source.path().display()))
        .args([
            "--node-name",
            "node-a",
            "--node-ip",
            &testkit::plan::NODE_V4.to_string(),
        ])
        .args(["--cluster-cidr", "10.244.0.0/16", "--min-sync-period", "0s"])
        .args(["--netns", node_ns])
        .env("RUST_LOG", "info,proxy_core=debug,svcproxy=debug");
    Running::start(cmd)
}

#[test]
fn run_releases_a_udp_client_from_a_removed_endpoint() {
    if !testkit::root_or_skip("run_releases_a_udp_client_from_a_removed_endpoint") {
        return;
    }
    let sandbox = Sandbox::builder()
        .prefix("ctrun")
        .pods(2)
        .build()
        .expect("sandbox");
    let _servers: Vec<UdpServer> = sandbox
        .pods
        .iter()
        .map(|p| UdpServer::start(&p.ns, SocketAddr::new(p.ipv4.into(), 5353)).expect("server"))
        .collect();
    let ep = |i: usize| Ep {
        ip: sandbox.pods[i].ipv4.into(),
        node: "node-b",
    };
    let vip = SocketAddr::new("10.96.0.53".parse().expect("ip"), 53);
    let svc = Svc::new("dns", vip.ip(), "UDP", 53, 5353);
    let source = TempFile::with("ct.yaml", &render(&[svc.clone().endpoints([ep(0)])]));
    let run = start(&source, sandbox.node.ns.name());
    run.wait_for("datapath synced", 0);
    let client = UdpClient::bind(
        &sandbox.client.ns,
        SocketAddr::new(sandbox.client.ipv4.into(), 0),
    )
    .expect("client");
    let first = Outcome::Answer(sandbox.pods[0].ipv4.to_string());
    assert_eq!(client.ask(vip, Duration::from_secs(2)), first);

    let syncs = run.count("datapath synced");
    source.replace(&render(&[svc.endpoints([ep(1)])]));
    run.wait_for("datapath synced", syncs);
    run.wait_for("deleted stale conntrack entries", 0);
    let second = Outcome::Answer(sandbox.pods[1].ipv4.to_string());
    assert_eq!(
        client.ask(vip, Duration::from_secs(2)),
        second,
        "the same source port reaches the remaining endpoint"
    );
}
