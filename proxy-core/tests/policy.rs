//! Tests of `proxy_core::policy`: the node configuration per family, the node-port address
//! syntax, and the per-family policy of a service port.

use std::net::IpAddr;

use ipnet::IpNet;
use proxy_core::model::{
    Endpoint, IpFamily, NodeInfo, Protocol, ServicePort, ServicePortName, SessionAffinity,
    TrafficPolicy,
};
use proxy_core::policy::{
    LocalDetection, NoEndpoints, NodeConfig, NodePortAddresses, NodePortAddressesError, NodePorts,
    PortPolicy,
};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("an IP")
}

fn net(s: &str) -> IpNet {
    s.parse().expect("a CIDR")
}

fn nets(list: &[&str]) -> Vec<IpNet> {
    list.iter().map(|s| net(s)).collect()
}

/// A dual-stack node with node ports on the primary IPs.
fn dual() -> NodeConfig {
    NodeConfig {
        node_ips: vec![ip("192.168.0.2"), ip("fd00::2")],
        cluster_cidrs: nets(&["10.244.0.0/16", "fd00:244::/64"]),
        service_cidrs: nets(&["10.96.0.0/16", "fd00:96::/112"]),
        ..NodeConfig::default()
    }
}

#[test]
fn families_follow_the_node_ips_or_are_both() {
    assert_eq!(NodeConfig::default().families(), IpFamily::ALL.to_vec());
    assert_eq!(dual().families(), IpFamily::ALL.to_vec());
    let v6 = NodeConfig {
        node_ips: vec![ip("fd00::2")],
        ..NodeConfig::default()
    };
    assert_eq!(v6.families(), vec![IpFamily::V6]);
}

#[test]
fn family_view_keeps_the_family_and_aggregates() {
    let config = NodeConfig {
        // Two halves, one with host bits set, and a net inside them: one /16.
        cluster_cidrs: nets(&[
            "10.244.128.0/17",
            "10.244.0.1/17",
            "10.244.3.0/24",
            "fd00:244::/64",
        ]),
        service_cidrs: nets(&["fd00:96::/112"]),
        masquerade_all: true,
        ..dual()
    };
    let v4 = config.family(IpFamily::V4);
    assert_eq!(v4.family, IpFamily::V4);
    assert_eq!(v4.node_ips, vec![ip("192.168.0.2")]);
    assert_eq!(v4.cluster_cidrs, nets(&["10.244.0.0/16"]));
    assert_eq!(v4.service_cidrs, Vec::<IpNet>::new());
    assert_eq!(v4.nodeports, NodePorts::Primary(ip("192.168.0.2")));
    assert!(v4.masquerade_all);
    let v6 = config.family(IpFamily::V6);
    assert_eq!(v6.node_ips, vec![ip("fd00::2")]);
    assert_eq!(v6.cluster_cidrs, nets(&["fd00:244::/64"]));
    assert_eq!(v6.service_cidrs, nets(&["fd00:96::/112"]));
    assert_eq!(v6.nodeports, NodePorts::Primary(ip("fd00::2")));
}

#[test]
fn family_view_resolves_nodeport_addresses() {
    let with = |addresses: NodePortAddresses, node_ips: Vec<IpAddr>| NodeConfig {
        node_ips,
        nodeport_addresses: addresses,
        ..NodeConfig::default()
    };
    // Primary without a node IP of the family: no node ports there.
    let v4_only = with(NodePortAddresses::Primary, vec![ip("192.168.0.2")]);
    assert_eq!(v4_only.family(IpFamily::V6).nodeports, NodePorts::None);
    // A /0 among the CIDRs of the family: every local address.
    let all = with(
        NodePortAddresses::Cidrs(nets(&["192.168.0.0/24", "0.0.0.0/0"])),
        vec![ip("192.168.0.2"), ip("fd00::2")],
    );
    assert_eq!(all.family(IpFamily::V4).nodeports, NodePorts::AllLocal);
    assert_eq!(all.family(IpFamily::V6).nodeports, NodePorts::None);
    // Plain CIDRs: aggregated, per family.
    let cidrs = with(
        NodePortAddresses::Cidrs(nets(&["192.168.1.0/24", "192.168.0.7/24", "fd00:50::/64"])),
        Vec::new(),
    );
    assert_eq!(
        cidrs.family(IpFamily::V4).nodeports,
        NodePorts::Cidrs(nets(&["192.168.0.0/23"]))
    );
    assert_eq!(
        cidrs.family(IpFamily::V6).nodeports,
        NodePorts::Cidrs(nets(&["fd00:50::/64"]))
    );
}

