//! Tests of `proxy_core::convert`.
//!
//! Every malformed object is converted in a batch with a valid neighbour, checking (a) that each
//! warning names the object and the exact field, (b) exactly what of the object survives, and
//! (c) that the neighbour still converts, untouched and without warnings.

use std::net::IpAddr;

use ipnet::IpNet;
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use proxy_core::convert::{self, SliceInfo};
use proxy_core::model::{
    DEFAULT_AFFINITY_TIMEOUT_SECONDS, Endpoint, IpFamily, NodeInfo, Protocol, ServiceKey,
    ServicePort, ServicePortName, SessionAffinity, SourceRanges, TrafficDistribution,
    TrafficPolicy,
};
use proxy_core::{Dropped, Error, ObjectKind, ObjectRef};
use serde_json::{Value, json};

const NODE: &str = "node-a";

// ---------------------------------------------------------------------------------------------
// Fixtures and helpers
// ---------------------------------------------------------------------------------------------

fn from_json<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("test fixture is a valid object")
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test IP")
}

fn net(s: &str) -> IpNet {
    s.parse().expect("test CIDR")
}

/// What a warning says, minus the prose: (object, field, what was dropped).
type Said = (ObjectRef, String, Dropped);

fn said(warnings: &[Error]) -> Vec<Said> {
    warnings
        .iter()
        .map(|w| match w {
            Error::Invalid {
                object,
                field,
                dropped,
                ..
            } => (object.clone(), field.clone(), *dropped),
            other => panic!("unexpected error {other}"),
        })
        .collect()
}

fn entry(object: &ObjectRef, field: &str) -> Said {
    (object.clone(), field.to_owned(), Dropped::Entry)
}

fn object(object: &ObjectRef, field: &str) -> Said {
    (object.clone(), field.to_owned(), Dropped::Object)
}

/// The reason given for the only warning.
fn only_reason(warnings: &[Error]) -> String {
    match warnings {
        [Error::Invalid { reason, .. }] => reason.clone(),
        other => panic!("expected one warning, got {other:?}"),
    }
}

// --- services ---

/// Service `shop/web` with `spec`.
fn web(spec: Value) -> Service {
    from_json(json!({"metadata": {"namespace": "shop", "name": "web"}, "spec": spec}))
}

fn web_ref() -> ObjectRef {
    ObjectRef::new(ObjectKind::Service, "shop", "web")
}

/// A port of `shop/web` with cluster IP 10.96.0.10 and nothing else.
fn web_port(name: &str, protocol: Protocol, port: u16) -> ServicePort {
    ServicePort::new(
        ServicePortName::new("shop", "web", name, protocol),
        ip("10.96.0.10"),
        port,
    )
}

