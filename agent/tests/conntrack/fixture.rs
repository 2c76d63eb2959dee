//! Fixtures of the conntrack tests: services and slices as YAML, fed through proxy-core's
//! real ChangeTracker so every Delta is the one a sync would see.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use proxy_core::model::{NodeInfo, Protocol};
use proxy_core::tracker::ChangeTracker;
use proxy_core::{Delta, ProxyState, manifest};
use svcproxy::conntrack::{Entry, Flow};

/// The node under test.
pub const NODE: &str = "node-a";
/// Its IPv4 address (a node-port address with `NodePorts::Primary`).
pub const NODE_V4: &str = "192.168.50.1";
/// Its IPv6 address.
pub const NODE_V6: &str = "fd00:50::1";

/// `s` as an IP.
pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("an IP address")
}

/// `ip:port`.
pub fn sa(ip_text: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip(ip_text), port)
}

/// One endpoint with its conditions.
#[derive(Clone, Debug)]
pub struct Ep {
    /// Its IP.
    pub ip: &'static str,
    /// `conditions.serving`.
    pub serving: bool,
    /// `conditions.terminating`.
    pub terminating: bool,
}

/// A ready endpoint.
pub fn ep(ip: &'static str) -> Ep {
    Ep {
        ip,
        serving: true,
        terminating: false,
    }
}

/// An endpoint that is terminating and still serving.
pub fn terminating(ip: &'static str) -> Ep {
    Ep {
        ip,
        serving: true,
        terminating: true,
    }
}

/// A terminating endpoint that no longer serves.
pub fn gone(ip: &'static str) -> Ep {
    Ep {
        ip,
        serving: false,
        terminating: true,
    }
}

/// A Service of namespace `ct` whose ports (one per protocol, named after it) all use `port`
/// and `target`, with one EndpointSlice of its family.
#[derive(Clone, Debug)]
pub struct Svc {
    /// Its name.
    pub name: &'static str,
    /// Its one cluster IP.
    pub cluster_ip: &'static str,
    /// `UDP`, `TCP`, `SCTP`: one port each.
    pub protocols: Vec<&'static str>,
    /// The service port.
    pub port: u16,
    /// The target port.
    pub target: u16,
    /// The node port of the first port (the next ports get the following numbers).
    pub node_port: Option<u16>,
    /// `spec.externalIPs`.
    pub external_ips: Vec<&'static str>,
    /// `status.loadBalancer.ingress[].ip`.
    pub lb_ips: Vec<&'static str>,
    /// The endpoints.
    pub endpoints: Vec<Ep>,
}

impl Svc {
    /// A ClusterIP service `name` with one UDP port 53 -> 5353.
    pub fn udp(name: &'static str, cluster_ip: &'static str) -> Svc {
        Svc {
            name,
            cluster_ip,
            protocols: vec!["UDP"],
            port: 53,
            target: 5353,
            node_port: None,
            external_ips: Vec::new(),
            lb_ips: Vec::new(),
            endpoints: Vec::new(),
        }
    }

    /// The same with these endpoints.
    pub fn eps(mut self, eps: impl IntoIterator<Item = Ep>) -> Svc {
        self.endpoints = eps.into_iter().collect();
        self
    }

    /// The service's YAML (Service and EndpointSlice).
    pub fn yaml(&self) -> String {
        let mut out = String::new();
        let v6 = ip(self.cluster_ip).is_ipv6();
        let kind = match (self.lb_ips.is_empty(), self.node_port) {
            (false, _) => "LoadBalancer",
            (true, Some(_)) => "NodePort",
            (true, None) => "ClusterIP",
        };
        let _ = writeln!(
            out,
            "---\napiVersion: v1\nkind: Service\nmetadata: {{namespace: ct, name: {}}}\nspec:\n  type: {kind}\n  clusterIP: \"{}\"\n  externalIPs: [{}]\n  ports:",
            self.name,
            self.cluster_ip,
            quoted(&self.external_ips)
        );
        for (i, proto) in self.protocols.iter().enumerate() {
            let node_port = self
                .node_port
                .map(|p| format!(", nodePort: {}", p + i as u16))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  - {{name: {}, protocol: {proto}, port: {}, targetPort: {}{node_port}}}",
                proto.to_lowercase(),
                self.port,
                self.target
            );
        }
        let ingress: Vec<String> = self
            .lb_ips
            .iter()
            .map(|i| format!("{{ip: \"{i}\"}}"))
            .collect();
        let _ = writeln!(
            out,
            "status: {{loadBalancer: {{ingress: [{}]}}}}",
            ingress.join(", ")
        );
        self.slice_yaml(&mut out, v6);
        out
    }

    fn slice_yaml(&self, out: &mut String, v6: bool) {
        let ports: Vec<String> = self
            .protocols
            .iter()
            .map(|p| {
                format!(
                    "{{name: {}, protocol: {p}, port: {}}}",
                    p.to_lowercase(),
                    self.target
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  namespace: ct\n  name: {}-1\n  labels: {{kubernetes.io/service-name: {}}}\naddressType: {}\nports: [{}]\nendpoints:{}",
            self.name,
            self.name,
            if v6 { "IPv6" } else { "IPv4" },
            ports.join(", "),
            if self.endpoints.is_empty() { " []" } else { "" }
        );
        for e in &self.endpoints {
            let _ = writeln!(
                out,
                "- {{addresses: [\"{}\"], nodeName: node-b, conditions: {{ready: {}, serving: {}, terminating: {}}}}}",
                e.ip,
                e.serving && !e.terminating,
                e.serving,
                e.terminating
            );
        }
    }
}

fn quoted(ips: &[&str]) -> String {
    ips.iter()
        .map(|i| format!("\"{i}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A ChangeTracker for node-a (both node IPs), fed whole cluster manifests.
pub struct Cluster {
    tracker: ChangeTracker,
}

impl Default for Cluster {
    fn default() -> Self {
        let mut node = NodeInfo::new(NODE);
        node.ips = vec![ip(NODE_V4), ip(NODE_V6)];
        Cluster {
            tracker: ChangeTracker::new(node),
        }
    }
}

impl Cluster {
    /// Replaces the cluster with `services` (a relist) and returns the delta of that sync.
    pub fn set(&mut self, services: &[Svc]) -> Delta {
        let text: String = services.iter().map(Svc::yaml).collect();
        let (objects, errors) = manifest::parse(&text);
        assert!(errors.is_empty(), "fixture YAML: {errors:?}\n{text}");
        let warnings = self.tracker.reset(&objects);
        assert!(warnings.is_empty(), "fixture objects: {warnings:?}\n{text}");
        self.tracker.take_delta()
    }

    /// The state after the last [`Cluster::set`].
    pub fn state(&self) -> &ProxyState {
        self.tracker.state()
    }
}

/// A UDP entry from `client` to `dst`, answered by `reply_src` (the endpoint it was DNATed
/// to, or `dst` itself when nothing translated it).
pub fn udp(client: SocketAddr, dst: SocketAddr, reply_src: SocketAddr) -> Entry {
    entry(Protocol::Udp, client, dst, reply_src)
}

/// An entry of `protocol` (see [`udp`]).
pub fn entry(
    protocol: Protocol,
    client: SocketAddr,
    dst: SocketAddr,
    reply_src: SocketAddr,
) -> Entry {
    Entry::new(
        protocol,
        Flow::new(client, dst),
        Flow::new(reply_src, client),
    )
}
