//! Where each service frontend must send a packet, independently of any backend: the oracle of
//! the backends' plan checkers (`backend_nft::check`, `backend_iptables::check`).
//!
//! For every service port of a [`ProxyState`] and every family the node programs, [`expected`]
//! lists its frontends (cluster IP, external IPs, load-balancer IPs, node port), a packet to
//! each from a pod and from outside the cluster, and the outcomes the packet may have:
//!
//! - no usable endpoint at all: [`Outcome::Reject`];
//! - a load-balancer IP with source ranges the source is outside of: [`Outcome::Drop`];
//! - a `Local` policy that leaves no endpoint: [`Outcome::Drop`] (pods reaching an external
//!   frontend of an ETP `Local` service short-circuit to every endpoint instead);
//! - otherwise exactly one [`Outcome::Dnat`] per endpoint of the set the policy picks
//!   ([`proxy_core::topology::categorize`]), each reachable by some random choice.
//!
//! A backend's tracer walks its planned ruleset with the same packet and returns every outcome
//! some random choice leads to; [`check`] compares. Frontends that collide (two service ports, or
//! two roles of one, answering the same address, protocol and port) are not checked: no ruleset
//! can route one packet two ways, and the API server forbids such inputs.
//!
//! What the model leaves out: traffic from the node itself, filtering after DNAT (endpoints are
//! assumed not to be service addresses), masquerading, and remembered ClientIP affinity.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipnet::IpNet;
use proxy_core::ProxyState;
use proxy_core::model::{
    Endpoint, IpFamily, Protocol, ServicePort, ServicePortName, SourceRanges, TrafficPolicy,
};
use proxy_core::topology::categorize;

/// The node-level settings both backends share, as far as routing depends on them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    /// The node's IPs (its local addresses); also select the families programmed (none: both).
    pub node_ips: Vec<IpAddr>,
    /// Pod CIDRs (sources inside are pods).
    pub cluster_cidrs: Vec<IpNet>,
    /// Node ports on the primary node IP (`None`) or on local addresses in these CIDRs.
    pub nodeport_cidrs: Option<Vec<IpNet>>,
}

impl Node {
    /// The families programmed: those of the node IPs, or both when none is given.
    pub fn families(&self) -> Vec<IpFamily> {
        let fams: Vec<IpFamily> = IpFamily::ALL
            .into_iter()
            .filter(|f| self.node_ips.iter().any(|ip| f.contains(ip)))
            .collect();
        if fams.is_empty() {
            IpFamily::ALL.to_vec()
        } else {
            fams
        }
    }

    /// Whether `ip` is one of the node's own addresses.
    pub fn is_local(&self, ip: IpAddr) -> bool {
        self.node_ips.contains(&ip)
    }

    /// The address node ports are reached on in `family`, if the family serves them.
    pub fn nodeport_addr(&self, family: IpFamily) -> Option<IpAddr> {
        let mut ips = self
            .node_ips
            .iter()
            .copied()
            .filter(|ip| family.contains(ip));
        match &self.nodeport_cidrs {
            None => ips.next(),
            Some(nets) => ips.find(|ip| !ip.is_loopback() && nets.iter().any(|n| n.contains(ip))),
        }
    }

    /// A pod address of `family` (inside the first pod CIDR, not a node address), if any.
    fn pod_source(&self, family: IpFamily) -> Option<IpAddr> {
        let net = self
            .cluster_cidrs
            .iter()
            .find(|n| family.contains(&n.addr()))?;
        net.hosts().find(|ip| !self.is_local(*ip))
    }