/// The valid neighbour: `shop/cart`, one HTTPS port.
fn cart() -> Service {
    from_json(json!({
        "metadata": {"namespace": "shop", "name": "cart"},
        "spec": {"clusterIP": "10.96.0.20", "clusterIPs": ["10.96.0.20"],
                 "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}
    }))
}

fn cart_ports() -> Vec<ServicePort> {
    vec![ServicePort::new(
        ServicePortName::new("shop", "cart", "https", Protocol::Tcp),
        ip("10.96.0.20"),
        443,
    )]
}

/// Converts `[bad, cart]` as one batch; checks that the cart converted untouched and returns
/// what is left of `bad` and every warning of the batch.
fn with_cart(bad: Service) -> (Vec<ServicePort>, Vec<Error>) {
    let mut ports = Vec::new();
    let mut warnings = Vec::new();
    for svc in [bad, cart()] {
        let conv = convert::service(&svc);
        ports.extend(conv.value);
        warnings.extend(conv.warnings);
    }
    let split = ports.len() - cart_ports().len();
    assert_eq!(
        ports[split..],
        cart_ports()[..],
        "the valid neighbour converts"
    );
    ports.truncate(split);
    (ports, warnings)
}

/// Converts one service that must convert cleanly.
fn clean(svc: Service) -> Vec<ServicePort> {
    let conv = convert::service(&svc);
    assert_eq!(said(&conv.warnings), vec![], "no warnings");
    conv.value
}

// --- endpoint slices ---

/// IPv4 slice `shop/web-abc12` of service `web` with `endpoints` and `ports`.
fn web_slice(endpoints: Value, ports: Value) -> EndpointSlice {
    from_json(json!({
        "metadata": {"namespace": "shop", "name": "web-abc12",
                     "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": ports
    }))
}

fn slice_ref() -> ObjectRef {
    ObjectRef::new(ObjectKind::EndpointSlice, "shop", "web-abc12")
}

fn http(name: &str) -> ServicePortName {
    ServicePortName::new("shop", "web", name, Protocol::Tcp)
}

/// The valid neighbour slice: `shop/cart-xyz`, one endpoint on port 8443.
fn cart_slice() -> EndpointSlice {
    from_json(json!({
        "metadata": {"namespace": "shop", "name": "cart-xyz",
                     "labels": {"kubernetes.io/service-name": "cart"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.0.1.1"]}],
        "ports": [{"name": "https", "port": 8443, "protocol": "TCP"}]
    }))
}

fn cart_slice_info() -> SliceInfo {
    SliceInfo {
        service: ServiceKey::new("shop", "cart"),
        family: IpFamily::V4,
        ports: vec![(
            ServicePortName::new("shop", "cart", "https", Protocol::Tcp),
            vec![Endpoint::new(ip("10.0.1.1"), 8443)],
        )],
    }
}

/// Converts `[bad, cart_slice]` as one batch; checks the neighbour and returns what is left of
/// `bad` and every warning.
fn slice_with_cart(bad: EndpointSlice) -> (Option<SliceInfo>, Vec<Error>) {
    let bad = convert::endpoint_slice(&bad, NODE);
    let good = convert::endpoint_slice(&cart_slice(), NODE);
    assert_eq!(
        good.value,
        Some(cart_slice_info()),
        "the valid neighbour converts"
    );
    assert_eq!(said(&good.warnings), vec![]);
    (bad.value, bad.warnings)
}

// --- nodes ---

fn node(v: Value) -> Node {
    from_json(v)
}

fn addresses(list: &[(&str, &str)]) -> Value {
    list.iter()
        .map(|(t, a)| json!({"type": t, "address": a}))
        .collect()
}

/// Converts `[bad, node-b]`; checks node-b and returns what is left of `bad` and its warnings.
fn node_with_neighbour(bad: Node) -> (Option<NodeInfo>, Vec<Error>) {
    let good = convert::node(&node(json!({
        "metadata": {"name": "node-b"},
        "status": {"addresses": addresses(&[("InternalIP", "10.1.0.2")])}
    })));
    let bad = convert::node(&bad);
    let mut expected = NodeInfo::new("node-b");
    expected.ips = vec![ip("10.1.0.2")];
    assert_eq!(good.value, Some(expected), "the valid neighbour converts");
    assert_eq!(said(&good.warnings), vec![]);
    (bad.value, bad.warnings)
}

// ---------------------------------------------------------------------------------------------
// Services: the rules
// ---------------------------------------------------------------------------------------------

#[test]
fn a_full_service_yields_one_service_port_per_port_sharing_the_service_fields() {
    let svc = from_json::<Service>(json!({
        "metadata": {"namespace": "shop", "name": "web"},
        "spec": {
            "type": "LoadBalancer",
            "clusterIP": "fd00::10",
            "clusterIPs": ["fd00::10", "10.96.0.10"],
            "ipFamilies": ["IPv6", "IPv4"],
            "ports": [
                {"name": "http", "port": 80, "nodePort": 30080},
                {"name": "dns", "port": 53, "protocol": "UDP", "nodePort": 30053}
            ],
            "externalIPs": ["192.0.2.1", "2001:db8::1"],
            "loadBalancerSourceRanges": ["203.0.113.0/24", " 2001:db8:1::/48 "],
            "sessionAffinity": "ClientIP",
            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 600}},
            "externalTrafficPolicy": "Local",
            "healthCheckNodePort": 32000,
            "internalTrafficPolicy": "Local",
            "trafficDistribution": "PreferClose"
        },
        "status": {"loadBalancer": {"ingress": [
            {"ip": "198.51.100.7"},
            {"hostname": "lb.example.com"},
            {"ip": "198.51.100.8", "ipMode": "Proxy"},
            {"ip": "198.51.100.9", "ipMode": "VIP"}
        ]}}
    }));
    let shared = ServicePort {
        name: http("http"),
        cluster_ips: vec![ip("fd00::10"), ip("10.96.0.10")],
        port: 80,
        node_port: Some(30080),
        external_ips: vec![ip("192.0.2.1"), ip("2001:db8::1")],
        load_balancer_ips: vec![ip("198.51.100.7"), ip("198.51.100.9")],
        source_ranges: SourceRanges::Only(vec![net("203.0.113.0/24"), net("2001:db8:1::/48")]),
        session_affinity: Some(SessionAffinity {
            timeout_seconds: 600,
        }),
        external_traffic_policy: TrafficPolicy::Local,
        internal_traffic_policy: TrafficPolicy::Local,
        health_check_node_port: Some(32000),
        traffic_distribution: Some(TrafficDistribution::PreferClose),
    };
    let dns = ServicePort {
        name: ServicePortName::new("shop", "web", "dns", Protocol::Udp),
        port: 53,
        node_port: Some(30053),
        ..shared.clone()
    };
    assert_eq!(clean(svc), vec![shared, dns]);
}

#[test]
fn an_unnamed_port_without_protocol_is_tcp_with_an_empty_name() {
    let ports = clean(web(
        json!({"clusterIP": "10.96.0.10", "ports": [{"port": 8080}]}),
    ));
    assert_eq!(ports, vec![web_port("", Protocol::Tcp, 8080)]);
}

#[test]
fn sctp_and_udp_ports_keep_their_protocol() {
    let ports = clean(web(json!({"clusterIP": "10.96.0.10", "ports": [
        {"name": "a", "port": 1, "protocol": "SCTP"},
        {"name": "a", "port": 1, "protocol": "UDP"}
    ]})));
    assert_eq!(
        ports,
        vec![
            web_port("a", Protocol::Sctp, 1),
            web_port("a", Protocol::Udp, 1)
        ]
    );
}

#[test]
fn external_name_services_are_ignored_silently() {
    let conv = convert::service(&web(json!({
        "type": "ExternalName", "externalName": "db.example.com",
        "clusterIP": "10.96.0.10", "ports": [{"port": 80}]
    })));
    assert_eq!(conv.value, vec![]);
    assert_eq!(said(&conv.warnings), vec![]);
}

#[test]
fn headless_services_and_services_without_cluster_ip_are_ignored_silently() {
    for spec in [
        json!({"clusterIP": "None", "ports": [{"port": 80}]}),
        json!({"clusterIP": "None", "clusterIPs": ["None"], "ports": [{"port": 80}]}),
        json!({"clusterIP": "", "ports": [{"port": 80}]}),
        json!({"ports": [{"port": 80}]}),
    ] {
        let conv = convert::service(&web(spec.clone()));
        assert_eq!(conv.value, vec![], "{spec}");
        assert_eq!(said(&conv.warnings), vec![], "{spec}");
    }
    let no_spec: Service = from_json(json!({"metadata": {"namespace": "shop", "name": "web"}}));
    let conv = convert::service(&no_spec);
    assert_eq!((conv.value, said(&conv.warnings)), (vec![], vec![]));
}

#[test]
fn services_labelled_for_another_proxy_are_ignored_silently() {
    let svc: Service = from_json(json!({
        "metadata": {"namespace": "shop", "name": "web",
                     "labels": {"service.kubernetes.io/service-proxy-name": "other"}},
        "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 80}]}
    }));
    let conv = convert::service(&svc);
    assert_eq!((conv.value, said(&conv.warnings)), (vec![], vec![]));
}

#[test]
fn a_service_with_no_ports_yields_nothing_and_no_warning() {
    for spec in [
        json!({"clusterIP": "10.96.0.10"}),
        json!({"clusterIP": "10.96.0.10", "ports": []}),
    ] {
        let conv = convert::service(&web(spec));
        assert_eq!((conv.value, said(&conv.warnings)), (vec![], vec![]));
    }
}

#[test]
fn cluster_ips_fall_back_to_spec_cluster_ip() {
    let ports = clean(web(
        json!({"clusterIP": "10.96.0.10", "ports": [{"port": 80}]}),
    ));
    assert_eq!(ports[0].cluster_ips, vec![ip("10.96.0.10")]);
}

#[test]
fn cluster_ips_keep_the_primary_family_first() {
    let ports = clean(web(json!({
        "clusterIP": "fd00::10", "clusterIPs": ["fd00::10", "10.96.0.10"],
        "ports": [{"port": 80}]
    })));
    assert_eq!(ports[0].cluster_ips, vec![ip("fd00::10"), ip("10.96.0.10")]);
    assert_eq!(ports[0].cluster_ip(IpFamily::V4), Some(ip("10.96.0.10")));
}

#[test]
fn a_service_with_only_cluster_ips_uses_them() {
    let ports = clean(web(
        json!({"clusterIPs": ["10.96.0.10"], "ports": [{"port": 80}]}),
    ));
    assert_eq!(ports, vec![web_port("", Protocol::Tcp, 80)]);
}

#[test]
fn legacy_ipv4_addresses_with_leading_zeros_are_read_as_decimal_like_upstream() {
    let ports = clean(web(json!({
        "clusterIP": "010.096.000.010",
        "externalIPs": ["::ffff:192.0.2.1"],
        "ports": [{"port": 80}]
    })));
    assert_eq!(ports[0].cluster_ips, vec![ip("10.96.0.10")]);
    assert_eq!(
        ports[0].external_ips,
        vec![ip("192.0.2.1")],
        "IPv4-mapped is IPv4"
    );
}

#[test]
fn node_port_zero_or_absent_means_no_node_port() {
    let ports = clean(web(json!({"clusterIP": "10.96.0.10", "ports": [
        {"name": "a", "port": 80, "nodePort": 0},
        {"name": "b", "port": 81}
    ]})));
    assert_eq!(ports[0].node_port, None);
    assert_eq!(ports[1].node_port, None);
}

#[test]
fn client_ip_affinity_defaults_its_timeout() {
    let ports = clean(web(json!({
        "clusterIP": "10.96.0.10", "sessionAffinity": "ClientIP", "ports": [{"port": 80}]
    })));
    assert_eq!(
        ports[0].session_affinity,
        Some(SessionAffinity {
            timeout_seconds: DEFAULT_AFFINITY_TIMEOUT_SECONDS
        })
    );
    let none = clean(web(json!({
        "clusterIP": "10.96.0.10", "sessionAffinity": "None", "ports": [{"port": 80}]
    })));
    assert_eq!(none[0].session_affinity, None);
}

#[test]
fn the_longest_affinity_timeout_is_one_day() {
    let ports = clean(web(json!({
        "clusterIP": "10.96.0.10", "sessionAffinity": "ClientIP",
        "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 86400}},
        "ports": [{"port": 80}]
    })));
    assert_eq!(
        ports[0].session_affinity.map(|a| a.timeout_seconds),
        Some(86_400)
    );
}

#[test]
fn traffic_policies_map_cluster_local_and_unset() {
    let policies = |etp: Value, itp: Value| {
        let ports = clean(web(json!({
            "type": "NodePort", "clusterIP": "10.96.0.10",
            "externalTrafficPolicy": etp, "internalTrafficPolicy": itp,
            "ports": [{"port": 80, "nodePort": 30080}]
        })));
        (
            ports[0].external_traffic_policy,
            ports[0].internal_traffic_policy,
        )
    };
    use TrafficPolicy::{Cluster, Local};
    assert_eq!(policies(json!("Local"), json!("Local")), (Local, Local));
    assert_eq!(
        policies(json!("Cluster"), json!("Cluster")),
        (Cluster, Cluster)
    );
    assert_eq!(policies(Value::Null, Value::Null), (Cluster, Cluster));
}

#[test]
fn external_traffic_policy_local_only_applies_to_externally_reachable_services() {
    let cluster_ip_only = clean(web(json!({
        "clusterIP": "10.96.0.10", "externalTrafficPolicy": "Local", "ports": [{"port": 80}]
    })));
    assert_eq!(
        cluster_ip_only[0].external_traffic_policy,
        TrafficPolicy::Cluster
    );
    let with_external_ip = clean(web(json!({
        "clusterIP": "10.96.0.10", "externalTrafficPolicy": "Local",
        "externalIPs": ["192.0.2.1"], "ports": [{"port": 80}]
    })));
    assert_eq!(
        with_external_ip[0].external_traffic_policy,
        TrafficPolicy::Local
    );
}

#[test]
fn health_check_node_port_is_only_kept_for_local_load_balancers() {
    let hcnp = |kind: &str, etp: &str| {
        clean(web(json!({
            "type": kind, "clusterIP": "10.96.0.10", "externalTrafficPolicy": etp,
            "healthCheckNodePort": 32000, "ports": [{"port": 80, "nodePort": 30080}]
        })))[0]
            .health_check_node_port
    };
    assert_eq!(hcnp("LoadBalancer", "Local"), Some(32000));
    assert_eq!(hcnp("LoadBalancer", "Cluster"), None);
    assert_eq!(hcnp("NodePort", "Local"), None);
}

#[test]
fn traffic_distribution_values_are_mapped_and_unknown_ones_kept() {
    let td = |value: &str| {
        clean(web(json!({
            "clusterIP": "10.96.0.10", "trafficDistribution": value, "ports": [{"port": 80}]
        })))[0]
            .traffic_distribution
            .clone()
    };
    assert_eq!(td("PreferClose"), Some(TrafficDistribution::PreferClose));
    assert_eq!(
        td("PreferSameZone"),
        Some(TrafficDistribution::PreferSameZone)
    );
    assert_eq!(
        td("PreferSameNode"),
        Some(TrafficDistribution::PreferSameNode)
    );
    assert_eq!(
        td("PreferMoon"),
        Some(TrafficDistribution::Other("PreferMoon".into()))
    );
    assert_eq!(td(""), None);
}

#[test]
fn no_source_ranges_allow_every_source() {
    for ranges in [Value::Null, json!([])] {
        let ports = clean(web(json!({
            "clusterIP": "10.96.0.10", "loadBalancerSourceRanges": ranges,
            "ports": [{"port": 80}]
        })));
        assert_eq!(ports[0].source_ranges, SourceRanges::Any);
    }
}

#[test]
fn source_ranges_are_trimmed_and_their_host_bits_cleared() {
    let ports = clean(web(json!({
        "clusterIP": "10.96.0.10",
        "loadBalancerSourceRanges": ["  10.1.2.3/8", "2001:db8::1/32\t"],
        "ports": [{"port": 80}]
    })));
    assert_eq!(
        ports[0].source_ranges,
        SourceRanges::Only(vec![net("10.0.0.0/8"), net("2001:db8::/32")])
    );
}

// ---------------------------------------------------------------------------------------------
// Services: malformed objects
// ---------------------------------------------------------------------------------------------

#[test]
fn invalid_cluster_ip_entry_is_dropped_and_the_rest_kept() {
    let (ports, warnings) = with_cart(web(json!({
        "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10", "fd00::zz"],
        "ports": [{"port": 80}]
    })));
    assert_eq!(
        said(&warnings),
        vec![entry(&web_ref(), "spec.clusterIPs[1]")]
    );
    assert_eq!(ports, vec![web_port("", Protocol::Tcp, 80)]);
}

#[test]
fn a_second_cluster_ip_of_the_same_family_is_dropped() {
    let (ports, warnings) = with_cart(web(json!({
        "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10", "10.96.0.11"],
        "ports": [{"port": 80}]
    })));
    assert_eq!(
        said(&warnings),
        vec![entry(&web_ref(), "spec.clusterIPs[1]")]
    );
    assert!(only_reason(&warnings).contains("wrong family"));
    assert_eq!(ports, vec![web_port("", Protocol::Tcp, 80)]);
}

