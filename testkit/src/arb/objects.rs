//! Strategies for Services, EndpointSlices and Nodes as JSON values: drawn from small pools of
//! names and addresses, so that generated objects refer to each other (slices to services,
//! endpoints to nodes) and collide (two services on one cluster IP, one endpoint in two slices),
//! and with a malformed value in about one field in twenty. [`cluster`] makes services with
//! slices that match their ports, so most generated services have endpoints.

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value, json};

/// The node svcproxy runs on in generated clusters.
pub const NODE: &str = "node-a";

/// `valid` nineteen times in twenty, `junk` otherwise.
fn mostly<T: std::fmt::Debug + Clone + 'static>(
    valid: impl Strategy<Value = T> + 'static,
    junk: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<T> {
    prop_oneof![19 => valid, 1 => junk].boxed()
}

/// One of `items`.
fn pick(items: &'static [&'static str]) -> BoxedStrategy<String> {
    proptest::sample::select(items)
        .prop_map(str::to_owned)
        .boxed()
}

/// Text that is not a valid value for most fields.
fn junk_text() -> BoxedStrategy<String> {
    prop_oneof![
        pick(&[
            "",
            "-bad-",
            "UPPER",
            "10.96.0.300",
            "::g",
            "1.2.3.4/33",
            "x y",
            "\u{7}"
        ]),
        "[a-z0-9.:/-]{0,12}",
        Just("a".repeat(300)),
    ]
    .boxed()
}

/// A namespace.
pub fn namespace() -> BoxedStrategy<String> {
    mostly(pick(&["default", "ns1"]), junk_text())
}

/// A service name (also what slices' service-name labels point at).
pub fn service_name() -> BoxedStrategy<String> {
    mostly(pick(&["s0", "s1", "s2", "s3"]), junk_text())
}

/// A port name.
fn port_name() -> BoxedStrategy<String> {
    mostly(pick(&["", "http", "dns"]), junk_text())
}

/// A protocol: unset, a valid one, or junk.
fn protocol() -> BoxedStrategy<Option<String>> {
    mostly(
        option::of(pick(&["TCP", "UDP", "SCTP"])),
        option::of(pick(&["ICMP", "tcp", ""])),
    )
}

/// A port number for `pool`, sometimes out of range.
fn port_number(pool: &'static [i32]) -> BoxedStrategy<i32> {
    mostly(
        proptest::sample::select(pool),
        proptest::sample::select(&[0, -1, 65_536, i32::MAX][..]),
    )
}

/// An address from a pool of `v4` and `v6` addresses, or junk.
fn address(v4: &'static [&'static str], v6: &'static [&'static str]) -> BoxedStrategy<String> {
    mostly(prop_oneof![3 => pick(v4), 1 => pick(v6)], junk_text())
}

/// A cluster IP (or `None` / empty: headless).
fn cluster_ip() -> BoxedStrategy<String> {
    prop_oneof![
        12 => address(
            &["10.96.0.1", "10.96.0.2", "10.96.0.3", "10.96.0.4", "10.96.0.5"],
            &["fd00:96::1", "fd00:96::2", "fd00:96::3"],
        ),
        1 => pick(&["None", ""]),
    ]
    .boxed()
}

/// An endpoint address.
fn endpoint_ip() -> BoxedStrategy<String> {
    address(
        &[
            "10.244.0.2",
            "10.244.0.3",
            "10.244.0.4",
            "10.244.0.5",
            "10.244.1.6",
            "10.244.1.7",
        ],
        &["fd00:244::2", "fd00:244::3", "fd00:244::4"],
    )
}

/// Inserts `value` under `key` when it is `Some`.
fn put(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(v) = value {
        map.insert(key.to_owned(), v);
    }
}

/// A `spec.ports` entry.
fn service_port() -> impl Strategy<Value = Value> {
    (
        port_name(),
        protocol(),
        port_number(&[80, 53, 443]),
        option::of(port_number(&[30000, 30001, 30002, 30003])),
    )
        .prop_map(|(name, protocol, port, node_port)| {
            let mut m = Map::new();
            put(&mut m, "name", Some(json!(name)));
            put(&mut m, "protocol", protocol.map(Value::from));
            put(&mut m, "port", Some(json!(port)));
            put(&mut m, "nodePort", node_port.map(Value::from));
            Value::Object(m)
        })
}