    /// An address of `family` outside the pod CIDRs and the node, if one of a few candidates is.
    fn external_source(&self, family: IpFamily) -> Option<IpAddr> {
        let candidates: [IpAddr; 3] = match family {
            IpFamily::V4 => [
                Ipv4Addr::new(198, 18, 7, 7).into(),
                Ipv4Addr::new(100, 64, 7, 7).into(),
                Ipv4Addr::new(192, 0, 2, 7).into(),
            ],
            IpFamily::V6 => [
                Ipv6Addr::new(0x2001, 0xdb8, 0x77, 0, 0, 0, 0, 7).into(),
                Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 7).into(),
                Ipv6Addr::new(0x2001, 0xdb8, 0x78, 0, 0, 0, 0, 7).into(),
            ],
        };
        candidates
            .into_iter()
            .find(|ip| !self.is_local(*ip) && !self.cluster_cidrs.iter().any(|n| n.contains(ip)))
    }
}

/// A packet arriving at the node (prerouting), the first of a new connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Packet {
    /// Its source address.
    pub src: IpAddr,
    /// Its destination address.
    pub dst: IpAddr,
    /// Its protocol.
    pub proto: Protocol,
    /// Its destination port.
    pub dport: u16,
}

impl Packet {
    /// The packet's family.
    pub fn family(&self) -> IpFamily {
        IpFamily::of(&self.dst)
    }
}

impl fmt::Display for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dst = SocketAddr::new(self.dst, self.dport);
        write!(f, "{} {} -> {dst}", self.proto, self.src)
    }
}

/// What happens to a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// Destination-NATed to this endpoint.
    Dnat(SocketAddr),
    /// Silently dropped.
    Drop,
    /// Rejected (ICMP unreachable or TCP reset).
    Reject,
    /// Left alone: delivered (or routed) as it is.
    Accept,
}

/// Which kind of frontend a packet is addressed to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// The cluster IP (internal traffic policy).
    ClusterIp,
    /// An external IP (external traffic policy).
    ExternalIp,
    /// A load-balancer IP (external traffic policy, source ranges).
    LoadBalancerIp,
    /// The node port on a node-port address (external traffic policy).
    NodePort,
}

/// One frontend of one service port, a packet to it, and what may become of the packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectation {
    /// The service port.
    pub port: ServicePortName,
    /// The kind of frontend.
    pub role: Role,
    /// The packet.
    pub packet: Packet,
    /// Every outcome allowed, and each one must be possible.
    pub outcomes: BTreeSet<Outcome>,
}

impl fmt::Display for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?} {}", self.port, self.role, self.packet)
    }
}

/// What a packet is addressed to: address, protocol, port.
type Frontend = (IpAddr, Protocol, u16);

/// The expectations of every frontend of `state` that no other frontend collides with.
pub fn expected(state: &ProxyState, node: &Node) -> Vec<Expectation> {
    let mut all = Vec::new();
    for family in node.families() {
        for (name, svc) in &state.services {
            let eps: Vec<Endpoint> = state
                .endpoints_of(name)
                .iter()
                .filter(|e| family.contains(&e.ip))
                .cloned()
                .collect();
            all.extend(port_expectations(state, node, family, svc, &eps));
        }
    }
    // A packet claimed by two frontends (or two roles of one) is not checked.
    let mut claims: BTreeMap<Frontend, BTreeSet<(&ServicePortName, Role)>> = BTreeMap::new();
    for e in &all {
        let key = (e.packet.dst, e.packet.proto, e.packet.dport);
        claims.entry(key).or_default().insert((&e.port, e.role));
    }
    let unique: BTreeSet<Frontend> = claims
        .iter()
        .filter(|(_, owners)| owners.len() == 1)
        .map(|(k, _)| *k)
        .collect();
    all.iter()
        .filter(|e| unique.contains(&(e.packet.dst, e.packet.proto, e.packet.dport)))
        .cloned()
        .collect()
}

/// The sets of endpoints one service port uses in one family.
struct Sets {
    has_endpoints: bool,
    internal: Vec<SocketAddr>,
    cluster: Vec<SocketAddr>,
    local: Vec<SocketAddr>,
}

