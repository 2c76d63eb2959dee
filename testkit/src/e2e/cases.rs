//! The end-to-end cases. Each builds its own sandbox, programs it through a [`Proxy`], sends
//! real traffic and panics with a readable message when the behaviour is wrong.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::time::Instant;

use super::manifest::{Ep, Svc, render};
use super::{NODE_NAME, OTHER_NODE, Proxy};
use crate::netns::Netns;
use crate::sandbox::Sandbox;
use crate::server::{Outcome, TcpServer, UdpServer, tcp_ask, udp_ask};

/// The TCP port every pod serves on.
const TCP_PORT: u16 = 8080;
/// The UDP port every pod serves on.
const UDP_PORT: u16 = 5353;
/// How long one probe may take.
const PROBE: Duration = Duration::from_secs(2);

/// A sandbox with servers running in every pod.
struct Env {
    sandbox: Sandbox,
    tcp: Vec<TcpServer>,
    _udp: Vec<UdpServer>,
}

impl Env {
    /// A sandbox with `pods` pods, each serving TCP and UDP on both families.
    fn new(pods: usize) -> Env {
        let sandbox = Sandbox::builder()
            .prefix("e2e")
            .pods(pods)
            .build()
            .expect("sandbox");
        let mut tcp = Vec::new();
        let mut udp = Vec::new();
        for pod in &sandbox.pods {
            let any: SocketAddr = SocketAddr::new("::".parse().expect("address"), TCP_PORT);
            tcp.push(TcpServer::start(&pod.ns, any).expect("tcp server"));
            for ip in pod.ips() {
                udp.push(
                    UdpServer::start(&pod.ns, SocketAddr::new(ip, UDP_PORT)).expect("udp server"),
                );
            }
        }
        Env {
            sandbox,
            tcp,
            _udp: udp,
        }
    }

    /// Pod `i` as an endpoint of `family` (v6 when `v6`), on `node-a` for pod 0 and `node-b`
    /// for the others.
    fn ep(&self, i: usize, v6: bool) -> Ep {
        let pod = &self.sandbox.pods[i];
        Ep {
            ip: if v6 { pod.ipv6.into() } else { pod.ipv4.into() },
            node: if i == 0 { NODE_NAME } else { OTHER_NODE },
        }
    }

    /// Every pod as an IPv4 endpoint.
    fn all_v4(&self) -> Vec<Ep> {
        (0..self.sandbox.pods.len())
            .map(|i| self.ep(i, false))
            .collect()
    }

