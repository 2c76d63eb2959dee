//! Real traffic through the flat shape, in a `testkit` sandbox.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use backend_nft::netlink::Socket;
use backend_nft::set::{ElemOp, ElemVerdict, SetElems};
use nftnl::{Batch, MsgType};
use testkit::server::{Outcome, TcpServer, UdpServer, tcp_ask, udp_ask};

use super::nft::{list_json, named};
use super::shape::*;

/// Real traffic through the flat shape: a client outside the "node" reaches ClusterIPs
/// (TCP and UDP) and a NodePort, is spread over the endpoints, is refused for a service
/// without endpoints, and sticks to one endpoint with affinity.
#[test]
fn traffic_through_flat_shape() {
    if !testkit::root_or_skip("traffic_through_flat_shape") {
        return;
    }
    let sandbox = testkit::Sandbox::builder()
        .prefix("bnft")
        .pods(3)
        .build()
        .expect("sandbox");
    let node = &sandbox.node.ns;
    let client = &sandbox.client.ns;
    // Unmatched service IPs leave the node by its default route (testkit gives it one),
    // through the forward hook.
    let mut servers = Vec::new();
    for pod in &sandbox.pods {
        servers
            .push(TcpServer::start(&pod.ns, "0.0.0.0:8080".parse().expect("addr")).expect("tcp"));
    }
    let _dns = UdpServer::start(
        &sandbox.pods[2].ns,
        "10.244.0.4:5353".parse().expect("addr"),
    )
    .expect("udp");

    let sets = Sets::new();
    let affinity = affinity_set();
    let mut batch = Batch::new();
    add_table(&mut batch, &sets);
    add_elements(&mut batch, &sets);
    batch.add(&affinity, MsgType::Add);
    add_affinity_chain(&mut batch, &sets, &affinity, 2);
    let sticky = Ipv4Addr::new(10, 96, 0, 20);
    let mut e = SetElems::for_set(&sets.service_ips);
    e.push_verdict(
        &svc(sticky, TCP, 80),
        ElemVerdict::Goto(cs("affinity-endpoints-2")),
    )
    .expect("typed");
    e.add_to_batch(&mut batch, ElemOp::Add);
    let mut e = SetElems::for_set(&sets.endpoints);
    for slot in 0..2 {
        e.push_data(
            &ep_key(sticky, TCP, 80, slot),
            &ep(Ipv4Addr::new(10, 244, 0, 2 + slot as u8), 8080),
        )
        .expect("typed");
    }
    e.add_to_batch(&mut batch, ElemOp::Add);
    let mut sock = Socket::open_in(node.path()).expect("netlink socket in the node");
    sock.apply(&batch.finalize()).expect("rules applied");

    let timeout = Duration::from_secs(2);
    let ask_many = |addr: &str| {
        let addr = addr.parse().expect("addr");
        let mut seen = BTreeSet::new();
        for _ in 0..40 {
            match tcp_ask(client, addr, timeout) {
                Outcome::Answer(ip) => {
                    seen.insert(ip);
                }
                other => panic!("{addr}: {other}"),
            }
        }
        seen.into_iter().collect::<Vec<_>>()
    };
    let both = vec!["10.244.0.2".to_owned(), "10.244.0.3".to_owned()];
    assert_eq!(
        ask_many("10.96.0.10:80"),
        both,
        "ClusterIP spreads over its 2 endpoints"
    );
    assert_eq!(
        ask_many("192.168.50.1:30080"),
        both,
        "NodePort spreads over its 2 endpoints"
    );
    assert_eq!(
        udp_ask(client, "10.96.0.11:53".parse().expect("addr"), timeout),
        Outcome::Answer("10.244.0.4".into()),
        "UDP ClusterIP"
    );
    assert_eq!(
        tcp_ask(client, "10.96.0.12:80".parse().expect("addr"), timeout),
        Outcome::Refused,
        "service without endpoints"
    );
    let stuck = ask_many("10.96.0.20:80");
    assert_eq!(
        stuck.len(),
        1,
        "affinity keeps the client on one endpoint: {stuck:?}"
    );
    let json = list_json(node).expect("table exists");
    let remembered = &named(&json, "set", "affinity")["elem"];
    println!("affinity after traffic: {remembered}");
    assert_eq!(remembered.as_array().map(Vec::len), Some(1), "{remembered}");
}
