//! Tests of `proxy_core::topology`.
//!
//! The table carries the facts of upstream kube-proxy's `TestCategorizeEndpoints` (node zone,
//! hints, readiness, policies, expected sets), plus same-node hint cases and cases for the
//! terminating fallback of the cluster and local sets taken independently.

use std::net::SocketAddr;

use proxy_core::model::{
    Endpoint, NodeInfo, Protocol, ServicePort, ServicePortName, TrafficPolicy, ZONE_LABEL,
};
use proxy_core::topology::{
    Categorized, Topology, categorize, topology_mode, uses_cluster_endpoints, uses_local_endpoints,
};

use TrafficPolicy::{Cluster, Local};

/// The node every case runs on, unless a case names another.
const NODE: &str = "node-1";

/// The service side of a case: both traffic policies and whether a node port exists.
#[derive(Clone, Copy)]
struct Svc {
    itp: TrafficPolicy,
    etp: TrafficPolicy,
    node_port: bool,
}

/// ClusterIP only, both policies Cluster.
const PLAIN: Svc = Svc {
    itp: Cluster,
    etp: Cluster,
    node_port: false,
};
/// ClusterIP only, ITP Local.
const ITP_LOCAL: Svc = Svc {
    itp: Local,
    etp: Cluster,
    node_port: false,
};
/// ClusterIP only with ETP Local, which has no effect without external access.
const ETP_LOCAL_INTERNAL: Svc = Svc {
    itp: Cluster,
    etp: Local,
    node_port: false,
};
/// NodePort, ETP Local.
const NP_ETP_LOCAL: Svc = Svc {
    itp: Cluster,
    etp: Local,
    node_port: true,
};
/// NodePort, ITP Local, ETP Cluster.
const NP_ITP_LOCAL: Svc = Svc {
    itp: Local,
    etp: Cluster,
    node_port: true,
};
/// NodePort, both policies Local.
const NP_BOTH_LOCAL: Svc = Svc {
    itp: Local,
    etp: Local,
    node_port: true,
};

impl Svc {
    fn build(self) -> ServicePort {
        let name = ServicePortName::new("ns", "svc", "", Protocol::Tcp);
        let mut svc = ServicePort::new(name, [172, 30, 0, 1].into(), 80);
        svc.internal_traffic_policy = self.itp;
        svc.external_traffic_policy = self.etp;
        svc.node_port = self.node_port.then_some(30080);
        svc
    }
}

/// Builder methods for test endpoints.
trait EndpointExt: Sized {
    fn zones(self, zones: &[&str]) -> Self;
    fn nodes(self, nodes: &[&str]) -> Self;
    fn local(self) -> Self;
    fn unready(self) -> Self;
    fn terminating(self) -> Self;
    fn drained(self) -> Self;
}

impl EndpointExt for Endpoint {
    fn zones(mut self, zones: &[&str]) -> Self {
        self.zone_hints = zones.iter().map(|z| z.to_string()).collect();
        self
    }
    fn nodes(mut self, nodes: &[&str]) -> Self {
        self.node_hints = nodes.iter().map(|n| n.to_string()).collect();
        self
    }
    fn local(mut self) -> Self {
        self.is_local = true;
        self
    }
    /// Neither ready nor serving nor terminating.
    fn unready(mut self) -> Self {
        self.ready = false;
        self.serving = false;
        self
    }
    /// Not ready, still serving, terminating.
    fn terminating(mut self) -> Self {
        self.ready = false;
        self.serving = true;
        self.terminating = true;
        self
    }
    /// Terminating and no longer serving: never usable.
    fn drained(mut self) -> Self {
        self.ready = false;
        self.serving = false;
        self.terminating = true;
        self
    }
}

/// A ready, remote, unhinted endpoint at `addr` (`ip:port`).
fn ep(addr: &str) -> Endpoint {
    let addr: SocketAddr = addr.parse().expect("test address");
    Endpoint::new(addr.ip(), addr.port())
}

/// One row of the table.
struct Case {
    name: &'static str,
    node: &'static str,
    /// The zone label: `None` for no label, `Some("")` for an empty one.
    zone: Option<&'static str>,
    svc: Svc,
    endpoints: Vec<Endpoint>,
    cluster: Option<&'static [&'static str]>,
    local: Option<&'static [&'static str]>,
    /// `None`: the one used set. Required when both sets are used.
    all: Option<&'static [&'static str]>,
    /// `None`: true iff `all` is not empty. `Some(true)` marks "only remote endpoints".
    has_any: Option<bool>,
    topology: Option<Topology>,
}

