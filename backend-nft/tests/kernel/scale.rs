//! Batches larger than the kernel's 1024 iovecs per `sendmsg` (`UIO_MAXIOV`): a cluster whose
//! full sync is more than 1024 `nftnl` pages programs in one transaction (traffic reaches its
//! first, middle and last service), and so does a batch of small pages (the same path, cheaply).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use backend_nft::datapath::NftDatapath;
use backend_nft::netlink::UIO_MAXIOV;
use backend_nft::owner::TableFlags;
use backend_nft::plan::{Config, NodePortAddresses};
use backend_nft::set::{ElemOp, SetElems};
use nftnl::{Batch, FinalizedBatch, MsgType, ProtoFamily, Table};
use proxy_core::model::{Endpoint, NodeInfo, Protocol, ServicePort, ServicePortName};
use proxy_core::{Delta, ProxyState, SyncMode};
use testkit::plan::{NODE_V4, pod_ipv4};
use testkit::server::{Outcome, TcpServer, tcp_ask};
use tokio::time::Instant;

use super::datapath::{cleanup, datapath_with, nft_json, sync};
use super::nft::{elements, list_json, setup};
use super::shape::{Sets, TCP, add_table, ep, ep_key};

/// The smallest cluster of 20-endpoint services whose full sync exceeds 1024 pages (1,039;
/// a page carries about 64 KiB of element messages).
const SERVICES: u32 = 50_000;
/// Endpoints per service (the shape of the 60k x 20 cluster that used to fail).
const ENDPOINTS: u32 = 20;
/// The services whose endpoints are the sandbox's pods: the first, one in the middle and the
/// last (whose elements are in the last pages, the ones copied into one buffer).
const PROBED: [u32; 3] = [0, SERVICES / 2, SERVICES - 1];

fn nth(base: Ipv4Addr, n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(u32::from(base) + n))
}

/// Service `i`'s cluster IP: `10.96.0.10` on.
fn cluster_ip(i: u32) -> IpAddr {
    nth(Ipv4Addr::new(10, 96, 0, 10), i)
}

/// The endpoints of service `i`: the sandbox's `pods` for [`PROBED`] services, otherwise
/// addresses from `10.112.0.0/12` that nothing answers on, never repeated.
fn endpoints_of(i: u32, pods: usize) -> Vec<Endpoint> {
    let mut eps: Vec<Endpoint> = if PROBED.contains(&i) {
        (0..pods)
            .map(|p| Endpoint::new(IpAddr::V4(pod_ipv4(p)), 8080))
            .collect()
    } else {
        (0..ENDPOINTS)
            .map(|j| Endpoint::new(nth(Ipv4Addr::new(10, 112, 0, 0), i * ENDPOINTS + j), 8080))
            .collect()
    };
    eps.sort();
    eps
}

/// `SERVICES` TCP services on port 80 with their endpoints on port 8080, on the sandbox's
/// node (IPv4 only).
fn cluster(pods: usize) -> (ProxyState, Config) {
    let node_ip = IpAddr::V4(NODE_V4);
    let mut state = ProxyState {
        node: NodeInfo {
            ips: vec![node_ip],
            ..NodeInfo::new("node-a")
        },
        ..ProxyState::default()
    };
    for i in 0..SERVICES {
        let name = ServicePortName::new(
            format!("ns-{}", i / 1000),
            format!("svc-{i}"),
            "http",
            Protocol::Tcp,
        );
        let service = ServicePort::new(name.clone(), cluster_ip(i), 80);
        state.services.insert(name.clone(), service);
        state.endpoints.insert(name, endpoints_of(i, pods));
    }
    let config = Config {
        node_ips: vec![node_ip],
        cluster_cidrs: vec![
            "10.244.0.0/16".parse().expect("cidr"),
            "10.112.0.0/12".parse().expect("cidr"),
        ],
        service_cidrs: vec!["10.96.0.0/12".parse().expect("cidr")],
        nodeport_addresses: NodePortAddresses::Primary,
        masquerade_all: false,
        detect_local: Default::default(),
    };
    (state, config)
}

/// This process's peak resident memory (`VmHWM`), for the report.
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.trim_start_matches("VmHWM:").trim().to_owned())
        })
        .unwrap_or_default()
}

/// The number of elements of `map` in `ip svcproxy`, as `nft -j list map` shows them.
fn map_size(ns: &testkit::Netns, map: &str) -> usize {
    let json = nft_json(ns, &["-j", "list", "map", "ip", "svcproxy", map]).expect("nft lists it");
    json["nftables"]
        .as_array()
        .and_then(|a| a.iter().find_map(|o| o.pointer("/map/elem")))
        .and_then(|e| e.as_array())
        .map_or(0, Vec::len)
}

