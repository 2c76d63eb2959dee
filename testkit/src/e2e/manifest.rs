//! YAML builders for the Services and EndpointSlices the end-to-end cases program.

use std::fmt::Write as _;
use std::net::IpAddr;

/// One endpoint of a slice: its address and the node it runs on.
#[derive(Clone, Debug)]
pub struct Ep {
    /// The endpoint's IP (a pod IP).
    pub ip: IpAddr,
    /// The node it runs on (`node-a` is the node under test).
    pub node: &'static str,
}

/// A Service of the `e2e` namespace with one port.
#[derive(Clone, Debug)]
pub struct Svc {
    /// The service name.
    pub name: &'static str,
    /// Its cluster IPs, primary first.
    pub cluster_ips: Vec<IpAddr>,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: &'static str,
    /// The service port.
    pub port: u16,
    /// The target port (the pods' servers listen there).
    pub target_port: u16,
    /// The node port, making it a NodePort service.
    pub node_port: Option<u16>,
    /// Extra `spec` fields, as YAML lines indented by two spaces (e.g. `  sessionAffinity: ClientIP`).
    pub extra_spec: Vec<String>,
    /// The endpoints (an empty list still gets a slice with no endpoints).
    pub endpoints: Vec<Ep>,
}

impl Svc {
    /// A ClusterIP service `name` on `cluster_ip:port/protocol` with targets on `target_port`.
    pub fn new(
        name: &'static str,
        cluster_ip: IpAddr,
        protocol: &'static str,
        port: u16,
        target_port: u16,
    ) -> Svc {
        Svc {
            name,
            cluster_ips: vec![cluster_ip],
            protocol,
            port,
            target_port,
            node_port: None,
            extra_spec: Vec::new(),
            endpoints: Vec::new(),
        }
    }

    /// The same service with these endpoints.
    pub fn endpoints(mut self, eps: impl IntoIterator<Item = Ep>) -> Svc {
        self.endpoints = eps.into_iter().collect();
        self
    }

    /// The same service with an extra `spec` line (two-space indent added here).
    pub fn spec(mut self, line: &str) -> Svc {
        self.extra_spec.push(format!("  {line}"));
        self
    }

    /// The same service as a NodePort on `node_port`.
    pub fn node_port(mut self, node_port: u16) -> Svc {
        self.node_port = Some(node_port);
        self
    }
}

/// The YAML of every service and one EndpointSlice per service and family.
pub fn render(services: &[Svc]) -> String {
    let mut out = String::new();
    for svc in services {
        render_service(&mut out, svc);
        for v6 in [false, true] {
            let eps: Vec<&Ep> = svc
                .endpoints
                .iter()
                .filter(|e| e.ip.is_ipv6() == v6)
                .collect();
            let has_family = svc.cluster_ips.iter().any(|ip| ip.is_ipv6() == v6);
            if has_family {
                render_slice(&mut out, svc, v6, &eps);
            }
        }
    }
    out
}

fn render_service(out: &mut String, svc: &Svc) {
    let ips: Vec<String> = svc
        .cluster_ips
        .iter()
        .map(|ip| format!("\"{ip}\""))
        .collect();
    let families: Vec<&str> = svc
        .cluster_ips
        .iter()
        .map(|ip| if ip.is_ipv6() { "IPv6" } else { "IPv4" })
        .collect();
    let kind = if svc.node_port.is_some() {
        "NodePort"
    } else {
        "ClusterIP"
    };
    let node_port = svc
        .node_port
        .map(|p| format!(", nodePort: {p}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "---\napiVersion: v1\nkind: Service\nmetadata: {{namespace: e2e, name: {name}}}\nspec:\n  type: {kind}\n  clusterIP: {first}\n  clusterIPs: [{ips}]\n  ipFamilies: [{families}]\n  ports:\n  - {{name: p, protocol: {proto}, port: {port}, targetPort: {target}{node_port}}}",
        name = svc.name,
        first = ips[0],
        ips = ips.join(", "),
        families = families.join(", "),
        proto = svc.protocol,
        port = svc.port,
        target = svc.target_port,
    );
    for line in &svc.extra_spec {
        let _ = writeln!(out, "{line}");
    }
}

fn render_slice(out: &mut String, svc: &Svc, v6: bool, eps: &[&Ep]) {
    let (family, suffix) = if v6 { ("IPv6", "v6") } else { ("IPv4", "v4") };
    let _ = writeln!(
        out,
        "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  namespace: e2e\n  name: {name}-{suffix}\n  labels: {{kubernetes.io/service-name: {name}}}\naddressType: {family}\nports: [{{name: p, protocol: {proto}, port: {target}}}]\nendpoints:{empty}",
        name = svc.name,
        proto = svc.protocol,
        target = svc.target_port,
        empty = if eps.is_empty() { " []" } else { "" },
    );
    for ep in eps {
        let _ = writeln!(
            out,
            "- {{addresses: [\"{}\"], nodeName: {}}}",
            ep.ip, ep.node
        );
    }
}