fn base() -> Case {
    Case {
        name: "",
        node: NODE,
        zone: Some("zone-a"),
        svc: PLAIN,
        endpoints: Vec::new(),
        cluster: None,
        local: None,
        all: None,
        has_any: None,
        topology: None,
    }
}

/// Four ready endpoints hinted for zones a, b, c, a (upstream's standard zone fixture).
fn four_zoned() -> Vec<Endpoint> {
    vec![
        ep("10.1.2.3:80").zones(&["zone-a"]),
        ep("10.1.2.4:80").zones(&["zone-b"]),
        ep("10.1.2.5:80").zones(&["zone-c"]),
        ep("10.1.2.6:80").zones(&["zone-a"]),
    ]
}

/// Four ready endpoints hinted for nodes 1..4 and zones a, b, c, a.
fn four_node_hinted() -> Vec<Endpoint> {
    vec![
        ep("10.1.2.3:80").zones(&["zone-a"]).nodes(&["node-1"]),
        ep("10.1.2.4:80").zones(&["zone-b"]).nodes(&["node-2"]),
        ep("10.1.2.5:80").zones(&["zone-c"]).nodes(&["node-3"]),
        ep("10.1.2.6:80").zones(&["zone-a"]).nodes(&["node-4"]),
    ]
}

/// The cases that transcribe upstream's table.
fn upstream_cases() -> Vec<Case> {
    vec![
        Case {
            name: "all endpoints zone-hinted, some for the node's zone: same-zone filter",
            endpoints: four_zoned(),
            cluster: Some(&["10.1.2.3:80", "10.1.2.6:80"]),
            topology: Some(Topology::SameZone),
            ..base()
        },
        Case {
            name: "ETP Local: local set ignores zone hints, cluster set uses them",
            svc: NP_ETP_LOCAL,
            endpoints: {
                let mut eps = four_zoned();
                eps[0].is_local = true;
                eps[1].is_local = true;
                eps
            },
            cluster: Some(&["10.1.2.3:80", "10.1.2.6:80"]),
            local: Some(&["10.1.2.3:80", "10.1.2.4:80"]),
            all: Some(&["10.1.2.3:80", "10.1.2.4:80", "10.1.2.6:80"]),
            topology: Some(Topology::SameZone),
            ..base()
        },
        Case {
            name: "ITP Local with ETP Cluster: local set ignores hints, cluster set uses them",
            svc: NP_ITP_LOCAL,
            endpoints: {
                let mut eps = four_zoned();
                eps[0].is_local = true;
                eps[1].is_local = true;
                eps
            },
            cluster: Some(&["10.1.2.3:80", "10.1.2.6:80"]),
            local: Some(&["10.1.2.3:80", "10.1.2.4:80"]),
            all: Some(&["10.1.2.3:80", "10.1.2.4:80", "10.1.2.6:80"]),
            topology: Some(Topology::SameZone),
            ..base()
        },
        Case {
            name: "node without labels: hints unused",
            zone: None,
            endpoints: vec![ep("10.1.2.3:80").zones(&["zone-a"])],
            cluster: Some(&["10.1.2.3:80"]),
            ..base()
        },
        Case {
            name: "node with an empty zone label: hints unused",
            zone: Some(""),
            endpoints: vec![ep("10.1.2.3:80").zones(&["zone-a"])],
            cluster: Some(&["10.1.2.3:80"]),
            ..base()
        },
        Case {
            name: "no endpoint hinted for the node's zone: no filtering",
            zone: Some("zone-b"),
            endpoints: vec![ep("10.1.2.3:80").zones(&["zone-a"])],
            cluster: Some(&["10.1.2.3:80"]),
            ..base()
        },
        Case {
            name: "unready endpoint in the node's zone is dropped",
            endpoints: {
                let mut eps = four_zoned();
                eps[3] = eps[3].clone().unready();
                eps
            },
            cluster: Some(&["10.1.2.3:80"]),
            topology: Some(Topology::SameZone),
            ..base()
        },
        Case {
            name: "only unready endpoints hinted for the node's zone: no filtering",
            endpoints: {
                let mut eps = four_zoned();
                eps[0] = eps[0].clone().unready();
                eps[3] = eps[3].clone().unready();
                eps
            },
            cluster: Some(&["10.1.2.4:80", "10.1.2.5:80"]),
            ..base()
        },
        Case {
            name: "one ready endpoint without zone hints: no filtering",
            endpoints: {
                let mut eps = four_zoned();
                eps[2].zone_hints.clear();
                eps
            },
            cluster: Some(&["10.1.2.3:80", "10.1.2.4:80", "10.1.2.5:80", "10.1.2.6:80"]),
            ..base()
        },
        Case {
            name: "several zone hints per endpoint: any hint naming the zone admits it",
            zone: Some("zone-c"),
            endpoints: vec![
                ep("10.1.2.3:80").zones(&["zone-a", "zone-b", "zone-c"]),
                ep("10.1.2.4:80").zones(&["zone-b", "zone-c"]),
                ep("10.1.2.5:80").zones(&["zone-b", "zone-d"]),
                ep("10.1.2.6:80").zones(&["zone-c"]),
            ],
            cluster: Some(&["10.1.2.3:80", "10.1.2.4:80", "10.1.2.6:80"]),
            topology: Some(Topology::SameZone),
            ..base()
        },
        Case {
            name: "topology and locality disagree: all_reachable merges both sets",
            svc: NP_ETP_LOCAL,
            endpoints: vec![
                ep("10.0.0.0:80").zones(&["zone-a"]).local(),
                ep("10.0.0.1:80").zones(&["zone-b"]).local(),
                ep("10.0.0.2:80").zones(&["zone-a"]),
                ep("10.0.0.3:80").zones(&["zone-b"]),
            ],
            cluster: Some(&["10.0.0.0:80", "10.0.0.2:80"]),
            local: Some(&["10.0.0.0:80", "10.0.0.1:80"]),
            all: Some(&["10.0.0.0:80", "10.0.0.1:80", "10.0.0.2:80"]),
            topology: Some(Topology::SameZone),
            ..base()
        },
        Case {
            name: "ITP Local, no endpoints at all",
            zone: None,
            svc: ITP_LOCAL,
            local: Some(&[]),
            ..base()
        },
        Case {
            name: "ITP Local, every endpoint remote: nothing local but endpoints exist",
            zone: None,
            svc: ITP_LOCAL,
            endpoints: vec![ep("10.0.0.0:80"), ep("10.0.0.1:80")],
            local: Some(&[]),
            has_any: Some(true),
            ..base()
        },
        Case {
            name: "ITP Local, every endpoint local",
            zone: None,
            svc: ITP_LOCAL,
            endpoints: vec![ep("10.0.0.0:80").local(), ep("10.0.0.1:80").local()],
            local: Some(&["10.0.0.0:80", "10.0.0.1:80"]),
            ..base()
        },
        Case {
            name: "ITP Local, one endpoint local",
            zone: None,
            svc: ITP_LOCAL,
            endpoints: vec![ep("10.0.0.0:80").local(), ep("10.0.0.1:80")],
            local: Some(&["10.0.0.0:80"]),
            ..base()
        },
        Case {
            name: "Cluster policy, no endpoint ready or terminating",
            zone: None,
            endpoints: vec![ep("10.0.0.0:80").unready(), ep("10.0.0.1:80").unready()],
            cluster: Some(&[]),
            ..base()
        },
        Case {
            name: "Cluster policy, one endpoint ready",
            zone: None,
            endpoints: vec![ep("10.0.0.0:80").unready(), ep("10.0.0.1:80")],
            cluster: Some(&["10.0.0.1:80"]),
            ..base()
        },
        Case {
            name: "Cluster policy, every endpoint terminating: fall back to them",
            zone: None,
            endpoints: vec![
                ep("10.0.0.0:80").terminating().local(),
                ep("10.0.0.1:80").terminating(),
            ],
            cluster: Some(&["10.0.0.0:80", "10.0.0.1:80"]),
            ..base()
        },
        Case {
            name: "ITP Local, ETP Cluster, one endpoint local",
            zone: None,
            svc: NP_ITP_LOCAL,
            endpoints: vec![ep("10.0.0.0:80").local(), ep("10.0.0.1:80")],
            cluster: Some(&["10.0.0.0:80", "10.0.0.1:80"]),
            local: Some(&["10.0.0.0:80"]),
            all: Some(&["10.0.0.0:80", "10.0.0.1:80"]),
            ..base()
        },
        Case {
            name: "ITP Cluster, ETP Local, one endpoint local",
            zone: None,
            svc: NP_ETP_LOCAL,
            endpoints: vec![ep("10.0.0.0:80").local(), ep("10.0.0.1:80")],
            cluster: Some(&["10.0.0.0:80", "10.0.0.1:80"]),
            local: Some(&["10.0.0.0:80"]),
            all: Some(&["10.0.0.0:80", "10.0.0.1:80"]),
            ..base()
        },
        Case {
            name: "ITP Local, ETP Local, one endpoint local: cluster set kept for short circuit",
            zone: None,
            svc: NP_BOTH_LOCAL,
            endpoints: vec![ep("10.0.0.0:80").local(), ep("10.0.0.1:80")],
            cluster: Some(&["10.0.0.0:80", "10.0.0.1:80"]),
            local: Some(&["10.0.0.0:80"]),
            all: Some(&["10.0.0.0:80", "10.0.0.1:80"]),
            ..base()
        },
        Case {
            name: "ITP Local, ETP Local, every endpoint remote",
            zone: None,
            svc: NP_BOTH_LOCAL,
            endpoints: vec![ep("10.0.0.0:80"), ep("10.0.0.1:80")],
            cluster: Some(&["10.0.0.0:80", "10.0.0.1:80"]),
            local: Some(&[]),
            all: Some(&["10.0.0.0:80", "10.0.0.1:80"]),
            ..base()
        },
        Case {
            name: "ITP Local, ETP Local, every endpoint remote and terminating",
            zone: None,
            svc: NP_BOTH_LOCAL,
            endpoints: vec![
                ep("10.0.0.0:80").terminating(),
                ep("10.0.0.1:80").terminating(),
            ],
            cluster: Some(&["10.0.0.0:80", "10.0.0.1:80"]),
            local: Some(&[]),
            all: Some(&["10.0.0.0:80", "10.0.0.1:80"]),
            ..base()
        },
        Case {
            name: "ITP Cluster, ETP Local: cluster ready, local falls back to terminating",
            zone: None,
            svc: NP_ETP_LOCAL,
            endpoints: vec![
                ep("10.0.0.0:80"),
                ep("10.0.0.1:80").unready().local(),
                ep("10.0.0.2:80").terminating().local(),
                ep("10.0.0.3:80").terminating(),
            ],
            cluster: Some(&["10.0.0.0:80"]),
            local: Some(&["10.0.0.2:80"]),
            all: Some(&["10.0.0.0:80", "10.0.0.2:80"]),
            ..base()
        },
        Case {
            name: "ETP Local without external access is ignored",
            zone: None,
            svc: ETP_LOCAL_INTERNAL,
            endpoints: vec![ep("10.0.0.0:80"), ep("10.0.0.1:80").local()],
            cluster: Some(&["10.0.0.0:80", "10.0.0.1:80"]),
            ..base()
        },
        Case {
            name: "ITP Local on a ClusterIP-only service: no cluster set",
            zone: None,
            svc: ITP_LOCAL,
            endpoints: vec![ep("10.0.0.0:80"), ep("10.0.0.1:80").local()],
            local: Some(&["10.0.0.1:80"]),
            ..base()
        },
    ]
}