#[test]
fn a_cluster_ip_whose_family_differs_from_ip_families_is_dropped() {
    let (ports, warnings) = with_cart(web(json!({
        "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10", "fd00::10"],
        "ipFamilies": ["IPv4", "IPv4"],
        "ports": [{"port": 80}]
    })));
    assert_eq!(
        said(&warnings),
        vec![entry(&web_ref(), "spec.clusterIPs[1]")]
    );
    assert_eq!(ports, vec![web_port("", Protocol::Tcp, 80)]);
}

#[test]
fn a_cluster_ip_disagreeing_with_cluster_ips_is_ignored_for_cluster_ips() {
    let (ports, warnings) = with_cart(web(json!({
        "clusterIP": "10.96.0.99", "clusterIPs": ["10.96.0.10"], "ports": [{"port": 80}]
    })));
    assert_eq!(said(&warnings), vec![entry(&web_ref(), "spec.clusterIP")]);
    assert_eq!(ports, vec![web_port("", Protocol::Tcp, 80)]);
}

#[test]
fn a_service_without_a_valid_cluster_ip_is_skipped() {
    let (ports, warnings) = with_cart(web(json!({
        "clusterIP": "10.96.0.300", "ports": [{"port": 80}]
    })));
    assert_eq!(
        said(&warnings),
        vec![
            entry(&web_ref(), "spec.clusterIP"),
            object(&web_ref(), "spec.clusterIP")
        ]
    );
    assert_eq!(ports, vec![]);
}