#[test]
fn nodeport_addresses_parse_the_flag_syntax() {
    let parse = |s: &str| s.parse::<NodePortAddresses>();
    assert_eq!(parse(" primary "), Ok(NodePortAddresses::Primary));
    let list = parse("192.168.0.0/24, fd00:50::/64").expect("a list");
    assert_eq!(list.cidrs(), nets(&["192.168.0.0/24", "fd00:50::/64"]));
    assert_eq!(list.to_string(), "192.168.0.0/24,fd00:50::/64");
    assert_eq!(NodePortAddresses::Primary.to_string(), "primary");
    let errors = [
        (
            "10.0.0.0/8,",
            "empty entry: expected primary or CIDR,CIDR,..",
        ),
        (
            "primary,10.0.0.0/8",
            "primary cannot be combined with CIDRs",
        ),
        (
            "10.0.0.1",
            "\"10.0.0.1\" is an address, not a CIDR: add its prefix length, e.g. 10.0.0.1/24",
        ),
        (
            "all",
            "\"all\" is not a CIDR such as 10.244.0.0/16 or fd00::/64",
        ),
    ];
    for (text, message) in errors {
        let err = parse(text).expect_err(text);
        assert_eq!(err.to_string(), message, "{text}");
    }
    assert_eq!(parse(""), Err(NodePortAddressesError::EmptyEntry));
}

#[test]
fn nodeport_addresses_all_local_is_per_family() {
    let npa = NodePortAddresses::Cidrs(nets(&["0.0.0.0/0", "fd00:50::/64"]));
    assert!(npa.all_local(ip("10.0.0.1")));
    assert!(!npa.all_local(ip("fd00::1")));
    assert!(!NodePortAddresses::Primary.all_local(ip("10.0.0.1")));
}