/// Same-node hint cases (`PreferSameNode`, gate treated as enabled).
fn same_node_cases() -> Vec<Case> {
    vec![
        Case {
            name: "every ready endpoint node-hinted, one for this node: same-node filter",
            endpoints: four_node_hinted(),
            cluster: Some(&["10.1.2.3:80"]),
            topology: Some(Topology::SameNode),
            ..base()
        },
        Case {
            name: "no node hint names this node: zone hints take over",
            node: "node-9",
            endpoints: four_node_hinted(),
            cluster: Some(&["10.1.2.3:80", "10.1.2.6:80"]),
            topology: Some(Topology::SameZone),
            ..base()
        },
        Case {
            name: "one ready endpoint without node hint: zone hints take over",
            endpoints: {
                let mut eps = four_node_hinted();
                eps[2].node_hints.clear();
                eps
            },
            cluster: Some(&["10.1.2.3:80", "10.1.2.6:80"]),
            topology: Some(Topology::SameZone),
            ..base()
        },
        Case {
            name: "unhinted unready endpoint does not block the same-node filter",
            endpoints: {
                let mut eps = four_node_hinted();
                eps.push(ep("10.1.2.7:80").unready());
                eps
            },
            cluster: Some(&["10.1.2.3:80"]),
            topology: Some(Topology::SameNode),
            ..base()
        },
        Case {
            name: "only an unready endpoint hinted for this node: zone hints take over",
            endpoints: {
                let mut eps = four_node_hinted();
                eps[0] = eps[0].clone().unready();
                eps
            },
            cluster: Some(&["10.1.2.6:80"]),
            topology: Some(Topology::SameZone),
            ..base()
        },
        Case {
            name: "node hints only, none for this node: no filtering",
            node: "node-9",
            endpoints: vec![
                ep("10.1.2.3:80").nodes(&["node-1"]),
                ep("10.1.2.4:80").nodes(&["node-2"]),
            ],
            cluster: Some(&["10.1.2.3:80", "10.1.2.4:80"]),
            ..base()
        },
        Case {
            name: "several node hints per endpoint: any hint naming the node admits it",
            endpoints: vec![
                ep("10.1.2.3:80").nodes(&["node-1", "node-2"]),
                ep("10.1.2.4:80").nodes(&["node-2"]),
                ep("10.1.2.5:80").nodes(&["node-1"]),
            ],
            cluster: Some(&["10.1.2.3:80", "10.1.2.5:80"]),
            topology: Some(Topology::SameNode),
            ..base()
        },
        Case {
            name: "node without a zone label still gets the same-node filter",
            zone: None,
            endpoints: four_node_hinted(),
            cluster: Some(&["10.1.2.3:80"]),
            topology: Some(Topology::SameNode),
            ..base()
        },
        Case {
            name: "node with an empty name never matches node hints",
            node: "",
            endpoints: four_node_hinted(),
            cluster: Some(&["10.1.2.3:80", "10.1.2.6:80"]),
            topology: Some(Topology::SameZone),
            ..base()
        },
        Case {
            name: "ETP Local: local set ignores node hints, cluster set uses them",
            svc: NP_ETP_LOCAL,
            endpoints: {
                let mut eps = four_node_hinted();
                eps[1].is_local = true;
                eps[2].is_local = true;
                eps
            },
            cluster: Some(&["10.1.2.3:80"]),
            local: Some(&["10.1.2.4:80", "10.1.2.5:80"]),
            all: Some(&["10.1.2.3:80", "10.1.2.4:80", "10.1.2.5:80"]),
            topology: Some(Topology::SameNode),
            ..base()
        },
        Case {
            name: "ITP Local on a ClusterIP-only service: hints unused",
            svc: ITP_LOCAL,
            endpoints: {
                let mut eps = four_node_hinted();
                eps[1].is_local = true;
                eps
            },
            local: Some(&["10.1.2.4:80"]),
            ..base()
        },
    ]
}