/// The fields of a Service's spec besides its ports and cluster IPs.
fn service_policies() -> impl Strategy<Value = Map<String, Value>> {
    let ext_ips = vec(
        address(
            &["192.168.60.1", "192.168.60.2", "10.96.0.1"],
            &["fd00:60::1"],
        ),
        0..3,
    );
    let ranges = option::of(vec(
        mostly(
            pick(&[
                "198.51.100.0/24",
                "192.168.50.0/24",
                "0.0.0.0/0",
                "10.244.0.0/16",
                "fd00::/8",
            ]),
            junk_text(),
        ),
        0..3,
    ));
    let policy = || option::of(mostly(pick(&["Cluster", "Local"]), junk_text()));
    let affinity = option::of(mostly(pick(&["None", "ClientIP"]), junk_text()));
    let timeout = option::of(mostly(
        proptest::sample::select(&[60, 10_800, 86_400][..]),
        proptest::sample::select(&[0, -5, 86_401][..]),
    ));
    let kind = option::of(mostly(
        pick(&["ClusterIP", "NodePort", "LoadBalancer"]),
        pick(&["ExternalName", "Weird"]),
    ));
    let distribution = option::of(pick(&["PreferClose", "PreferSameNode", "Other"]));
    (
        kind,
        ext_ips,
        ranges,
        policy(),
        policy(),
        affinity,
        timeout,
        distribution,
    )
        .prop_map(
            |(kind, ext_ips, ranges, etp, itp, affinity, timeout, distribution)| {
                let mut m = Map::new();
                put(&mut m, "type", kind.map(Value::from));
                put(&mut m, "externalIPs", Some(json!(ext_ips)));
                put(&mut m, "loadBalancerSourceRanges", ranges.map(|r| json!(r)));
                put(&mut m, "externalTrafficPolicy", etp.map(Value::from));
                put(&mut m, "internalTrafficPolicy", itp.map(Value::from));
                put(&mut m, "sessionAffinity", affinity.map(Value::from));
                put(
                    &mut m,
                    "sessionAffinityConfig",
                    timeout.map(|t| json!({"clientIP": {"timeoutSeconds": t}})),
                );
                put(&mut m, "trafficDistribution", distribution.map(Value::from));
                m
            },
        )
}

/// A Service: `(namespace, name)` and the object.
pub fn service() -> impl Strategy<Value = Value> {
    let ingress = (
        address(&["203.0.113.1", "203.0.113.2"], &["fd00:113::1"]),
        option::of(mostly(pick(&["VIP", "Proxy"]), junk_text())),
    )
        .prop_map(|(ip, mode)| {
            let mut m = Map::new();
            put(&mut m, "ip", Some(json!(ip)));
            put(&mut m, "ipMode", mode.map(Value::from));
            Value::Object(m)
        });
    let dual_stack = (
        pick(&["10.96.0.1", "10.96.0.2", "10.96.0.3", "10.96.0.4"]),
        pick(&["fd00:96::1", "fd00:96::2", "fd00:96::3"]),
    )
        .prop_map(|(v4, v6)| (v4.clone(), Some(vec![v4, v6])));
    let cluster_ips = prop_oneof![
        6 => (cluster_ip(), Just(None)),
        3 => dual_stack,
        1 => (cluster_ip(), option::of(vec(cluster_ip(), 1..3))),
    ];
    let families = option::weighted(
        0.1,
        prop_oneof![
            pick(&["IPv4", "IPv6"]).prop_map(|f| vec![f]),
            Just(vec!["IPv4".to_owned(), "IPv6".to_owned()]),
        ],
    );
    let proxy_label = proptest::bool::weighted(0.05);
    (
        namespace(),
        service_name(),
        cluster_ips,
        families,
        vec(service_port(), 1..4),
        service_policies(),
        vec(ingress, 0..2),
        proxy_label,
    )
        .prop_map(
            |(ns, name, (ip, ips), families, ports, mut spec, ingress, proxy_label)| {
                put(&mut spec, "clusterIP", Some(json!(ip)));
                put(&mut spec, "clusterIPs", ips.map(|v| json!(v)));
                put(&mut spec, "ipFamilies", families.map(|v| json!(v)));
                put(&mut spec, "ports", Some(json!(ports)));
                let mut meta = json!({"namespace": ns, "name": name});
                if proxy_label {
                    meta["labels"] = json!({"service.kubernetes.io/service-proxy-name": "other"});
                }
                json!({
                    "apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec,
                    "status": {"loadBalancer": {"ingress": ingress}}
                })
            },
        )
}

