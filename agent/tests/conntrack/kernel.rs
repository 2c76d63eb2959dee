//! The ctnetlink table in throwaway namespaces (root only; skipped otherwise):
//!
//! * entries of both families, made with the `conntrack` tool, are dumped and parsed exactly;
//!   the cleaner deletes the stale UDP ones (cluster IP, node port, IPv6) and leaves the TCP,
//!   ICMP and still-served entries, as `conntrack -L` confirms; a second delete finds the
//!   entry gone;
//! * real traffic through the nftables datapath: a client that keeps its source port stays
//!   stuck on a removed endpoint until the cleaner runs, then reaches the new one;
//! * a client that sent before its service was programmed stays blackholed by its
//!   untranslated entry when the service gets its first endpoint, until the cleaner runs.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use backend_nft::datapath::{NftConfig, NftDatapath};
use backend_nft::plan::{Config, NodePortAddresses};
use proxy_core::model::{IpFamily, Protocol};
use proxy_core::{Datapath, Delta, ProxyState, SyncMode};
use svcproxy::conntrack::{Cleaner, Conntrack, Entry, Flow, NetlinkConntrack, NodePorts};
use testkit::server::{Outcome, UdpClient, UdpServer};
use testkit::{Netns, Sandbox};

use super::fixture::{Cluster, Svc, ep, sa};

const CLIENT: &str = "10.244.1.9";
const A: &str = "10.244.0.2";
const B: &str = "10.244.0.3";
const A6: &str = "fd00:244::2";
const ASK: Duration = Duration::from_millis(700);

/// Adds an entry with the `conntrack` tool inside `ns`.
fn insert(ns: &Netns, args: &str) {
    let args: Vec<&str> = ["-I"].into_iter().chain(args.split_whitespace()).collect();
    ns.exec_ok("conntrack", &args).expect("conntrack -I");
}