/// The ready-then-terminating fallback, decided for the cluster and local sets independently.
fn fallback_cases() -> Vec<Case> {
    vec![
        Case {
            name: "cluster: ready endpoints win over terminating ones",
            endpoints: vec![ep("10.0.0.0:80"), ep("10.0.0.1:80").terminating()],
            cluster: Some(&["10.0.0.0:80"]),
            ..base()
        },
        Case {
            name: "cluster: terminating endpoints that stopped serving are never used",
            endpoints: vec![ep("10.0.0.0:80").drained(), ep("10.0.0.1:80").unready()],
            cluster: Some(&[]),
            ..base()
        },
        Case {
            name: "cluster: the fallback skips non-serving terminating endpoints",
            endpoints: vec![ep("10.0.0.0:80").drained(), ep("10.0.0.1:80").terminating()],
            cluster: Some(&["10.0.0.1:80"]),
            ..base()
        },
        Case {
            name: "cluster: the fallback ignores zone hints",
            endpoints: vec![
                ep("10.0.0.0:80").zones(&["zone-a"]).terminating(),
                ep("10.0.0.1:80").zones(&["zone-b"]).terminating(),
            ],
            cluster: Some(&["10.0.0.0:80", "10.0.0.1:80"]),
            ..base()
        },
        Case {
            name: "ETP Local: both sets fall back, each to its own terminating endpoints",
            svc: NP_ETP_LOCAL,
            endpoints: vec![
                ep("10.0.0.0:80").terminating().local(),
                ep("10.0.0.1:80").terminating(),
                ep("10.0.0.2:80").unready().local(),
            ],
            cluster: Some(&["10.0.0.0:80", "10.0.0.1:80"]),
            local: Some(&["10.0.0.0:80"]),
            all: Some(&["10.0.0.0:80", "10.0.0.1:80"]),
            ..base()
        },
        Case {
            name: "ETP Local: cluster ready, local only drained: local set empty",
            svc: NP_ETP_LOCAL,
            endpoints: vec![ep("10.0.0.0:80"), ep("10.0.0.1:80").drained().local()],
            cluster: Some(&["10.0.0.0:80"]),
            local: Some(&[]),
            all: Some(&["10.0.0.0:80"]),
            ..base()
        },
        Case {
            name: "ETP Local: zone filter on cluster, local falls back to a terminating endpoint",
            svc: NP_ETP_LOCAL,
            endpoints: vec![
                ep("10.0.0.0:80").zones(&["zone-a"]),
                ep("10.0.0.1:80").zones(&["zone-b"]),
                ep("10.0.0.2:80").zones(&["zone-a"]).terminating().local(),
            ],
            cluster: Some(&["10.0.0.0:80"]),
            local: Some(&["10.0.0.2:80"]),
            all: Some(&["10.0.0.0:80", "10.0.0.2:80"]),
            topology: Some(Topology::SameZone),
            ..base()
        },
        Case {
            name: "ITP Local, ETP Cluster: cluster ready, local falls back to terminating",
            svc: NP_ITP_LOCAL,
            endpoints: vec![ep("10.0.0.0:80"), ep("10.0.0.1:80").terminating().local()],
            cluster: Some(&["10.0.0.0:80"]),
            local: Some(&["10.0.0.1:80"]),
            all: Some(&["10.0.0.0:80", "10.0.0.1:80"]),
            ..base()
        },
        Case {
            name: "ITP Local: local falls back to terminating although remote ones are ready",
            svc: ITP_LOCAL,
            endpoints: vec![
                ep("10.0.0.0:80"),
                ep("10.0.0.1:80").terminating().local(),
                ep("10.0.0.2:80").unready().local(),
            ],
            local: Some(&["10.0.0.1:80"]),
            ..base()
        },
        Case {
            name: "ITP Local: a ready local endpoint wins over a terminating local one",
            svc: ITP_LOCAL,
            endpoints: vec![
                ep("10.0.0.0:80").local(),
                ep("10.0.0.1:80").terminating().local(),
            ],
            local: Some(&["10.0.0.0:80"]),
            ..base()
        },
        Case {
            name: "ITP Local: only remote terminating endpoints: nothing local, endpoints exist",
            svc: ITP_LOCAL,
            endpoints: vec![ep("10.0.0.0:80").terminating()],
            local: Some(&[]),
            has_any: Some(true),
            ..base()
        },
    ]
}