#[test]
fn a_port_out_of_range_is_dropped_and_the_other_ports_kept() {
    let (ports, warnings) = with_cart(web(json!({"clusterIP": "10.96.0.10", "ports": [
        {"name": "a", "port": 80},
        {"name": "b", "port": 70000},
        {"name": "c", "port": -1},
        {"name": "d", "port": 0},
        {"name": "e", "port": 2147483647},
        {"name": "f", "port": 65535}
    ]})));
    assert_eq!(
        said(&warnings),
        vec![
            entry(&web_ref(), "spec.ports[1].port"),
            entry(&web_ref(), "spec.ports[2].port"),
            entry(&web_ref(), "spec.ports[3].port"),
            entry(&web_ref(), "spec.ports[4].port"),
        ]
    );
    assert_eq!(
        ports,
        vec![
            web_port("a", Protocol::Tcp, 80),
            web_port("f", Protocol::Tcp, 65535)
        ]
    );
}

#[test]
fn an_unknown_protocol_drops_only_that_port() {
    let (ports, warnings) = with_cart(web(json!({"clusterIP": "10.96.0.10", "ports": [
        {"name": "a", "port": 80, "protocol": "tcp"},
        {"name": "b", "port": 81, "protocol": "UDP"}
    ]})));
    assert_eq!(
        said(&warnings),
        vec![entry(&web_ref(), "spec.ports[0].protocol")]
    );
    assert_eq!(ports, vec![web_port("b", Protocol::Udp, 81)]);
}

#[test]
fn an_invalid_node_port_is_dropped_but_its_port_kept() {
    let (ports, warnings) = with_cart(web(json!({"type": "NodePort", "clusterIP": "10.96.0.10",
    "ports": [
        {"name": "a", "port": 80, "nodePort": 99999},
        {"name": "b", "port": 81, "nodePort": -30000},
        {"name": "c", "port": 82, "nodePort": 30082}
    ]})));
    assert_eq!(
        said(&warnings),
        vec![
            entry(&web_ref(), "spec.ports[0].nodePort"),
            entry(&web_ref(), "spec.ports[1].nodePort"),
        ]
    );
    let c = ServicePort {
        node_port: Some(30082),
        ..web_port("c", Protocol::Tcp, 82)
    };
    assert_eq!(
        ports,
        vec![
            web_port("a", Protocol::Tcp, 80),
            web_port("b", Protocol::Tcp, 81),
            c
        ]
    );
}

#[test]
fn a_duplicate_port_name_and_protocol_drops_the_later_port() {
    let (ports, warnings) = with_cart(web(json!({"clusterIP": "10.96.0.10", "ports": [
        {"name": "http", "port": 80},
        {"name": "http", "port": 8080, "protocol": "TCP"},
        {"name": "http", "port": 80, "protocol": "UDP"}
    ]})));
    assert_eq!(
        said(&warnings),
        vec![entry(&web_ref(), "spec.ports[1].name")]
    );
    assert_eq!(
        ports,
        vec![
            web_port("http", Protocol::Tcp, 80),
            web_port("http", Protocol::Udp, 80)
        ]
    );
}

#[test]
fn a_service_whose_every_port_is_invalid_is_skipped() {
    let (ports, warnings) = with_cart(web(json!({"clusterIP": "10.96.0.10", "ports": [
        {"name": "a", "port": -5},
        {"name": "b", "port": 80, "protocol": "ICMP"}
    ]})));
    assert_eq!(
        said(&warnings),
        vec![
            entry(&web_ref(), "spec.ports[0].port"),
            entry(&web_ref(), "spec.ports[1].protocol"),
            object(&web_ref(), "spec.ports"),
        ]
    );
    assert_eq!(ports, vec![]);
}

#[test]
fn invalid_external_ip_is_dropped_and_the_rest_kept() {
    let (ports, warnings) = with_cart(web(json!({
        "clusterIP": "10.96.0.10",
        "externalIPs": ["192.0.2.1", "192.0.2.256", "", "2001:db8::1"],
        "ports": [{"port": 80}]
    })));
    assert_eq!(
        said(&warnings),
        vec![
            entry(&web_ref(), "spec.externalIPs[1]"),
            entry(&web_ref(), "spec.externalIPs[2]"),
        ]
    );
    let expected = ServicePort {
        external_ips: vec![ip("192.0.2.1"), ip("2001:db8::1")],
        ..web_port("", Protocol::Tcp, 80)
    };
    assert_eq!(ports, vec![expected]);
}

