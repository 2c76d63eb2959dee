//! Our tables against other processes, in a sandbox with real traffic:
//!
//! * with `owner,persist` (kernels 6.9+): while a datapath holds its socket, another process's
//!   `nft flush ruleset` skips our table and `nft delete table`, `nft flush table`, `nft add
//!   element` and a second datapath are refused; traffic keeps flowing. When the datapath goes
//!   (its process exits), the table stays, orphaned; a new datapath adopts and updates it;
//!   cleanup removes it (also an orphan, and not while another datapath owns it);
//! * without flags (older kernels; forced here with [`TableFlags::None`]): `nft flush ruleset`
//!   removes our table and traffic stops; a partial sync then fails, and the full sync that
//!   follows restores the table and the traffic.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use backend_nft::datapath::NftDatapath;
use backend_nft::owner::{PROTECTED, TableFlags};
use backend_nft::plan::{Config, NodePortAddresses};
use proxy_core::model::{Endpoint, NodeInfo, Protocol, ServicePort, ServicePortName};
use proxy_core::{Delta, ProxyState, SyncMode};
use serde_json::Value as Json;
use testkit::plan::{NODE_V4, pod_ipv4};
use testkit::server::{Outcome, TcpServer, tcp_ask};
use testkit::{Netns, Sandbox};

use super::datapath::{cleanup, datapath_with, nft_json, sync};

/// A sandbox of 2 pods answering on 8080.
struct Rig {
    sandbox: Sandbox,
    _servers: Vec<TcpServer>,
}

impl Rig {
    /// `None` (skipped, with a message) when not root.
    fn new(test: &str) -> Option<Rig> {
        if !testkit::root_or_skip(test) {
            return None;
        }
        let sandbox = Sandbox::builder()
            .prefix("bnft-own")
            .pods(2)
            .build()
            .expect("sandbox");
        let servers = sandbox
            .pods
            .iter()
            .map(|p| TcpServer::start(&p.ns, "0.0.0.0:8080".parse().expect("addr")).expect("tcp"))
            .collect();
        Some(Rig {
            sandbox,
            _servers: servers,
        })
    }

    fn node(&self) -> &Netns {
        &self.sandbox.node.ns
    }

    fn datapath(&self, flags: TableFlags) -> NftDatapath {
        datapath_with(self.node(), config(), flags)
    }

    /// Whether a client outside the node reaches a pod through `10.96.0.<last>:80`.
    fn reaches(&self, last: u8) -> bool {
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 96, 0, last)), 80);
        match tcp_ask(&self.sandbox.client.ns, addr, Duration::from_secs(2)) {
            Outcome::Answer(ip) => ip.starts_with("10.244.0."),
            _ => false,
        }
    }

    /// `nft ARGS` run in the node by another process: whether it succeeded, and its stderr.
    fn nft(&self, args: &[&str]) -> (bool, String) {
        let out = self.node().output("nft", args).expect("run nft");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The first two lines of `nft list table ip svcproxy`: the header and the flags.
    fn header(&self) -> Vec<String> {
        let out = self
            .node()
            .output("nft", ["list", "table", "ip", "svcproxy"])
            .expect("run nft");
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines().take(2).map(str::to_owned).collect()
    }

    /// Our IPv4 table as `nft -j` lists it, if it exists.
    fn table(&self) -> Option<Json> {
        nft_json(self.node(), &["-j", "list", "table", "ip", "svcproxy"])
    }
}

fn config() -> Config {
    Config {
        node_ips: vec![IpAddr::V4(NODE_V4)],
        cluster_cidrs: vec!["10.244.0.0/16".parse().expect("cidr")],
        service_cidrs: vec!["10.96.0.0/16".parse().expect("cidr")],
        nodeport_addresses: NodePortAddresses::Primary,
        masquerade_all: false,
        detect_local: Default::default(),
    }
}

