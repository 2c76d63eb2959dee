//! Tests of `testkit::sandbox`: the topology, its addresses and its cleanup.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use testkit::plan;
use testkit::sandbox::Sandbox;
use testkit::server::{Outcome, TcpServer, UdpServer, tcp_ask, udp_ask};
use testkit::{Error, Netns};

use crate::common::{host_veths, listed, require_root};

const WAIT: Duration = Duration::from_secs(2);

#[test]
fn client_reaches_each_pod_over_tcp_and_udp_routed_without_nat() {
    require_root!("client_reaches_each_pod_over_tcp_and_udp_routed_without_nat");
    let sandbox = Sandbox::builder()
        .prefix("tk-sbx")
        .pods(3)
        .build()
        .expect("sandbox");
    assert_eq!(sandbox.pods.len(), 3);

    // One dual-stack TCP server per pod; UDP servers per address.
    let mut tcp = Vec::new();
    let mut udp = Vec::new();
    for pod in &sandbox.pods {
        tcp.push(TcpServer::start(&pod.ns, "[::]:8080".parse().expect("addr")).expect("tcp"));
        for ip in pod.ips() {
            udp.push(UdpServer::start(&pod.ns, SocketAddr::new(ip, 5353)).expect("udp"));
        }
    }

    for pod in &sandbox.pods {
        for ip in pod.ips() {
            let expected = Outcome::Answer(ip.to_string());
            let addr = SocketAddr::new(ip, 8080);
            assert_eq!(
                tcp_ask(&sandbox.client.ns, addr, WAIT),
                expected,
                "tcp {addr}"
            );
            let addr = SocketAddr::new(ip, 5353);
            assert_eq!(
                udp_ask(&sandbox.client.ns, addr, WAIT),
                expected,
                "udp {addr}"
            );
        }
    }

    // Routed, no NAT: each server saw the client's own addresses, once per family.
    let client: Vec<IpAddr> = sandbox.client.ips().to_vec();
    for server in &tcp {
        let seen: Vec<IpAddr> = server.peers().iter().map(SocketAddr::ip).collect();
        assert_eq!(seen, client, "tcp server {}", server.local_addr());
    }
    for server in &udp {
        let seen: Vec<IpAddr> = server.peers().iter().map(SocketAddr::ip).collect();
        let family = if server.local_addr().is_ipv4() { 0 } else { 1 };
        assert_eq!(seen, [client[family]], "udp server {}", server.local_addr());
    }

    // Pod to pod goes through the node too, and the node reaches every pod.
    let (a, b) = (&sandbox.pods[0], &sandbox.pods[2]);
    for ip in b.ips() {
        let addr = SocketAddr::new(ip, 8080);
        assert_eq!(tcp_ask(&a.ns, addr, WAIT), Outcome::Answer(ip.to_string()));
        assert_eq!(
            tcp_ask(&sandbox.node.ns, addr, WAIT),
            Outcome::Answer(ip.to_string())
        );
    }
    let seen: Vec<IpAddr> = tcp[2].peers().iter().map(SocketAddr::ip).collect();
    assert_eq!(
        &seen[2..],
        [
            IpAddr::from(a.ipv4),
            sandbox.node.gateway_v4.into(),
            a.ipv6.into(),
            sandbox.node.gateway_v6.into()
        ]
    );

    // A pod reaches the node IP (a server on the node, as a NodePort test would have).
    let _node_server =
        TcpServer::start(&sandbox.node.ns, "[::]:30080".parse().expect("addr")).expect("tcp");
    for ip in sandbox.node.ips() {
        let addr = SocketAddr::new(ip, 30080);
        assert_eq!(tcp_ask(&a.ns, addr, WAIT), Outcome::Answer(ip.to_string()));
        assert_eq!(
            tcp_ask(&sandbox.client.ns, addr, WAIT),
            Outcome::Answer(ip.to_string())
        );
    }
}

#[test]
fn addresses_follow_the_plan() {
    require_root!("addresses_follow_the_plan");
    let sandbox = Sandbox::new(2).expect("sandbox");
    assert_eq!(sandbox.node.ipv4.to_string(), "192.168.50.1");
    assert_eq!(sandbox.node.ipv6.to_string(), "fd00:50::1");
    assert_eq!(sandbox.client.ipv4.to_string(), "192.168.50.2");
    assert_eq!(sandbox.client.ipv6.to_string(), "fd00:50::2");
    assert_eq!(sandbox.pods[1].ipv4.to_string(), "10.244.0.3");
    assert_eq!(sandbox.pods[1].ipv6.to_string(), "fd00:244::3");
    assert_eq!(sandbox.pods[1].node_veth, "pod1");

    let pod = sandbox.pods[1]
        .ns
        .ip(["-o", "addr", "show", "dev", "eth0"])
        .expect("ip");
    assert!(
        pod.contains("10.244.0.3/32") && pod.contains("fd00:244::3/128"),
        "{pod}"
    );
    // Usable at once: no tentative (DAD) addresses anywhere.
    for ns in [&sandbox.node.ns, &sandbox.pods[0].ns, &sandbox.client.ns] {
        let addrs = ns.ip(["-o", "addr"]).expect("ip");
        assert!(!addrs.contains("tentative"), "{addrs}");
    }
    let routes = sandbox.pods[0].ns.ip(["-6", "route"]).expect("ip");
    assert!(
        routes.contains("default via fd00:244::1 dev eth0"),
        "{routes}"
    );
    let node = &sandbox.node.ns;
    assert_eq!(
        node.sh("sysctl -n net.ipv4.ip_forward").expect("sh").trim(),
        "1"
    );
    assert_eq!(
        node.sh("sysctl -n net.ipv6.conf.all.forwarding")
            .expect("sh")
            .trim(),
        "1"
    );
    let links = node.ip(["-o", "link"]).expect("ip");
    for veth in ["pod0", "pod1", "client"] {
        assert!(links.contains(&format!(": {veth}@")), "{links}");
    }
}