#[test]
fn invalid_load_balancer_ingress_ip_is_dropped_and_the_rest_kept() {
    let mut svc = web(json!({"type": "LoadBalancer", "clusterIP": "10.96.0.10",
                            "ports": [{"port": 80, "nodePort": 30080}]}));
    svc.status = from_json(json!({"loadBalancer": {"ingress": [
        {"ip": "lb.example.com"},
        {"hostname": "lb.example.com"},
        {"ip": "198.51.100.8", "ipMode": "Proxy"},
        {"ip": "198.51.100.9", "ipMode": "Tunnel"},
        {"ip": "198.51.100.7"}
    ]}}));
    let (ports, warnings) = with_cart(svc);
    assert_eq!(
        said(&warnings),
        vec![
            entry(&web_ref(), "status.loadBalancer.ingress[0].ip"),
            entry(&web_ref(), "status.loadBalancer.ingress[3].ipMode"),
        ]
    );
    let expected = ServicePort {
        node_port: Some(30080),
        load_balancer_ips: vec![ip("198.51.100.7")],
        ..web_port("", Protocol::Tcp, 80)
    };
    assert_eq!(ports, vec![expected]);
}

#[test]
fn invalid_source_range_is_dropped_and_the_rest_kept() {
    let (ports, warnings) = with_cart(web(json!({
        "clusterIP": "10.96.0.10",
        "loadBalancerSourceRanges": ["10.0.0.0/8", "10.0.0.0/33", "192.0.2.1", "fd00::/8"],
        "ports": [{"port": 80}]
    })));
    assert_eq!(
        said(&warnings),
        vec![
            entry(&web_ref(), "spec.loadBalancerSourceRanges[1]"),
            entry(&web_ref(), "spec.loadBalancerSourceRanges[2]"),
        ]
    );
    let expected = ServicePort {
        source_ranges: SourceRanges::Only(vec![net("10.0.0.0/8"), net("fd00::/8")]),
        ..web_port("", Protocol::Tcp, 80)
    };
    assert_eq!(ports, vec![expected]);
}

#[test]
fn source_ranges_that_are_all_invalid_fail_closed() {
    let (ports, warnings) = with_cart(web(json!({
        "clusterIP": "10.96.0.10",
        "loadBalancerSourceRanges": ["everyone", "10.0.0.0/"],
        "ports": [{"port": 80}]
    })));
    assert_eq!(
        said(&warnings),
        vec![
            entry(&web_ref(), "spec.loadBalancerSourceRanges[0]"),
            entry(&web_ref(), "spec.loadBalancerSourceRanges[1]"),
            (
                web_ref(),
                "spec.loadBalancerSourceRanges".to_owned(),
                Dropped::FailedClosed
            ),
        ]
    );
    let expected = ServicePort {
        source_ranges: SourceRanges::Only(vec![]),
        ..web_port("", Protocol::Tcp, 80)
    };
    assert_eq!(ports, vec![expected]);
    assert_eq!(
        ports[0].source_ranges.for_family(IpFamily::V4),
        Some(vec![])
    );
}

#[test]
fn an_invalid_service_name_skips_the_service() {
    let long = "a".repeat(64);
    for (name, shown) in [
        (json!("Web_Server"), "Web_Server".to_owned()),
        (json!(long), long.clone()),
        (json!("-web"), "-web".to_owned()),
        (Value::Null, String::new()),
    ] {
        let svc: Service = from_json(json!({
            "metadata": {"namespace": "shop", "name": name},
            "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 80}]}
        }));
        let (ports, warnings) = with_cart(svc);
        let obj = ObjectRef::new(ObjectKind::Service, "shop", shown);
        assert_eq!(
            said(&warnings),
            vec![object(&obj, "metadata.name")],
            "{name}"
        );
        assert_eq!(ports, vec![]);
    }
}

#[test]
fn a_huge_or_odd_name_is_shortened_and_escaped_in_the_warning() {
    let huge = "x".repeat(100_000);
    let svc: Service = from_json(json!({
        "metadata": {"namespace": "shop\nFAKE LOG LINE", "name": huge},
        "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 80}]}
    }));
    let (ports, warnings) = with_cart(svc);
    let [Error::Invalid { object, field, .. }] = &warnings[..] else {
        panic!("expected one warning, got {warnings:?}");
    };
    assert_eq!(field, "metadata.namespace");
    assert_eq!(object.namespace, "shop\\nFAKE LOG LINE");
    assert!(
        object.name.len() < 300,
        "name cut: {} bytes",
        object.name.len()
    );
    assert!(warnings[0].to_string().len() < 1000);
    assert_eq!(ports, vec![]);
}

#[test]
fn a_missing_namespace_skips_the_service() {
    let svc: Service = from_json(json!({
        "metadata": {"name": "web"},
        "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 80}]}
    }));
    let (ports, warnings) = with_cart(svc);
    let obj = ObjectRef::new(ObjectKind::Service, "", "web");
    assert_eq!(said(&warnings), vec![object(&obj, "metadata.namespace")]);
    assert_eq!(ports, vec![]);
}

#[test]
fn an_invalid_affinity_timeout_falls_back_to_the_default() {
    for timeout in [0, -1, 86_401, i32::MAX] {
        let (ports, warnings) = with_cart(web(json!({
            "clusterIP": "10.96.0.10", "sessionAffinity": "ClientIP",
            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": timeout}},
            "ports": [{"port": 80}]
        })));
        assert_eq!(
            said(&warnings),
            vec![entry(
                &web_ref(),
                "spec.sessionAffinityConfig.clientIP.timeoutSeconds"
            )]
        );
        let expected = ServicePort {
            session_affinity: Some(SessionAffinity {
                timeout_seconds: DEFAULT_AFFINITY_TIMEOUT_SECONDS,
            }),
            ..web_port("", Protocol::Tcp, 80)
        };
        assert_eq!(ports, vec![expected], "timeout {timeout}");
    }
}

#[test]
fn an_unknown_session_affinity_means_none() {
    let (ports, warnings) = with_cart(web(json!({
        "clusterIP": "10.96.0.10", "sessionAffinity": "Cookie", "ports": [{"port": 80}]
    })));
    assert_eq!(
        said(&warnings),
        vec![entry(&web_ref(), "spec.sessionAffinity")]
    );
    assert_eq!(ports, vec![web_port("", Protocol::Tcp, 80)]);
}

#[test]
fn an_unknown_traffic_policy_falls_back_to_cluster() {
    let (ports, warnings) = with_cart(web(json!({
        "type": "NodePort", "clusterIP": "10.96.0.10",
        "externalTrafficPolicy": "Global", "internalTrafficPolicy": "local",
        "ports": [{"port": 80, "nodePort": 30080}]
    })));
    assert_eq!(
        said(&warnings),
        vec![
            entry(&web_ref(), "spec.externalTrafficPolicy"),
            entry(&web_ref(), "spec.internalTrafficPolicy"),
        ]
    );
    let expected = ServicePort {
        node_port: Some(30080),
        ..web_port("", Protocol::Tcp, 80)
    };
    assert_eq!(ports, vec![expected]);
}