fn sets(state: &ProxyState, svc: &ServicePort, eps: &[Endpoint]) -> Sets {
    let c = categorize(eps, svc, &state.node);
    let addrs = |set: &Option<Vec<&Endpoint>>| -> Vec<SocketAddr> {
        set.iter().flatten().map(|e| e.addr()).collect()
    };
    let (cluster, local) = (addrs(&c.cluster), addrs(&c.local));
    Sets {
        has_endpoints: c.has_any_endpoints,
        internal: if svc.internal_traffic_policy == TrafficPolicy::Local {
            local.clone()
        } else {
            cluster.clone()
        },
        cluster,
        local,
    }
}

fn dnat(addrs: &[SocketAddr]) -> BTreeSet<Outcome> {
    addrs.iter().map(|a| Outcome::Dnat(*a)).collect()
}

/// The expectations of one service port's frontends in `family`, collisions not yet removed.
fn port_expectations(
    state: &ProxyState,
    node: &Node,
    family: IpFamily,
    svc: &ServicePort,
    eps: &[Endpoint],
) -> Vec<Expectation> {
    let Some(cluster_ip) = svc.cluster_ip(family) else {
        return Vec::new();
    };
    let s = sets(state, svc, eps);
    let sources: Vec<(bool, IpAddr)> = [
        node.pod_source(family).map(|ip| (true, ip)),
        node.external_source(family).map(|ip| (false, ip)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let lb: BTreeSet<IpAddr> = svc.load_balancer_ips(family).collect();
    let mut frontends = vec![(Role::ClusterIp, cluster_ip, svc.port)];
    frontends.extend(
        svc.external_ips(family)
            .filter(|ip| !lb.contains(ip))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .map(|ip| (Role::ExternalIp, ip, svc.port)),
    );
    frontends.extend(lb.iter().map(|ip| (Role::LoadBalancerIp, *ip, svc.port)));
    if let (Some(np), Some(addr)) = (svc.node_port, node.nodeport_addr(family)) {
        frontends.push((Role::NodePort, addr, np));
    }
    let mut out = Vec::new();
    for (role, dst, dport) in frontends {
        for &(is_pod, src) in &sources {
            let packet = Packet {
                src,
                dst,
                proto: svc.protocol(),
                dport,
            };
            let outcomes = outcomes(svc, &s, family, role, is_pod, src);
            out.push(Expectation {
                port: svc.name.clone(),
                role,
                packet,
                outcomes,
            });
        }
    }
    out
}

/// What may become of a packet from `src` (a pod or not) to a frontend of `role`.
fn outcomes(
    svc: &ServicePort,
    s: &Sets,
    family: IpFamily,
    role: Role,
    is_pod: bool,
    src: IpAddr,
) -> BTreeSet<Outcome> {
    let only = |o: Outcome| BTreeSet::from([o]);
    if !s.has_endpoints {
        return only(Outcome::Reject);
    }
    if role == Role::ClusterIp {
        return if s.internal.is_empty() {
            only(Outcome::Drop)
        } else {
            dnat(&s.internal)
        };
    }
    if role == Role::LoadBalancerIp
        && let SourceRanges::Only(_) = &svc.source_ranges
    {
        let ranges = svc.source_ranges.for_family(family).unwrap_or_default();
        if !ranges.iter().any(|r| r.contains(&src)) {
            return only(Outcome::Drop);
        }
    }
    if !svc.external_policy_local() || is_pod {
        return dnat(&s.cluster);
    }
    if s.local.is_empty() {
        only(Outcome::Drop)
    } else {
        dnat(&s.local)
    }
}

/// Traces every expectation of `state` with `trace` (a backend's tracer over its planned
/// ruleset) and returns one message per frontend whose outcomes differ (empty: all routed).
pub fn check(
    state: &ProxyState,
    node: &Node,
    mut trace: impl FnMut(&Packet) -> Result<BTreeSet<Outcome>, String>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for e in expected(state, node) {
        match trace(&e.packet) {
            Ok(got) if got == e.outcomes => {}
            Ok(got) => problems.push(format!(
                "{e}: expected {:?}, the ruleset gives {:?}",
                e.outcomes, got
            )),
            Err(why) => problems.push(format!("{e}: cannot trace: {why}")),
        }
    }
    problems
}