/// One endpoint of a slice.
fn endpoint() -> impl Strategy<Value = Value> {
    let condition = || option::of(proptest::bool::weighted(0.8));
    let node = option::of(mostly(pick(&[NODE, "node-b"]), junk_text()));
    let zone = option::of(pick(&["z1", "z2"]));
    let hints = option::of((
        vec(pick(&["z1", "z2"]), 0..2),
        vec(pick(&[NODE, "node-b"]), 0..2),
    ));
    let addresses = prop_oneof![9 => vec(endpoint_ip(), 1..2), 1 => vec(endpoint_ip(), 0..3)];
    (
        addresses,
        condition(),
        condition(),
        proptest::option::of(proptest::bool::weighted(0.2)),
        node,
        zone,
        hints,
    )
        .prop_map(
            |(addresses, ready, serving, terminating, node, zone, hints)| {
                let mut m = Map::new();
                put(&mut m, "addresses", Some(json!(addresses)));
                put(
                    &mut m,
                    "conditions",
                    Some(json!({"ready": ready, "serving": serving, "terminating": terminating})),
                );
                put(&mut m, "nodeName", node.map(Value::from));
                put(&mut m, "zone", zone.map(Value::from));
                put(
                    &mut m,
                    "hints",
                    hints.map(|(zones, nodes)| {
                        let names = |v: Vec<String>| -> Vec<Value> {
                            v.into_iter().map(|n| json!({"name": n})).collect()
                        };
                        json!({"forZones": names(zones), "forNodes": names(nodes)})
                    }),
                );
                Value::Object(m)
            },
        )
}

/// A slice port: a name, a protocol, a number.
fn slice_port(
    name: BoxedStrategy<String>,
    protocol: BoxedStrategy<Option<String>>,
) -> BoxedStrategy<Value> {
    (
        name,
        protocol,
        option::weighted(0.95, port_number(&[8080, 5353])),
    )
        .prop_map(|(name, protocol, port)| {
            let mut m = Map::new();
            put(&mut m, "name", Some(json!(name)));
            put(&mut m, "protocol", protocol.map(Value::from));
            put(&mut m, "port", port.map(Value::from));
            Value::Object(m)
        })
        .boxed()
}

/// An EndpointSlice value.
fn slice_value(
    ns: String,
    svc: String,
    n: u8,
    address_type: String,
    ports: Vec<Value>,
    endpoints: Vec<Value>,
) -> Value {
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"namespace": ns, "name": format!("{svc}-{n}"),
                     "labels": {"kubernetes.io/service-name": svc}},
        "addressType": address_type, "ports": ports, "endpoints": endpoints
    })
}

/// An EndpointSlice of one of the generated service names.
pub fn endpoint_slice() -> impl Strategy<Value = Value> {
    let address_type = mostly(
        prop_oneof![3 => Just("IPv4".to_owned()), 1 => Just("IPv6".to_owned())],
        pick(&["FQDN", "IPv5"]),
    );
    (
        namespace(),
        service_name(),
        0..3u8,
        address_type,
        vec(slice_port(port_name(), protocol()), 0..3),
        vec(endpoint(), 0..5),
    )
        .prop_map(|(ns, svc, n, t, ports, endpoints)| slice_value(ns, svc, n, t, ports, endpoints))
}

/// The choices for a slice of one of a cluster's services, resolved by [`slice_of`].
#[derive(Clone, Debug)]
pub struct SliceDraw {
    /// Which service.
    service: Index,
    /// The slice's number (its name is `<service>-<n>`).
    n: u8,
    /// Which of the service's cluster IP families.
    family: Index,
    /// An address type to use instead (rarely: junk).
    address_type: Option<String>,
    /// Ports: which of the service's ports, and the target port number.
    ports: Vec<(Index, Option<i32>)>,
    /// The endpoints.
    endpoints: Vec<Value>,
}