/// Every case of the table.
fn all_cases() -> Vec<Case> {
    let mut cases = upstream_cases();
    cases.extend(same_node_cases());
    cases.extend(fallback_cases());
    cases
}

/// The sorted `ip:port` texts of `eps`.
fn addrs(eps: &[&Endpoint]) -> Vec<String> {
    let mut out: Vec<String> = eps.iter().map(|ep| ep.addr().to_string()).collect();
    out.sort();
    out
}

/// The sorted expectation.
fn sorted(want: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    out.sort();
    out
}

/// What `all_reachable` must hold for `case`.
fn expected_all(case: &Case) -> &'static [&'static str] {
    match (case.all, case.cluster, case.local) {
        (Some(all), _, _) => all,
        (None, Some(one), None) | (None, None, Some(one)) => one,
        _ => panic!("{}: `all` is required when both sets are used", case.name),
    }
}

/// Runs `case`, describing every mismatch.
fn check(case: &Case) -> Vec<String> {
    let mut node = NodeInfo::new(case.node);
    if let Some(zone) = case.zone {
        node.labels.insert(ZONE_LABEL.to_string(), zone.to_string());
    }
    let got: Categorized<'_> = categorize(&case.endpoints, &case.svc.build(), &node);
    let want_all = expected_all(case);
    let mut errors = Vec::new();
    let mut expect = |what: &str, got: String, want: String| {
        if got != want {
            errors.push(format!("{what}: got {got}, want {want}"));
        }
    };
    let cluster = got.cluster.as_deref().map(addrs);
    expect(
        "cluster",
        format!("{cluster:?}"),
        format!("{:?}", case.cluster.map(sorted)),
    );
    let local = got.local.as_deref().map(addrs);
    expect(
        "local",
        format!("{local:?}"),
        format!("{:?}", case.local.map(sorted)),
    );
    let all = addrs(&got.all_reachable);
    expect(
        "all_reachable",
        format!("{all:?}"),
        format!("{:?}", sorted(want_all)),
    );
    let any = case.has_any.unwrap_or(!want_all.is_empty());
    expect(
        "has_any",
        got.has_any_endpoints.to_string(),
        any.to_string(),
    );
    expect(
        "topology",
        format!("{:?}", got.topology),
        format!("{:?}", case.topology),
    );
    errors
}