/// Full sync of `state` by `dp`, reported.
fn full_sync(dp: &mut NftDatapath, state: &ProxyState) {
    let start = Instant::now();
    sync(dp, state, &Delta::default(), SyncMode::Full).expect("full sync");
    let sent = dp.last_sent().expect("a batch was sent");
    println!(
        "{SERVICES} services x {ENDPOINTS} endpoints: {} bytes in {} pages, {} messages, sent as \
         {} iovecs ({} bytes copied); full sync (plan, encode, kernel) {:?}, of which the \
         kernel {:?}; peak RSS of the test process {}",
        sent.bytes,
        sent.pages,
        sent.messages,
        sent.iovecs,
        sent.copied,
        start.elapsed(),
        sent.kernel,
        peak_rss(),
    );
    assert!(
        sent.pages > UIO_MAXIOV,
        "the cluster must need more than {UIO_MAXIOV} pages: {sent:?}"
    );
    assert!(sent.iovecs <= UIO_MAXIOV && sent.copied > 0, "{sent:?}");
}

#[test]
fn cluster_over_1024_pages_programs() {
    if !testkit::root_or_skip("cluster_over_1024_pages_programs") {
        return;
    }
    let sandbox = testkit::Sandbox::builder()
        .prefix("bnft-scale")
        .pods(2)
        .build()
        .expect("sandbox");
    let _servers: Vec<TcpServer> = sandbox
        .pods
        .iter()
        .map(|pod| TcpServer::start(&pod.ns, "0.0.0.0:8080".parse().expect("addr")).expect("tcp"))
        .collect();
    let node = &sandbox.node.ns;
    let (state, config) = cluster(sandbox.pods.len());
    let mut dp = datapath_with(node, config, TableFlags::Auto);
    full_sync(&mut dp, &state);

    // Traffic to the probed services reaches their pods.
    for i in PROBED {
        let addr = SocketAddr::new(cluster_ip(i), 80);
        match tcp_ask(&sandbox.client.ns, addr, Duration::from_secs(2)) {
            Outcome::Answer(ip) => assert!(ip.starts_with("10.244.0."), "{addr}: {ip}"),
            other => panic!("service {i} ({addr}): {other}"),
        }
    }
    // Every service is in the service map.
    let start = Instant::now();
    assert_eq!(map_size(node, "service-ips"), SERVICES as usize);
    println!("nft counted the service map in {:?}", start.elapsed());

    // Empty the namespace now rather than leave a million elements to its teardown.
    cleanup(&mut dp).expect("cleanup");
}

/// A page size small enough to give a batch of one-element messages many pages, and larger
/// than any message of [`add_table`] (libnftnl drops a message larger than its page).
const SMALL_PAGE: u32 = 2048;
/// One-element messages for more than 1024 pages of [`SMALL_PAGE`] (about 20 per page).
const MESSAGES: u32 = 22_000;

/// The flat table (replacing any earlier one) with `MESSAGES` endpoints of one service, one
/// element message each, on pages of `SMALL_PAGE` bytes; endpoints from `pods` on.
fn many_small_messages(sets: &Sets, pods: Ipv4Addr) -> FinalizedBatch {
    let mut batch = Batch::with_page_size(SMALL_PAGE);
    let table = Table::new(super::shape::TABLE, ProtoFamily::Ipv4);
    batch.add(&table, MsgType::Add);
    batch.add(&table, MsgType::Del);
    add_table(&mut batch, sets);
    let ip = Ipv4Addr::new(10, 96, 0, 10);
    for slot in 0..MESSAGES {
        let mut one = SetElems::for_set(&sets.endpoints);
        let pod = Ipv4Addr::from(u32::from(pods) + slot);
        one.push_data(&ep_key(ip, TCP, 80, slot), &ep(pod, 8080))
            .expect("typed");
        one.add_to_batch(&mut batch, ElemOp::Add);
    }
    batch.finalize()
}

/// The same path cheaply: 22,000 one-element messages on small pages are one transaction of
/// more than 1024 pages, sent as 1024 iovecs; and as one copied buffer (one iovec).
#[test]
fn batch_of_more_pages_than_uio_maxiov_is_one_transaction() {
    let Some((ns, mut sock)) = setup("batch_of_more_pages_than_uio_maxiov_is_one_transaction")
    else {
        return;
    };
    let sets = Sets::new();
    let batch = many_small_messages(&sets, Ipv4Addr::new(10, 244, 0, 0));
    let pages = batch.iter().count();
    assert!(pages > UIO_MAXIOV, "{pages} pages");
    let sent = sock.apply(&batch).expect("applied");
    println!("in place + one buffer: {sent:?}");
    assert_eq!((sent.pages, sent.iovecs), (pages, UIO_MAXIOV));
    assert!(sent.copied > 0 && sent.copied < sent.bytes / 2, "{sent:?}");
    let json = list_json(&ns).expect("table exists");
    assert_eq!(elements(&json, "endpoints").len(), MESSAGES as usize);

    sock.set_max_iovecs(1);
    let batch = many_small_messages(&sets, Ipv4Addr::new(10, 245, 0, 0));
    let sent = sock.apply(&batch).expect("applied as one buffer");
    println!("one buffer: {sent:?}");
    assert_eq!((sent.iovecs, sent.copied), (1, sent.bytes));
    let json = list_json(&ns).expect("table exists");
    let endpoints = elements(&json, "endpoints");
    assert_eq!(endpoints.len(), MESSAGES as usize);
    let text = serde_json::to_string(&endpoints).expect("json");
    // 10.245.0.0 + 21,999 is the last endpoint; nothing of the first batch is left.
    assert!(
        text.contains("10.245.85.239") && !text.contains("10.244."),
        "{text:.300}"
    );
}