/// Services `10.96.0.<last>:80` for each of `lasts`, each with both pods as endpoints.
fn state(lasts: &[u8]) -> ProxyState {
    let mut state = ProxyState {
        node: NodeInfo {
            ips: vec![IpAddr::V4(NODE_V4)],
            ..NodeInfo::new("node-a")
        },
        ..ProxyState::default()
    };
    for &last in lasts {
        let name = ServicePortName::new("default", format!("svc-{last}"), "http", Protocol::Tcp);
        let ip = IpAddr::V4(Ipv4Addr::new(10, 96, 0, last));
        state
            .services
            .insert(name.clone(), ServicePort::new(name.clone(), ip, 80));
        let eps = (0..2)
            .map(|p| Endpoint::new(IpAddr::V4(pod_ipv4(p)), 8080))
            .collect();
        state.endpoints.insert(name, eps);
    }
    state
}

/// The table flags of `table` (`nft -j`), e.g. `["owner", "unknown"]` (nft 1.0.6 does not know
/// `persist`); empty when it has none.
fn flags(table: &Json) -> Vec<String> {
    table["nftables"]
        .as_array()
        .and_then(|a| a.iter().find_map(|o| o.pointer("/table/flags")))
        .map(|f| match f {
            Json::Array(a) => a
                .iter()
                .map(|v| v.as_str().unwrap_or("?").to_owned())
                .collect(),
            Json::String(s) => vec![s.clone()],
            other => vec![other.to_string()],
        })
        .unwrap_or_default()
}

/// Everything of `table` but its flags (which change hands), for comparing contents.
fn contents(table: &Json) -> Json {
    let mut t = table.clone();
    if let Some(a) = t["nftables"].as_array_mut() {
        for o in a {
            if let Some(t) = o.get_mut("table").and_then(Json::as_object_mut) {
                t.remove("flags");
            }
        }
    }
    t
}

/// Whether this kernel has `NFT_TABLE_F_PERSIST` (Linux 6.9).
fn kernel_has_persist() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("osrelease");
    let mut parts = release
        .trim()
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let version = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    version >= (6, 9)
}

#[test]
fn owned_table_survives_other_processes_while_the_datapath_lives() {
    let Some(rig) = Rig::new("owned_table_survives_other_processes_while_the_datapath_lives")
    else {
        return;
    };
    let mut dp = rig.datapath(TableFlags::Auto);
    sync(&mut dp, &state(&[10]), &Delta::default(), SyncMode::Full).expect("full sync");
    if !kernel_has_persist() {
        assert_eq!(dp.table_flags(), Some(0), "no flags before Linux 6.9");
        println!("kernel without persist: the fallback is tested by the no-flags test");
        return;
    }
    assert_eq!(dp.table_flags(), Some(PROTECTED));
    let before = rig.table().expect("our table");
    assert!(flags(&before).contains(&"owner".to_owned()), "{before}");
    let head = rig.header();
    println!("nft list table ip svcproxy, while owned: {head:?}");
    assert!(
        head[0].contains("# progname"),
        "nft names the owner: {head:?}"
    );
    assert!(rig.reaches(10));

    rig.nft(&["add", "table", "inet", "foreign"]);
    let (ok, err) = rig.nft(&["flush", "ruleset"]);
    assert!(ok, "nft flush ruleset succeeds, skipping our table: {err}");
    assert!(
        !rig.nft(&["list", "table", "inet", "foreign"]).0,
        "the flush ran"
    );
    for args in [
        &["delete", "table", "ip", "svcproxy"][..],
        &["flush", "table", "ip", "svcproxy"],
        &[
            "add",
            "element",
            "ip",
            "svcproxy",
            "cluster-ips",
            "{ 10.96.9.9 }",
        ],
    ] {
        let (ok, err) = rig.nft(args);
        assert!(
            !ok && err.contains("Operation not permitted"),
            "nft {args:?}: {err}"
        );
    }
    assert_eq!(rig.table(), Some(before.clone()), "our table is untouched");
    assert!(rig.reaches(10), "traffic still flows");

    // A second writer (another socket) is refused, naming why; nothing changes.
    let mut other = rig.datapath(TableFlags::Auto);
    let err =
        sync(&mut other, &state(&[11]), &Delta::default(), SyncMode::Full).expect_err("refused");
    println!("second writer: {err}");
    assert!(err.to_string().contains("EPERM") && err.to_string().contains("owned by another"));
    let err = cleanup(&mut other).expect_err("cleanup refused too");
    assert!(err.to_string().contains("EPERM"), "{err}");
    assert_eq!(rig.table(), Some(before), "our table is untouched");
}