#[test]
fn node_config_round_trips_through_serde() {
    let config = NodeConfig {
        nodeport_addresses: NodePortAddresses::Cidrs(nets(&["0.0.0.0/0"])),
        masquerade_all: true,
        ..dual()
    };
    let text = serde_json::to_string(&config).expect("serialized");
    assert!(
        text.contains(r#""nodeportAddresses":"0.0.0.0/0""#),
        "{text}"
    );
    let back: NodeConfig = serde_json::from_str(&text).expect("deserialized");
    assert_eq!(back, config);
    let partial: NodeConfig =
        serde_json::from_str(r#"{"nodeIps": ["192.168.0.2"], "nodeportAddresses": "primary"}"#)
            .expect("missing fields default");
    assert_eq!(partial.node_ips, vec![ip("192.168.0.2")]);
    assert_eq!(partial.nodeport_addresses, NodePortAddresses::Primary);
}

/// The node the policies are computed on.
fn node() -> NodeInfo {
    NodeInfo::new("node-a")
}

/// A dual-stack service with a node port.
fn service(itp: TrafficPolicy, etp: TrafficPolicy) -> ServicePort {
    let name = ServicePortName::new("ns", "web", "http", Protocol::Tcp);
    let mut svc = ServicePort::new(name, ip("10.96.0.10"), 80);
    svc.cluster_ips.push(ip("fd00:96::10"));
    svc.node_port = Some(30080);
    svc.internal_traffic_policy = itp;
    svc.external_traffic_policy = etp;
    svc
}

/// A ready endpoint, on this node when `local`.
fn endpoint(addr: &str, local: bool) -> Endpoint {
    let mut ep = Endpoint::new(ip(addr), 8080);
    ep.is_local = local;
    ep
}

fn ips(eps: &[&Endpoint]) -> Vec<IpAddr> {
    eps.iter().map(|ep| ep.ip).collect()
}

#[test]
fn no_endpoints_rejects_every_frontend() {
    let svc = service(TrafficPolicy::Cluster, TrafficPolicy::Cluster);
    // Only an IPv6 endpoint: IPv4 has none.
    let eps = [endpoint("fd00:244::5", false)];
    let p = PortPolicy::new(&svc, &eps, &node(), IpFamily::V4).expect("a cluster IP");
    assert_eq!(p.cluster_ip, ip("10.96.0.10"));
    assert_eq!(p.endpoints().count(), 0);
    assert!(!p.has_endpoints && !p.has_internal && !p.uses_external);
    assert_eq!(p.filter(p.has_internal), Some(NoEndpoints::Reject));
    assert_eq!(p.filter(p.has_external), Some(NoEndpoints::Reject));
    assert_eq!(NoEndpoints::Reject.reason(), "has no endpoints");
}

#[test]
fn etp_local_with_only_remote_endpoints_drops_external_traffic() {
    let svc = service(TrafficPolicy::Cluster, TrafficPolicy::Local);
    let eps = [
        endpoint("10.244.1.5", false),
        endpoint("fd00:244::5", false),
    ];
    let p = PortPolicy::new(&svc, &eps, &node(), IpFamily::V4).expect("a cluster IP");
    assert_eq!(ips(&p.cluster), vec![ip("10.244.1.5")]);
    assert!(p.local.is_empty());
    assert_eq!(ips(p.internal()), vec![ip("10.244.1.5")]);
    assert!(p.external_local && p.uses_external);
    assert_eq!(p.filter(p.has_internal), None);
    assert_eq!(p.filter(p.has_external), Some(NoEndpoints::Drop));
    assert_eq!(NoEndpoints::Drop.reason(), "has no local endpoints");
}

#[test]
fn itp_local_uses_the_local_endpoints() {
    let svc = service(TrafficPolicy::Local, TrafficPolicy::Cluster);
    let remote = [endpoint("10.244.1.5", false)];
    let p = PortPolicy::new(&svc, &remote, &node(), IpFamily::V4).expect("a cluster IP");
    assert!(p.internal_local && p.internal().is_empty());
    assert_eq!(p.filter(p.has_internal), Some(NoEndpoints::Drop));
    // External traffic still goes cluster-wide with ETP Cluster.
    assert_eq!(p.filter(p.has_external), None);
    let both = [endpoint("10.244.1.5", false), endpoint("10.244.0.5", true)];
    let p = PortPolicy::new(&svc, &both, &node(), IpFamily::V4).expect("a cluster IP");
    assert_eq!(ips(p.internal()), vec![ip("10.244.0.5")]);
    assert_eq!(
        ips(&p.all_reachable),
        vec![ip("10.244.1.5"), ip("10.244.0.5")]
    );
    assert_eq!(p.filter(p.has_internal), None);
}

#[test]
fn affinity_needs_a_positive_timeout() {
    let mut svc = service(TrafficPolicy::Cluster, TrafficPolicy::Cluster);
    let eps = [endpoint("10.244.1.5", false)];
    let affinity = |svc: &ServicePort| {
        PortPolicy::new(svc, &eps, &node(), IpFamily::V4)
            .expect("a cluster IP")
            .affinity
    };
    assert_eq!(affinity(&svc), None);
    svc.session_affinity = Some(SessionAffinity { timeout_seconds: 0 });
    assert_eq!(affinity(&svc), None);
    svc.session_affinity = Some(SessionAffinity {
        timeout_seconds: 60,
    });
    assert_eq!(affinity(&svc), Some(60));
}

#[test]
fn no_cluster_ip_in_the_family_is_no_policy() {
    let name = ServicePortName::new("ns", "v4", "", Protocol::Udp);
    let svc = ServicePort::new(name, ip("10.96.0.11"), 53);
    let eps = [endpoint("fd00:244::5", false)];
    assert!(PortPolicy::new(&svc, &eps, &node(), IpFamily::V6).is_none());
    let p = PortPolicy::new(&svc, &eps, &node(), IpFamily::V4).expect("a cluster IP");
    assert!(!p.has_endpoints);
}

#[test]
fn for_node_fills_node_ips_and_takes_pod_cidrs_by_node_cidr() {
    let mut node = NodeInfo::new("node-a");
    node.ips = vec![ip("192.168.0.9")];
    node.pod_cidrs = nets(&["10.244.7.0/24"]);
    let unset = NodeConfig {
        node_ips: Vec::new(),
        ..dual()
    };
    // ClusterCIDR: the configured pod network stays; missing node IPs come from the node.
    let by_cluster = unset.for_node(&node);
    assert_eq!(by_cluster.node_ips, node.ips);
    assert_eq!(by_cluster.cluster_cidrs, dual().cluster_cidrs);
    // Configured node IPs win; NodeCIDR takes the node's pod CIDRs (none yet: none).
    let by_node = NodeConfig {
        detect_local: LocalDetection::NodeCidr,
        ..dual()
    };
    assert_eq!(by_node.for_node(&node).node_ips, dual().node_ips);
    assert_eq!(by_node.for_node(&node).cluster_cidrs, node.pod_cidrs);
    assert!(
        by_node
            .for_node(&NodeInfo::new("node-a"))
            .cluster_cidrs
            .is_empty()
    );
    assert_eq!("NodeCIDR".parse(), Ok(LocalDetection::NodeCidr));
    assert!("nodecidr".parse::<LocalDetection>().is_err());
}