#[test]
fn an_invalid_health_check_node_port_is_dropped() {
    let (ports, warnings) = with_cart(web(json!({
        "type": "LoadBalancer", "clusterIP": "10.96.0.10",
        "externalTrafficPolicy": "Local", "healthCheckNodePort": 65536,
        "ports": [{"port": 80, "nodePort": 30080}]
    })));
    assert_eq!(
        said(&warnings),
        vec![entry(&web_ref(), "spec.healthCheckNodePort")]
    );
    let expected = ServicePort {
        node_port: Some(30080),
        external_traffic_policy: TrafficPolicy::Local,
        ..web_port("", Protocol::Tcp, 80)
    };
    assert_eq!(ports, vec![expected]);
}

#[test]
fn extreme_values_never_panic() {
    let numbers = [i32::MIN, -65536, -1, 0, 1, 65535, 65536, i32::MAX];
    let strings = [
        "",
        " ",
        "None",
        "::",
        "1.2.3.4/24",
        "999.1.1.1",
        "1.2.3",
        "1.2.3.4.5",
        "\u{0}",
        "fe80::1%eth0",
        "١.٢.٣.٤",
        "0x7f.1",
        "+1.2.3.4",
    ];
    let long = "9".repeat(10_000);
    for n in numbers {
        for s in strings.iter().copied().chain([long.as_str()]) {
            let svc = web(json!({
                "type": "LoadBalancer", "clusterIP": s, "clusterIPs": [s, s],
                "ipFamilies": [s], "externalIPs": [s], "loadBalancerSourceRanges": [s],
                "externalTrafficPolicy": "Local", "healthCheckNodePort": n,
                "sessionAffinity": "ClientIP",
                "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": n}},
                "ports": [{"name": s, "port": n, "nodePort": n, "protocol": s}]
            }));
            let conv = convert::service(&svc);
            assert!(said(&conv.warnings).iter().all(|(o, _, _)| *o == web_ref()));
            let slice = web_slice(
                json!([{"addresses": [s], "nodeName": s}]),
                json!([{"name": s, "port": n, "protocol": s}]),
            );
            let conv = convert::endpoint_slice(&slice, s);
            assert!(
                said(&conv.warnings)
                    .iter()
                    .all(|(o, _, _)| *o == slice_ref())
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// EndpointSlices: the rules
// ---------------------------------------------------------------------------------------------

#[test]
fn a_slice_yields_each_port_with_the_endpoints_in_slice_order() {
    let slice = web_slice(
        json!([
            {"addresses": ["10.0.0.2"], "nodeName": NODE, "zone": "z1",
             "conditions": {"ready": true, "serving": true, "terminating": false},
             "hints": {"forZones": [{"name": "z1"}, {"name": "z2"}],
                       "forNodes": [{"name": NODE}]}},
            {"addresses": ["10.0.0.1"], "nodeName": "node-b",
             "conditions": {"ready": false, "serving": true, "terminating": true}}
        ]),
        json!([
            {"name": "http", "port": 8080, "protocol": "TCP"},
            {"name": "dns", "port": 5353, "protocol": "UDP"}
        ]),
    );
    let conv = convert::endpoint_slice(&slice, NODE);
    assert_eq!(said(&conv.warnings), vec![]);
    let local = |port| Endpoint {
        is_local: true,
        node_name: Some(NODE.into()),
        zone: Some("z1".into()),
        zone_hints: ["z1".to_owned(), "z2".to_owned()].into(),
        node_hints: [NODE.to_owned()].into(),
        ..Endpoint::new(ip("10.0.0.2"), port)
    };
    let terminating = |port| Endpoint {
        ready: false,
        serving: true,
        terminating: true,
        node_name: Some("node-b".into()),
        ..Endpoint::new(ip("10.0.0.1"), port)
    };
    let expected = SliceInfo {
        service: ServiceKey::new("shop", "web"),
        family: IpFamily::V4,
        ports: vec![
            (http("http"), vec![local(8080), terminating(8080)]),
            (
                ServicePortName::new("shop", "web", "dns", Protocol::Udp),
                vec![local(5353), terminating(5353)],
            ),
        ],
    };
    assert_eq!(conv.value, Some(expected));
}

#[test]
fn unset_conditions_mean_ready_serving_and_not_terminating() {
    let slice = web_slice(
        json!([{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"], "conditions": {}}]),
        json!([{"port": 80}]),
    );
    let info = convert::endpoint_slice(&slice, NODE)
        .value
        .expect("converts");
    assert_eq!(
        info.ports,
        vec![(
            http(""),
            vec![
                Endpoint::new(ip("10.0.0.1"), 80),
                Endpoint::new(ip("10.0.0.2"), 80)
            ]
        )]
    );
}

#[test]
fn unset_serving_follows_ready() {
    let slice = web_slice(
        json!([{"addresses": ["10.0.0.1"], "conditions": {"ready": false}}]),
        json!([{"port": 80}]),
    );
    let info = convert::endpoint_slice(&slice, NODE)
        .value
        .expect("converts");
    let endpoint = &info.ports[0].1[0];
    assert_eq!((endpoint.ready, endpoint.serving), (false, false));
}

#[test]
fn only_the_first_address_of_an_endpoint_counts() {
    let slice = web_slice(
        json!([{"addresses": ["10.0.0.1", "not-an-ip", "10.0.0.9"]}]),
        json!([{"port": 80}]),
    );
    let conv = convert::endpoint_slice(&slice, NODE);
    assert_eq!(said(&conv.warnings), vec![]);
    let info = conv.value.expect("converts");
    assert_eq!(info.ports[0].1, vec![Endpoint::new(ip("10.0.0.1"), 80)]);
}

#[test]
fn endpoints_are_local_only_when_their_node_is_this_node() {
    let slice = web_slice(
        json!([{"addresses": ["10.0.0.1"], "nodeName": NODE},
               {"addresses": ["10.0.0.2"], "nodeName": "node-b"},
               {"addresses": ["10.0.0.3"]}]),
        json!([{"port": 80}]),
    );
    let locality = |node_name: &str| -> Vec<bool> {
        let info = convert::endpoint_slice(&slice, node_name)
            .value
            .expect("converts");
        info.ports[0].1.iter().map(|e| e.is_local).collect()
    };
    assert_eq!(locality(NODE), vec![true, false, false]);
    assert_eq!(locality(""), vec![false, false, false]);
}

#[test]
fn an_ipv6_slice_has_the_ipv6_family() {
    let slice: EndpointSlice = from_json(json!({
        "metadata": {"namespace": "shop", "name": "web-v6",
                     "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv6",
        "endpoints": [{"addresses": ["fd00::1"]}],
        "ports": [{"port": 80}]
    }));
    let conv = convert::endpoint_slice(&slice, NODE);
    assert_eq!(said(&conv.warnings), vec![]);
    let info = conv.value.expect("converts");
    assert_eq!(info.family, IpFamily::V6);
    assert_eq!(info.ports[0].1, vec![Endpoint::new(ip("fd00::1"), 80)]);
}

#[test]
fn a_slice_without_ports_or_endpoints_still_names_its_service() {
    let slice = web_slice(Value::Null, Value::Null);
    let conv = convert::endpoint_slice(&slice, NODE);
    assert_eq!(said(&conv.warnings), vec![]);
    let expected = SliceInfo {
        service: ServiceKey::new("shop", "web"),
        family: IpFamily::V4,
        ports: vec![],
    };
    assert_eq!(conv.value, Some(expected));
}

#[test]
fn fqdn_headless_and_other_proxy_slices_are_ignored_silently() {
    let fqdn: EndpointSlice = from_json(json!({
        "metadata": {"namespace": "shop", "name": "web-fqdn",
                     "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "FQDN",
        "endpoints": [{"addresses": ["db.example.com"]}],
        "ports": [{"port": 80}]
    }));
    let labelled = |label: &str| -> EndpointSlice {
        from_json(json!({
            "metadata": {"namespace": "shop", "name": "web-abc12",
                         "labels": {"kubernetes.io/service-name": "web", label: ""}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.0.1"]}],
            "ports": [{"port": 80}]
        }))
    };
    for slice in [
        fqdn,
        labelled("service.kubernetes.io/headless"),
        labelled("service.kubernetes.io/service-proxy-name"),
    ] {
        let conv = convert::endpoint_slice(&slice, NODE);
        assert_eq!((conv.value, said(&conv.warnings)), (None, vec![]));
    }
}

// ---------------------------------------------------------------------------------------------
// EndpointSlices: malformed objects
// ---------------------------------------------------------------------------------------------

#[test]
fn an_endpoint_with_an_invalid_address_is_dropped_and_the_rest_kept() {
    let (info, warnings) = slice_with_cart(web_slice(
        json!([{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.x"]}, {"addresses": ["10.0.0.3"]}]),
        json!([{"port": 80}]),
    ));
    assert_eq!(
        said(&warnings),
        vec![entry(&slice_ref(), "endpoints[1].addresses[0]")]
    );
    let info = info.expect("the slice is kept");
    assert_eq!(
        info.ports,
        vec![(
            http(""),
            vec![
                Endpoint::new(ip("10.0.0.1"), 80),
                Endpoint::new(ip("10.0.0.3"), 80)
            ]
        )]
    );
}

#[test]
fn an_endpoint_of_the_wrong_family_is_dropped() {
    let (info, warnings) = slice_with_cart(web_slice(
        json!([{"addresses": ["fd00::1"]}, {"addresses": ["10.0.0.2"]}]),
        json!([{"port": 80}]),
    ));
    assert_eq!(
        said(&warnings),
        vec![entry(&slice_ref(), "endpoints[0].addresses[0]")]
    );
    assert!(only_reason(&warnings).contains("wrong family"));
    let info = info.expect("the slice is kept");
    assert_eq!(
        info.ports,
        vec![(http(""), vec![Endpoint::new(ip("10.0.0.2"), 80)])]
    );
}

#[test]
fn an_endpoint_without_addresses_is_dropped() {
    let (info, warnings) = slice_with_cart(web_slice(
        json!([{"addresses": []}, {"addresses": ["10.0.0.2"]}]),
        json!([{"port": 80}]),
    ));
    assert_eq!(
        said(&warnings),
        vec![entry(&slice_ref(), "endpoints[0].addresses")]
    );
    let info = info.expect("the slice is kept");
    assert_eq!(
        info.ports,
        vec![(http(""), vec![Endpoint::new(ip("10.0.0.2"), 80)])]
    );
}

#[test]
fn a_slice_port_without_a_valid_number_is_dropped_and_the_other_ports_kept() {
    let (info, warnings) = slice_with_cart(web_slice(
        json!([{"addresses": ["10.0.0.1"]}]),
        json!([
            {"name": "a"},
            {"name": "b", "port": 0},
            {"name": "c", "port": 65536},
            {"name": "d", "port": -80},
            {"name": "e", "port": 8080}
        ]),
    ));
    assert_eq!(
        said(&warnings),
        vec![
            entry(&slice_ref(), "ports[0].port"),
            entry(&slice_ref(), "ports[1].port"),
            entry(&slice_ref(), "ports[2].port"),
            entry(&slice_ref(), "ports[3].port"),
        ]
    );
    let info = info.expect("the slice is kept");
    assert_eq!(
        info.ports,
        vec![(http("e"), vec![Endpoint::new(ip("10.0.0.1"), 8080)])]
    );
}

#[test]
fn a_slice_port_with_an_unknown_protocol_is_dropped() {
    let (info, warnings) = slice_with_cart(web_slice(
        json!([{"addresses": ["10.0.0.1"]}]),
        json!([{"name": "a", "port": 80, "protocol": "QUIC"}, {"name": "b", "port": 81}]),
    ));
    assert_eq!(
        said(&warnings),
        vec![entry(&slice_ref(), "ports[0].protocol")]
    );
    let info = info.expect("the slice is kept");
    assert_eq!(
        info.ports,
        vec![(http("b"), vec![Endpoint::new(ip("10.0.0.1"), 81)])]
    );
}

#[test]
fn a_duplicate_slice_port_is_dropped() {
    let (info, warnings) = slice_with_cart(web_slice(
        json!([{"addresses": ["10.0.0.1"]}]),
        json!([{"name": "a", "port": 80}, {"name": "a", "port": 81, "protocol": "TCP"}]),
    ));
    assert_eq!(said(&warnings), vec![entry(&slice_ref(), "ports[1].name")]);
    let info = info.expect("the slice is kept");
    assert_eq!(
        info.ports,
        vec![(http("a"), vec![Endpoint::new(ip("10.0.0.1"), 80)])]
    );
}

#[test]
fn a_slice_without_a_service_name_label_is_skipped() {
    for labels in [
        json!({}),
        json!({"kubernetes.io/service-name": ""}),
        json!({"kubernetes.io/service-name": "Not A Name"}),
    ] {
        let slice: EndpointSlice = from_json(json!({
            "metadata": {"namespace": "shop", "name": "web-abc12", "labels": labels},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.0.1"]}],
            "ports": [{"port": 80}]
        }));
        let (info, warnings) = slice_with_cart(slice);
        assert_eq!(
            said(&warnings),
            vec![object(
                &slice_ref(),
                "metadata.labels[kubernetes.io/service-name]"
            )],
            "{labels}"
        );
        assert_eq!(info, None);
    }
}

#[test]
fn a_slice_with_an_unknown_address_type_is_skipped() {
    let slice: EndpointSlice = from_json(json!({
        "metadata": {"namespace": "shop", "name": "web-abc12",
                     "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv5",
        "endpoints": [{"addresses": ["10.0.0.1"]}],
        "ports": [{"port": 80}]
    }));
    let (info, warnings) = slice_with_cart(slice);
    assert_eq!(said(&warnings), vec![object(&slice_ref(), "addressType")]);
    assert_eq!(info, None);
}

#[test]
fn a_slice_with_an_invalid_name_or_namespace_is_skipped() {
    for (namespace, name, field) in [
        ("shop", "Web..Slice", "metadata.name"),
        ("shop", "", "metadata.name"),
        ("Shop", "web-abc12", "metadata.namespace"),
    ] {
        let slice: EndpointSlice = from_json(json!({
            "metadata": {"namespace": namespace, "name": name,
                         "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.0.1"]}],
            "ports": [{"port": 80}]
        }));
        let (info, warnings) = slice_with_cart(slice);
        let obj = ObjectRef::new(ObjectKind::EndpointSlice, namespace, name);
        assert_eq!(said(&warnings), vec![object(&obj, field)]);
        assert_eq!(info, None);
    }
}

// ---------------------------------------------------------------------------------------------
// Nodes
// ---------------------------------------------------------------------------------------------

#[test]
fn node_ips_are_the_first_internal_ip_of_each_family_primary_first() {
    let conv = convert::node(&node(json!({
        "metadata": {"name": "node-a.example.com",
                     "labels": {"topology.kubernetes.io/zone": "z1", "role": "edge"}},
        "status": {"addresses": addresses(&[
            ("Hostname", "node-a"),
            ("ExternalIP", "203.0.113.5"),
            ("InternalIP", "fd00::5"),
            ("InternalIP", "10.1.0.5"),
            ("InternalIP", "10.1.0.6"),
        ])}
    })));
    assert_eq!(said(&conv.warnings), vec![]);
    let info = conv.value.expect("converts");
    assert_eq!(info.name, "node-a.example.com");
    assert_eq!(info.ips, vec![ip("fd00::5"), ip("10.1.0.5")]);
    assert_eq!(info.zone(), Some("z1"));
    assert_eq!(info.labels.get("role").map(String::as_str), Some("edge"));
}

#[test]
fn an_external_ip_fills_a_family_without_internal_ip() {
    let conv = convert::node(&node(json!({
        "metadata": {"name": NODE},
        "status": {"addresses": addresses(&[
            ("ExternalIP", "2001:db8::5"),
            ("InternalIP", "10.1.0.5"),
            ("ExternalIP", "203.0.113.5"),
        ])}
    })));
    let info = conv.value.expect("converts");
    assert_eq!(info.ips, vec![ip("10.1.0.5"), ip("2001:db8::5")]);
}

#[test]
fn a_node_without_addresses_has_no_ips() {
    let conv = convert::node(&node(json!({"metadata": {"name": NODE}})));
    assert_eq!(said(&conv.warnings), vec![]);
    assert_eq!(conv.value, Some(NodeInfo::new(NODE)));
}

#[test]
fn a_node_with_an_invalid_address_keeps_its_valid_ones() {
    let (info, warnings) = node_with_neighbour(node(json!({
        "metadata": {"name": NODE},
        "status": {"addresses": addresses(&[
            ("InternalIP", "10.1.0.300"),
            ("InternalIP", "10.1.0.5"),
            ("Hostname", "not-an-ip"),
        ])}
    })));
    let obj = ObjectRef::new(ObjectKind::Node, "", NODE);
    assert_eq!(
        said(&warnings),
        vec![entry(&obj, "status.addresses[0].address")]
    );
    let info = info.expect("the node is kept");
    assert_eq!(info.ips, vec![ip("10.1.0.5")]);
}

#[test]
fn pod_cidrs_come_from_the_list_and_an_invalid_one_is_dropped() {
    let (info, warnings) = node_with_neighbour(node(json!({
        "metadata": {"name": NODE},
        "spec": {"podCIDR": "10.9.0.0/24", "podCIDRs": ["10.244.1.0/24", "fd00:1::/64x", "fd00:2::/64"]}
    })));
    let obj = ObjectRef::new(ObjectKind::Node, "", NODE);
    assert_eq!(said(&warnings), vec![entry(&obj, "spec.podCIDRs[1]")]);
    let info = info.expect("the node is kept");
    assert_eq!(
        info.pod_cidrs,
        vec![net("10.244.1.0/24"), net("fd00:2::/64")]
    );
    assert!(!info.deleting);
}

#[test]
fn the_single_pod_cidr_is_used_without_a_list_and_deletion_is_seen() {
    let conv = convert::node(&node(json!({
        "metadata": {"name": NODE, "deletionTimestamp": "2026-12-08T00:00:00Z"},
        "spec": {"podCIDR": "10.244.3.0/24"}
    })));
    assert_eq!(said(&conv.warnings), vec![]);
    let info = conv.value.expect("the node");
    assert_eq!(info.pod_cidrs, vec![net("10.244.3.0/24")]);
    assert!(info.deleting);
}

#[test]
fn a_node_without_a_valid_name_is_skipped() {
    for name in [json!("Node A"), Value::Null, json!("a".repeat(254))] {
        let (info, warnings) = node_with_neighbour(node(json!({
            "metadata": {"name": name},
            "status": {"addresses": addresses(&[("InternalIP", "10.1.0.5")])}
        })));
        let shown = name.as_str().unwrap_or_default();
        let obj = ObjectRef::new(
            ObjectKind::Node,
            "",
            shown.chars().take(253).collect::<String>(),
        );
        let said = said(&warnings);
        assert_eq!(said.len(), 1, "{name}");
        assert_eq!(
            (&said[0].1, said[0].2),
            (&"metadata.name".to_owned(), Dropped::Object)
        );
        assert!(said[0].0.name.starts_with(&obj.name));
        assert_eq!(info, None);
    }
}