#[test]
fn closed_ports_are_refused_quickly() {
    require_root!("closed_ports_are_refused_quickly");
    let sandbox = Sandbox::new(1).expect("sandbox");
    for ip in sandbox.pods[0].ips() {
        let addr = SocketAddr::new(ip, 9);
        let start = tokio::time::Instant::now();
        assert_eq!(
            tcp_ask(&sandbox.client.ns, addr, WAIT),
            Outcome::Refused,
            "tcp {addr}"
        );
        assert_eq!(
            udp_ask(&sandbox.client.ns, addr, WAIT),
            Outcome::Refused,
            "udp {addr}"
        );
        let took = start.elapsed();
        assert!(
            took < Duration::from_millis(100),
            "{addr}: two refusals took {took:?}"
        );
    }
    // Many in a row: no ICMP rate limit gets in the way.
    let addr = SocketAddr::new(sandbox.pods[0].ipv4.into(), 9);
    for _ in 0..20 {
        assert_eq!(udp_ask(&sandbox.client.ns, addr, WAIT), Outcome::Refused);
    }
}

#[test]
fn blackholed_addresses_time_out_and_unrouted_ones_are_errors() {
    require_root!("blackholed_addresses_time_out_and_unrouted_ones_are_errors");
    let sandbox = Sandbox::new(1).expect("sandbox");
    let timeout = Duration::from_millis(300);
    let blackholes = [
        IpAddr::from(plan::BLACKHOLE_V4),
        IpAddr::from(plan::BLACKHOLE_V6),
    ];
    // The four probes in parallel, to keep the test short.
    std::thread::scope(|scope| {
        for ip in blackholes {
            let addr = SocketAddr::new(ip, 80);
            let ns = &sandbox.client.ns;
            scope.spawn(move || {
                let start = tokio::time::Instant::now();
                assert_eq!(tcp_ask(ns, addr, timeout), Outcome::Timeout, "tcp {addr}");
                assert!(start.elapsed() >= Duration::from_millis(250));
            });
            scope.spawn(move || {
                let start = tokio::time::Instant::now();
                assert_eq!(udp_ask(ns, addr, timeout), Outcome::Timeout, "udp {addr}");
                assert!(start.elapsed() >= Duration::from_millis(250));
            });
        }
    });

    // A service IP without the proxy's rules: the node routes it to its uplink, where it is
    // lost.
    let addr: SocketAddr = "10.96.0.10:80".parse().expect("addr");
    assert_eq!(tcp_ask(&sandbox.client.ns, addr, WAIT), Outcome::Timeout);
}

#[test]
fn nothing_is_left_behind() {
    require_root!("nothing_is_left_behind");
    let sandbox = Sandbox::builder()
        .prefix("tk-left")
        .pods(2)
        .build()
        .expect("sandbox");
    let names = sandbox.names();
    assert_eq!(names.len(), 4);
    assert!(names.iter().all(|name| listed(name)));
    // The veths never appear in the host's namespace.
    let host = host_veths();
    for veth in ["pod0", "pod1", "client"] {
        assert!(
            !host.contains(&veth.to_owned()),
            "{veth} is in the host: {host:?}"
        );
    }
    drop(sandbox);
    for name in &names {
        assert!(!listed(name), "{name} left behind");
    }
}

#[test]
fn a_failed_build_removes_what_it_created() {
    require_root!("a_failed_build_removes_what_it_created");
    // `<prefix>-node` fits in 40 characters, `<prefix>-client` does not: the node namespace is
    // created, then the build fails.
    let prefix = "tk-fail".to_owned() + &"x".repeat(27);
    let err = Sandbox::builder()
        .prefix(prefix.clone())
        .pods(1)
        .build()
        .expect_err("the client's name is too long");
    assert!(matches!(err, Error::InvalidPrefix(_)), "{err}");
    let left: Vec<String> = testkit::netns::list()
        .expect("list")
        .into_iter()
        // This process's only: other test runs may be building sandboxes right now.
        .filter(|name| name.starts_with(&format!("{prefix}-node-{}-", std::process::id())))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn too_many_pods_are_refused_before_anything_is_created() {
    let err = Sandbox::builder()
        .pods(plan::MAX_PODS + 1)
        .build()
        .expect_err("too many");
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
}

#[test]
fn a_bare_namespace_can_still_probe() {
    require_root!("a_bare_namespace_can_still_probe");
    // Loopback only: a probe to a closed local port is refused, to an unroutable one is an error.
    let ns = Netns::new("tk-bare").expect("namespace");
    assert_eq!(
        tcp_ask(&ns, "127.0.0.1:9".parse().expect("addr"), WAIT),
        Outcome::Refused
    );
    assert!(matches!(
        udp_ask(&ns, "10.0.0.1:9".parse().expect("addr"), WAIT),
        Outcome::Other(_)
    ));
}