fn slice_draw() -> impl Strategy<Value = SliceDraw> {
    (
        any::<Index>(),
        0..3u8,
        any::<Index>(),
        option::weighted(0.05, pick(&["FQDN", "IPv5", "IPv4"])),
        vec(
            (
                any::<Index>(),
                option::weighted(0.95, port_number(&[8080, 5353])),
            ),
            1..3,
        ),
        vec(endpoint(), 0..5),
    )
        .prop_map(
            |(service, n, family, address_type, ports, endpoints)| SliceDraw {
                service,
                n,
                family,
                address_type,
                ports,
                endpoints,
            },
        )
}

/// The slice `d` draws for one of `services` (generated Service values): the service's
/// namespace and name, ports named like the service's, the family of one of its cluster IPs.
pub fn slice_of(services: &[Value], d: &SliceDraw) -> Value {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let Some(service) = services.get(d.service.index(services.len().max(1))) else {
        return Value::Null;
    };
    let spec = &service["spec"];
    let service_ports: Vec<&Value> = spec["ports"].as_array().into_iter().flatten().collect();
    let mut families: Vec<&str> = std::iter::once(&spec["clusterIP"])
        .chain(spec["clusterIPs"].as_array().into_iter().flatten())
        .map(|ip| {
            if text(ip).contains(':') {
                "IPv6"
            } else {
                "IPv4"
            }
        })
        .collect();
    families.dedup();
    let address_type = d
        .address_type
        .clone()
        .unwrap_or_else(|| families[d.family.index(families.len())].to_owned());
    let ports: Vec<Value> = d
        .ports
        .iter()
        .filter_map(|(i, number)| {
            let p = service_ports.get(i.index(service_ports.len().max(1)))?;
            let mut m = Map::new();
            put(&mut m, "name", Some(p["name"].clone()));
            put(
                &mut m,
                "protocol",
                Some(p["protocol"].clone()).filter(|v| !v.is_null()),
            );
            put(&mut m, "port", number.map(Value::from));
            Some(Value::Object(m))
        })
        .collect();
    slice_value(
        text(&service["metadata"]["namespace"]),
        text(&service["metadata"]["name"]),
        d.n,
        address_type,
        ports,
        d.endpoints.clone(),
    )
}

/// A small cluster: 1 to 5 services, slices of them ([`slice_of`]), and sometimes a stray
/// slice or a Node.
pub fn cluster() -> impl Strategy<Value = Vec<Value>> {
    let extra = vec(prop_oneof![endpoint_slice().boxed(), node().boxed()], 0..2);
    (vec(service(), 1..6), vec(slice_draw(), 0..8), extra).prop_map(|(services, draws, extra)| {
        let slices: Vec<Value> = draws.iter().map(|d| slice_of(&services, d)).collect();
        services.into_iter().chain(slices).chain(extra).collect()
    })
}

/// A Node: ours (`node-a`) most of the time.
pub fn node() -> impl Strategy<Value = Value> {
    let address = (
        pick(&["InternalIP", "ExternalIP", "Hostname"]),
        address(&["192.168.50.1", "192.168.50.9"], &["fd00:50::1"]),
    )
        .prop_map(|(t, a)| json!({"type": t, "address": a}));
    (
        mostly(pick(&[NODE, "node-b"]), junk_text()),
        option::of(pick(&["z1", "z2"])),
        vec(address, 0..3),
    )
        .prop_map(|(name, zone, addresses)| {
            let mut labels = Map::new();
            put(
                &mut labels,
                "topology.kubernetes.io/zone",
                zone.map(Value::from),
            );
            json!({
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "labels": labels},
                "status": {"addresses": addresses}
            })
        })
}

/// A Service, an EndpointSlice or (rarely) a Node, as a JSON value.
pub fn object_value() -> BoxedStrategy<Value> {
    prop_oneof![4 => service(), 5 => endpoint_slice(), 1 => node()].boxed()
}