#[test]
fn persisted_table_outlives_its_owner_and_is_adopted() {
    let Some(rig) = Rig::new("persisted_table_outlives_its_owner_and_is_adopted") else {
        return;
    };
    if !kernel_has_persist() {
        println!("kernel without persist: nothing to test here");
        return;
    }
    let mut first = rig.datapath(TableFlags::Auto);
    sync(&mut first, &state(&[10]), &Delta::default(), SyncMode::Full).expect("full sync");
    let owned = rig.table().expect("our table");
    drop(first); // its socket closes, as when the process exits

    let orphan = rig.table().expect("the table persists");
    println!(
        "orphaned: {:?}, JSON flags {:?} (owned: {:?})",
        rig.header(),
        flags(&orphan),
        flags(&owned)
    );
    assert!(!flags(&orphan).contains(&"owner".to_owned()), "{orphan}");
    assert_eq!(contents(&orphan), contents(&owned), "with all its contents");
    assert!(rig.reaches(10), "traffic still flows");

    // A new datapath adopts it and updates it.
    let mut second = rig.datapath(TableFlags::Auto);
    sync(
        &mut second,
        &state(&[10, 11]),
        &Delta::default(),
        SyncMode::Full,
    )
    .expect("the new datapath syncs");
    let adopted = rig.table().expect("our table");
    assert!(flags(&adopted).contains(&"owner".to_owned()), "{adopted}");
    assert!(rig.reaches(10) && rig.reaches(11));
    let (ok, err) = rig.nft(&["delete", "table", "ip", "svcproxy"]);
    assert!(!ok, "owned again: {err}");

    // Its owner cleans up.
    cleanup(&mut second).expect("the owner's cleanup");
    assert!(rig.table().is_none());
    assert!(!rig.reaches(10));

    // An orphan is cleaned up by anyone.
    sync(
        &mut second,
        &state(&[10]),
        &Delta::default(),
        SyncMode::Full,
    )
    .expect("full sync");
    drop(second);
    let mut third = rig.datapath(TableFlags::Auto);
    cleanup(&mut third).expect("cleanup of an orphan");
    assert!(rig.table().is_none());
}

#[test]
fn without_table_flags_a_flush_removes_the_table_until_the_next_full_sync() {
    let Some(rig) =
        Rig::new("without_table_flags_a_flush_removes_the_table_until_the_next_full_sync")
    else {
        return;
    };
    let mut dp = rig.datapath(TableFlags::None);
    sync(&mut dp, &state(&[10]), &Delta::default(), SyncMode::Full).expect("full sync");
    assert_eq!(dp.table_flags(), Some(0));
    assert!(flags(&rig.table().expect("our table")).is_empty());
    assert!(rig.reaches(10));

    let (ok, err) = rig.nft(&["flush", "ruleset"]);
    assert!(ok, "{err}");
    assert!(rig.table().is_none(), "the flush removed our table");
    assert!(!rig.reaches(10), "and the service with it");

    // A change now is refused (the table is gone) and forces a full sync, which restores it.
    let name = ServicePortName::new("default", "svc-11", "http", Protocol::Tcp);
    let delta = Delta {
        changed: [name].into(),
        ..Delta::default()
    };
    let err = sync(&mut dp, &state(&[10, 11]), &delta, SyncMode::Partial).expect_err("no table");
    println!("partial sync after the flush: {err}");
    sync(
        &mut dp,
        &state(&[10, 11]),
        &Delta::default(),
        SyncMode::Partial,
    )
    .expect("the next sync is full and restores the table");
    assert!(rig.reaches(10) && rig.reaches(11));
}