/// `conntrack -L` of `family` in `ns`, one line per entry.
fn listed(ns: &Netns, family: IpFamily) -> Vec<String> {
    let f = match family {
        IpFamily::V4 => "ipv4",
        IpFamily::V6 => "ipv6",
    };
    let out = ns
        .output("conntrack", ["-L", "-f", f])
        .expect("conntrack -L");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn udp_entry(client: SocketAddr, dst: SocketAddr, reply_src: SocketAddr) -> Entry {
    Entry::new(
        Protocol::Udp,
        Flow::new(client, dst),
        Flow::new(reply_src, client),
    )
}

/// `(protocol, original, reply)` of each entry: what the tool was told.
fn tuples(entries: &[Entry]) -> BTreeSet<(Protocol, Flow, Flow)> {
    entries
        .iter()
        .map(|e| (e.protocol, e.original, e.reply))
        .collect()
}

#[test]
fn the_dump_parses_both_families_and_only_stale_udp_entries_go() {
    if !testkit::root_or_skip("the_dump_parses_both_families_and_only_stale_udp_entries_go") {
        return;
    }
    let ns = Netns::new("ct-dump").expect("namespace");
    let reply = |ep: &str, port: u16| {
        format!(
            "--reply-src {ep} --reply-dst {CLIENT} --reply-port-src 5353 --reply-port-dst {port}"
        )
    };
    insert(
        &ns,
        &format!(
            "-p udp -s {CLIENT} -d 10.96.0.10 --sport 40000 --dport 53 -t 120 {}",
            reply(A, 40000)
        ),
    );
    insert(
        &ns,
        &format!(
            "-p udp -s {CLIENT} -d 10.96.0.10 --sport 40001 --dport 53 -t 120 {}",
            reply(B, 40001)
        ),
    );
    insert(
        &ns,
        &format!(
            "-p udp -s {CLIENT} -d 192.168.50.1 --sport 40002 --dport 30053 -t 120 {}",
            reply(A, 40002)
        ),
    );
    insert(
        &ns,
        &format!(
            "-p tcp -s {CLIENT} -d 10.96.0.10 --sport 40000 --dport 53 -t 120 --state ESTABLISHED {}",
            reply(A, 40000)
        ),
    );
    insert(
        &ns,
        &format!(
            "-p icmp -s {CLIENT} -d 10.96.0.10 --icmp-type 8 --icmp-code 0 --icmp-id 77 -t 30"
        ),
    );
    insert(
        &ns,
        &format!(
            "-p udp -s fd00:244::9 -d fd00:96::10 --sport 40000 --dport 53 -t 120 --reply-src {A6} --reply-dst fd00:244::9 --reply-port-src 5353 --reply-port-dst 40000"
        ),
    );

    let mut table = NetlinkConntrack::open(Some(ns.path())).expect("ctnetlink in the namespace");
    let v4 = table.entries(IpFamily::V4).expect("dump IPv4");
    let tcp = Entry::new(
        Protocol::Tcp,
        Flow::new(sa(CLIENT, 40000), sa("10.96.0.10", 53)),
        Flow::new(sa(A, 5353), sa(CLIENT, 40000)),
    );
    let want_v4 = [
        udp_entry(sa(CLIENT, 40000), sa("10.96.0.10", 53), sa(A, 5353)),
        udp_entry(sa(CLIENT, 40001), sa("10.96.0.10", 53), sa(B, 5353)),
        udp_entry(sa(CLIENT, 40002), sa("192.168.50.1", 30053), sa(A, 5353)),
        tcp,
    ];
    assert_eq!(
        tuples(&v4),
        tuples(&want_v4),
        "ICMP is skipped, the rest parsed: {v4:#?}"
    );
    assert!(
        v4.iter().all(|e| e.id.is_some()),
        "the kernel reports ids: {v4:#?}"
    );
    let v6 = table.entries(IpFamily::V6).expect("dump IPv6");
    let want_v6 = [udp_entry(
        sa("fd00:244::9", 40000),
        sa("fd00:96::10", 53),
        sa(A6, 5353),
    )];
    assert_eq!(tuples(&v6), tuples(&want_v6));

    // A and A6 leave their services.
    let mut dns = Svc::udp("dns", "10.96.0.10");
    dns.protocols = vec!["UDP", "TCP"];
    dns.node_port = Some(30053);
    let dns6 = Svc::udp("dns6", "fd00:96::10");
    let mut cluster = Cluster::default();
    let first = cluster.set(&[dns.clone().eps([ep(A), ep(B)]), dns6.clone().eps([ep(A6)])]);
    let cleaner = Cleaner::new(table, NodePorts::Primary);
    let report = cleaner
        .cleanup_blocking(cluster.state(), &first)
        .expect("first cleanup");
    assert_eq!(report.deleted, 0, "{report:?}");
    let delta = cluster.set(&[dns.eps([ep(B)]), dns6.eps([])]);
    let report = cleaner
        .cleanup_blocking(cluster.state(), &delta)
        .expect("cleanup");
    assert_eq!(
        (report.stale, report.deleted, report.dumps),
        (3, 3, 2),
        "{report:?}"
    );

    let left = listed(&ns, IpFamily::V4);
    assert_eq!(left.len(), 3, "{left:#?}");
    assert!(
        left.iter()
            .any(|l| l.starts_with("udp") && l.contains(&format!("src={B} "))),
        "{left:#?}"
    );
    assert!(
        left.iter()
            .any(|l| l.starts_with("tcp") && l.contains(&format!("src={A} "))),
        "{left:#?}"
    );
    assert!(left.iter().any(|l| l.starts_with("icmp")), "{left:#?}");
    assert!(listed(&ns, IpFamily::V6).is_empty());

    // Deleting an entry that is gone is counted as such.
    let mut table = NetlinkConntrack::open(Some(ns.path())).expect("ctnetlink");
    let done = table.delete(&want_v6).expect("delete again");
    assert_eq!((done.deleted, done.gone), (0, 1));
}

/// A sandbox with a UDP server on port 5353 of each pod, and the nftables datapath of its node.
struct Rig {
    sandbox: Sandbox,
    _servers: Vec<UdpServer>,
    datapath: NftDatapath,
    cluster: Cluster,
    rt: tokio::runtime::Runtime,
    cleaner: Cleaner<NetlinkConntrack>,
    client: UdpClient,
}

impl Rig {
    fn new(test: &str) -> Option<Rig> {
        if !testkit::root_or_skip(test) {
            return None;
        }
        let sandbox = Sandbox::builder()
            .prefix("ct")
            .pods(2)
            .build()
            .expect("sandbox");
        let servers = sandbox
            .pods
            .iter()
            .map(|p| UdpServer::start(&p.ns, SocketAddr::new(p.ipv4.into(), 5353)).expect("server"))
            .collect();
        let node = sandbox.node.ns.path();
        let config = Config {
            node_ips: Vec::new(),
            cluster_cidrs: vec!["10.244.0.0/16".parse().expect("cidr")],
            service_cidrs: Vec::new(),
            nodeport_addresses: NodePortAddresses::Primary,
            masquerade_all: false,
            detect_local: Default::default(),
        };
        let datapath = NftDatapath::new(NftConfig {
            netns: Some(node.to_path_buf()),
            plan: config,
            ..NftConfig::default()
        })
        .expect("datapath");
        let table = NetlinkConntrack::open(Some(node)).expect("ctnetlink");
        let client = UdpClient::bind(
            &sandbox.client.ns,
            SocketAddr::new(sandbox.client.ipv4.into(), 0),
        )
        .expect("client");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        Some(Rig {
            sandbox,
            _servers: servers,
            datapath,
            cluster: Cluster::default(),
            rt,
            cleaner: Cleaner::new(table, NodePorts::Primary),
            client,
        })
    }

    /// Programs `services`; returns the sync's delta (the cleaner has not run).
    fn sync(&mut self, services: &[Svc], mode: SyncMode) -> Delta {
        let delta = self.cluster.set(services);
        let state: &ProxyState = self.cluster.state();
        self.rt
            .block_on(self.datapath.sync(state, &delta, mode))
            .expect("sync");
        delta
    }

    fn cleanup(&self, delta: &Delta) -> svcproxy::conntrack::Report {
        self.rt
            .block_on(self.cleaner.cleanup(self.cluster.state(), delta))
            .expect("cleanup")
    }

    fn ask(&self, vip: SocketAddr) -> Outcome {
        self.client.ask(vip, ASK)
    }

    /// The node's UDP entries from the client to `vip`.
    fn entries_to(&self, vip: SocketAddr) -> Vec<Entry> {
        let mut table =
            NetlinkConntrack::open(Some(self.sandbox.node.ns.path())).expect("ctnetlink");
        let client = self.client.local_addr();
        table
            .entries(IpFamily::V4)
            .expect("dump")
            .into_iter()
            .filter(|e| {
                e.protocol == Protocol::Udp && e.original.dst == vip && e.original.src == client
            })
            .collect()
    }
}

#[test]
fn a_removed_endpoint_releases_a_client_that_keeps_its_source_port() {
    let Some(mut rig) = Rig::new("a_removed_endpoint_releases_a_client_that_keeps_its_source_port")
    else {
        return;
    };
    let vip = sa("10.96.0.53", 53);
    let svc = Svc::udp("dns", "10.96.0.53");
    let delta = rig.sync(&[svc.clone().eps([ep(A)])], SyncMode::Full);
    rig.cleanup(&delta);
    for _ in 0..3 {
        assert_eq!(rig.ask(vip), Outcome::Answer(A.into()));
    }

    let delta = rig.sync(&[svc.eps([ep(B)])], SyncMode::Partial);
    assert_eq!(delta.stale_endpoints.len(), 1, "{delta:?}");
    // The rules say B, but the client's entry still says A: the problem being fixed.
    assert_eq!(
        rig.ask(vip),
        Outcome::Answer(A.into()),
        "the stale entry should still hold"
    );
    let before = rig.entries_to(vip);
    assert!(
        before.iter().any(|e| e.reply.src == sa(A, 5353)),
        "{before:#?}"
    );

    let report = rig.cleanup(&delta);
    assert_eq!(report.deleted, 1, "{report:?}");
    assert!(rig.entries_to(vip).is_empty(), "the entry is gone");
    assert_eq!(rig.ask(vip), Outcome::Answer(B.into()));
    let after = rig.entries_to(vip);
    assert!(
        after.iter().all(|e| e.reply.src == sa(B, 5353)) && !after.is_empty(),
        "{after:#?}"
    );
}

#[test]
fn a_first_endpoint_releases_a_client_blackholed_before_it() {
    let Some(mut rig) = Rig::new("a_first_endpoint_releases_a_client_blackholed_before_it") else {
        return;
    };
    let vip = sa("10.96.0.53", 53);
    let svc = Svc::udp("dns", "10.96.0.53");
    // The node's rules exist, the service does not yet: the datagram is routed to the
    // uplink and lost, and conntrack remembers the flow untranslated.
    let delta = rig.sync(&[], SyncMode::Full);
    rig.cleanup(&delta);
    assert_eq!(rig.ask(vip), Outcome::Timeout);
    let untranslated = rig.entries_to(vip);
    assert!(
        untranslated.iter().any(|e| !e.is_dnat()),
        "{untranslated:#?}"
    );

    let delta = rig.sync(&[svc.eps([ep(A)])], SyncMode::Partial);
    assert_eq!(delta.newly_active.len(), 1, "{delta:?}");
    let stuck = rig.ask(vip);
    assert!(
        stuck.answer().is_none(),
        "the untranslated entry should still hold: {stuck}"
    );

    let report = rig.cleanup(&delta);
    assert!(report.deleted >= 1, "{report:?}");
    assert_eq!(rig.ask(vip), Outcome::Answer(A.into()));
}