#[test]
fn categorize_follows_the_table() {
    let cases = all_cases();
    let failures: Vec<String> = cases
        .iter()
        .flat_map(|case| {
            check(case)
                .into_iter()
                .map(|e| format!("{}: {e}", case.name))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn table_case_names_are_unique() {
    let cases = all_cases();
    let mut names: Vec<&str> = cases.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases.len());
}

#[test]
fn policies_pick_the_sets() {
    // (service, uses cluster set, uses local set)
    let table = [
        (PLAIN, true, false),
        (ITP_LOCAL, false, true),
        (ETP_LOCAL_INTERNAL, true, false),
        (NP_ETP_LOCAL, true, true),
        (NP_ITP_LOCAL, true, true),
        (NP_BOTH_LOCAL, true, true),
    ];
    for (svc, cluster, local) in table {
        let svc = svc.build();
        assert_eq!(uses_cluster_endpoints(&svc), cluster, "{svc:?}");
        assert_eq!(uses_local_endpoints(&svc), local, "{svc:?}");
    }
}

#[test]
fn external_and_load_balancer_ips_count_as_external_access() {
    let eps = [ep("10.0.0.0:80"), ep("10.0.0.1:80").local()];
    let node = NodeInfo::new(NODE);
    let mut with_external = ITP_LOCAL.build();
    with_external.external_traffic_policy = Local;
    with_external.external_ips.push([192, 0, 2, 1].into());
    let mut with_lb = with_external.clone();
    with_lb.external_ips.clear();
    with_lb.load_balancer_ips.push([192, 0, 2, 2].into());
    for svc in [with_external, with_lb] {
        let got = categorize(&eps, &svc, &node);
        assert_eq!(
            got.cluster.as_deref().map(addrs),
            Some(sorted(&["10.0.0.0:80", "10.0.0.1:80"]))
        );
        assert_eq!(
            got.local.as_deref().map(addrs),
            Some(sorted(&["10.0.0.1:80"]))
        );
    }
}

#[test]
fn all_reachable_keeps_input_order_without_duplicates() {
    let eps = [
        ep("10.0.0.9:80").local(),
        ep("10.0.0.1:80"),
        ep("10.0.0.5:80").local(),
        ep("10.0.0.3:80").unready(),
    ];
    let got = categorize(&eps, &NP_ETP_LOCAL.build(), &NodeInfo::new(NODE));
    let order: Vec<String> = got.all_reachable.iter().map(|ep| ep.to_string()).collect();
    assert_eq!(order, ["10.0.0.9:80", "10.0.0.1:80", "10.0.0.5:80"]);
}

#[test]
fn topology_mode_needs_a_ready_endpoint() {
    let mut node = NodeInfo::new(NODE);
    node.labels
        .insert(ZONE_LABEL.to_string(), "zone-a".to_string());
    let eps = [ep("10.0.0.0:80")
        .zones(&["zone-a"])
        .nodes(&[NODE])
        .terminating()];
    assert_eq!(topology_mode(&eps, &node), None);
    let eps = [ep("10.0.0.0:80").zones(&["zone-a"]).nodes(&[NODE])];
    assert_eq!(topology_mode(&eps, &node), Some(Topology::SameNode));
}