    fn sync(&self, proxy: &mut dyn Proxy, services: &[Svc]) {
        if let Err(e) = proxy.sync(&self.sandbox.node.ns, &render(services)) {
            panic!("programming the node failed: {e}");
        }
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

/// Sends `n` TCP probes from `ns` to `addr` and counts the answers (by answering IP) and the
/// other outcomes.
fn tally(ns: &Netns, addr: SocketAddr, n: usize, udp: bool) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for _ in 0..n {
        let outcome = if udp {
            udp_ask(ns, addr, PROBE)
        } else {
            tcp_ask(ns, addr, PROBE)
        };
        *counts.entry(outcome.to_string()).or_insert(0) += 1;
    }
    counts
}

fn answer(ip: impl std::fmt::Display) -> String {
    Outcome::Answer(ip.to_string()).to_string()
}

/// 300 connections to a ClusterIP with 3 endpoints reach each at least 15% of the time.
pub fn cluster_ip_spreads_over_every_endpoint(proxy: &mut dyn Proxy) {
    let env = Env::new(3);
    let vip = ip("10.96.0.10");
    env.sync(
        proxy,
        &[Svc::new("web", vip, "TCP", 80, TCP_PORT).endpoints(env.all_v4())],
    );
    let counts = tally(&env.sandbox.client.ns, SocketAddr::new(vip, 80), 300, false);
    for pod in &env.sandbox.pods {
        let got = counts.get(&answer(pod.ipv4)).copied().unwrap_or(0);
        assert!(
            got >= 45,
            "pod {} answered {got} of 300 (< 15%): {counts:?}",
            pod.ipv4
        );
    }
}

/// After an endpoint is removed and the rules synced, it gets no new connection.
pub fn a_removed_endpoint_gets_no_traffic_after_the_sync(proxy: &mut dyn Proxy) {
    let env = Env::new(3);
    let vip = ip("10.96.0.11");
    let svc = Svc::new("web", vip, "TCP", 80, TCP_PORT);
    env.sync(proxy, &[svc.clone().endpoints(env.all_v4())]);
    env.sync(
        proxy,
        &[svc.endpoints([env.ep(0, false), env.ep(1, false)])],
    );
    let counts = tally(&env.sandbox.client.ns, SocketAddr::new(vip, 80), 100, false);
    let removed = answer(env.sandbox.pods[2].ipv4);
    assert!(
        !counts.contains_key(&removed),
        "the removed endpoint still answered: {counts:?}"
    );
    assert_eq!(counts.values().sum::<usize>(), 100);
    assert!(
        counts.keys().all(|k| k.starts_with("answer")),
        "every probe is answered: {counts:?}"
    );
}

/// A service with no endpoints is refused (not dropped) in under 100 ms.
pub fn a_service_without_endpoints_is_refused_fast(proxy: &mut dyn Proxy) {
    let env = Env::new(1);
    let vip = ip("10.96.0.12");
    env.sync(proxy, &[Svc::new("empty", vip, "TCP", 80, TCP_PORT)]);
    for _ in 0..3 {
        let start = Instant::now();
        let outcome = tcp_ask(&env.sandbox.client.ns, SocketAddr::new(vip, 80), PROBE);
        let took = start.elapsed();
        assert_eq!(outcome, Outcome::Refused, "a service without endpoints");
        assert!(took < Duration::from_millis(100), "refusal took {took:?}");
    }
}

/// A NodePort on the node's IP is reachable from the client outside the cluster.
pub fn node_port_is_reachable_from_outside(proxy: &mut dyn Proxy) {
    let env = Env::new(2);
    let svc = Svc::new("np", ip("10.96.0.13"), "TCP", 80, TCP_PORT)
        .node_port(30080)
        .endpoints(env.all_v4());
    env.sync(proxy, &[svc]);
    let node = SocketAddr::new(env.sandbox.node.ipv4.into(), 30080);
    let counts = tally(&env.sandbox.client.ns, node, 40, false);
    for pod in &env.sandbox.pods {
        assert!(
            counts.contains_key(&answer(pod.ipv4)),
            "pod {} never answered on the node port: {counts:?}",
            pod.ipv4
        );
    }
}

/// With ClientIP affinity, every connection of one client lands on the same endpoint.
pub fn client_ip_affinity_pins_a_client(proxy: &mut dyn Proxy) {
    let env = Env::new(3);
    let vip = ip("10.96.0.14");
    let svc = Svc::new("sticky", vip, "TCP", 80, TCP_PORT)
        .spec("sessionAffinity: ClientIP")
        .endpoints(env.all_v4());
    env.sync(proxy, &[svc]);
    let counts = tally(&env.sandbox.client.ns, SocketAddr::new(vip, 80), 30, false);
    assert_eq!(
        counts.len(),
        1,
        "one endpoint for every connection: {counts:?}"
    );
    assert!(counts.keys().all(|k| k.starts_with("answer")), "{counts:?}");
}

/// With externalTrafficPolicy Local, a node port reaches only the local endpoint, and the
/// server sees the client's own IP.
pub fn external_traffic_policy_local_keeps_the_client_ip_and_the_local_endpoint(
    proxy: &mut dyn Proxy,
) {
    let env = Env::new(2);
    let svc = Svc::new("local", ip("10.96.0.15"), "TCP", 80, TCP_PORT)
        .node_port(30081)
        .spec("externalTrafficPolicy: Local")
        .endpoints(env.all_v4());
    env.sync(proxy, &[svc]);
    let node = SocketAddr::new(env.sandbox.node.ipv4.into(), 30081);
    let counts = tally(&env.sandbox.client.ns, node, 30, false);
    let local = answer(env.sandbox.pods[0].ipv4);
    assert_eq!(
        counts.get(&local),
        Some(&30),
        "only the local endpoint answers: {counts:?}"
    );
    let client: IpAddr = env.sandbox.client.ipv4.into();
    let peers = env.tcp[0].peers();
    assert!(
        !peers.is_empty() && peers.iter().all(|p| p.ip() == client),
        "the server saw {peers:?}, not the client {client}"
    );
}

/// A pod reaching its own service, whose only endpoint is itself, gets an answer (hairpin
/// traffic is masqueraded).
pub fn a_pod_reaches_itself_through_its_service(proxy: &mut dyn Proxy) {
    let env = Env::new(1);
    let vip = ip("10.96.0.16");
    env.sync(
        proxy,
        &[Svc::new("self", vip, "TCP", 80, TCP_PORT).endpoints([env.ep(0, false)])],
    );
    let pod = &env.sandbox.pods[0];
    let outcome = tcp_ask(&pod.ns, SocketAddr::new(vip, 80), PROBE);
    assert_eq!(outcome, Outcome::Answer(pod.ipv4.to_string()), "hairpin");
}

/// UDP datagrams to a ClusterIP are answered by the endpoints.
pub fn udp_is_balanced_too(proxy: &mut dyn Proxy) {
    let env = Env::new(2);
    let vip = ip("10.96.0.53");
    env.sync(
        proxy,
        &[Svc::new("dns", vip, "UDP", 53, UDP_PORT).endpoints(env.all_v4())],
    );
    let counts = tally(&env.sandbox.client.ns, SocketAddr::new(vip, 53), 40, true);
    for pod in &env.sandbox.pods {
        assert!(
            counts.contains_key(&answer(pod.ipv4)),
            "pod {} never answered over UDP: {counts:?}",
            pod.ipv4
        );
    }
}

/// A dual-stack service answers on its IPv6 cluster IP from IPv6 endpoints.
pub fn ipv6_cluster_ip_works(proxy: &mut dyn Proxy) {
    let env = Env::new(2);
    let (v4, v6) = (ip("10.96.0.17"), ip("fd00:96::17"));
    let mut svc = Svc::new("dual", v4, "TCP", 80, TCP_PORT);
    svc.cluster_ips.push(v6);
    let eps = (0..2).flat_map(|i| [env.ep(i, false), env.ep(i, true)]);
    env.sync(proxy, &[svc.endpoints(eps)]);
    let counts = tally(&env.sandbox.client.ns, SocketAddr::new(v6, 80), 40, false);
    for pod in &env.sandbox.pods {
        assert!(
            counts.contains_key(&answer(pod.ipv6)),
            "pod {} never answered over IPv6: {counts:?}",
            pod.ipv6
        );
    }
}
