//! A service port: one (service, port) pair with everything needed to program it.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use super::{IpFamily, Protocol};

/// The default ClientIP affinity timeout (3 hours), as in the Kubernetes API.
pub const DEFAULT_AFFINITY_TIMEOUT_SECONDS: u32 = 10_800;

/// A service's identity: `namespace/name`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceKey {
    /// The service's namespace.
    pub namespace: String,
    /// The service's name.
    pub name: String,
}

impl ServiceKey {
    /// The key of service `namespace/name`.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ServiceKey {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A service port's identity: `namespace/name:portname/protocol`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServicePortName {
    /// The service.
    pub service: ServiceKey,
    /// The port's name (empty for a service with a single unnamed port).
    pub port: String,
    /// The port's protocol.
    pub protocol: Protocol,
}

impl ServicePortName {
    /// The identity of port `port`/`protocol` of service `namespace/name`.
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        port: impl Into<String>,
        protocol: Protocol,
    ) -> Self {
        ServicePortName {
            service: ServiceKey::new(namespace, name),
            port: port.into(),
            protocol,
        }
    }
}

impl fmt::Display for ServicePortName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}/{}", self.service, self.port, self.protocol)
    }
}

/// `externalTrafficPolicy` / `internalTrafficPolicy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TrafficPolicy {
    /// Any ready endpoint in the cluster.
    #[default]
    Cluster,
    /// Only endpoints on this node.
    Local,
}

/// `spec.trafficDistribution`: a preference for topologically close endpoints.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TrafficDistribution {
    /// `PreferClose`: same zone when the zone hints allow it.
    PreferClose,
    /// `PreferSameZone`: the newer spelling of `PreferClose`.
    PreferSameZone,
    /// `PreferSameNode`: same node when node hints allow it, else same zone.
    PreferSameNode,
    /// A value this version does not know; treated as no preference.
    Other(String),
}

/// `spec.sessionAffinity: ClientIP` with its timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SessionAffinity {
    /// How long a client stays pinned to its endpoint after its last packet, in seconds.
    pub timeout_seconds: u32,
}

/// Who may reach a service's load-balancer IPs (`spec.loadBalancerSourceRanges`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum SourceRanges {
    /// No ranges given: every source is allowed.
    #[default]
    Any,
    /// Only these ranges are allowed. An empty list (every given range was invalid) or a family
    /// with no range in the list denies that family entirely: svcproxy fails closed.
    Only(Vec<IpNet>),
}

impl SourceRanges {
    /// The allowed ranges of `family`, or `None` when the service is not restricted.
    pub fn for_family(&self, family: IpFamily) -> Option<Vec<IpNet>> {
        match self {
            SourceRanges::Any => None,
            SourceRanges::Only(nets) => Some(
                nets.iter()
                    .filter(|n| IpFamily::of(&n.addr()) == family)
                    .copied()
                    .collect(),
            ),
        }
    }
}

/// One port of one service, validated, with every address family it serves.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServicePort {
    /// The identity.
    pub name: ServicePortName,
    /// The cluster IPs, at most one per family, primary family first.
    pub cluster_ips: Vec<IpAddr>,
    /// The service port number.
    pub port: u16,
    /// The allocated node port, if any (`type: NodePort` / `LoadBalancer`).
    pub node_port: Option<u16>,
    /// `spec.externalIPs`.
    pub external_ips: Vec<IpAddr>,
    /// `status.loadBalancer.ingress[].ip`.
    pub load_balancer_ips: Vec<IpAddr>,
    /// `spec.loadBalancerSourceRanges`.
    pub source_ranges: SourceRanges,
    /// `spec.sessionAffinity: ClientIP`, if set.
    pub session_affinity: Option<SessionAffinity>,
    /// `spec.externalTrafficPolicy` (only meaningful when externally accessible).
    pub external_traffic_policy: TrafficPolicy,
    /// `spec.internalTrafficPolicy`.
    pub internal_traffic_policy: TrafficPolicy,
    /// `spec.healthCheckNodePort`, if any.
    pub health_check_node_port: Option<u16>,
    /// `spec.trafficDistribution`, if set.
    pub traffic_distribution: Option<TrafficDistribution>,
}

impl ServicePort {
    /// A TCP/UDP/SCTP service port with only a cluster IP; the other fields at their defaults.
    /// Handy for tests and custom sources.
    pub fn new(name: ServicePortName, cluster_ip: IpAddr, port: u16) -> Self {
        ServicePort {
            name,
            cluster_ips: vec![cluster_ip],
            port,
            node_port: None,
            external_ips: Vec::new(),
            load_balancer_ips: Vec::new(),
            source_ranges: SourceRanges::Any,
            session_affinity: None,
            external_traffic_policy: TrafficPolicy::Cluster,
            internal_traffic_policy: TrafficPolicy::Cluster,
            health_check_node_port: None,
            traffic_distribution: None,
        }
    }

    /// The protocol.
    pub fn protocol(&self) -> Protocol {
        self.name.protocol
    }

    /// The cluster IP of `family`, if the service has one.
    pub fn cluster_ip(&self, family: IpFamily) -> Option<IpAddr> {
        self.cluster_ips
            .iter()
            .copied()
            .find(|ip| family.contains(ip))
    }

    /// The external IPs of `family`.
    pub fn external_ips(&self, family: IpFamily) -> impl Iterator<Item = IpAddr> + '_ {
        self.external_ips
            .iter()
            .copied()
            .filter(move |ip| family.contains(ip))
    }

    /// The load-balancer ingress IPs of `family`.
    pub fn load_balancer_ips(&self, family: IpFamily) -> impl Iterator<Item = IpAddr> + '_ {
        self.load_balancer_ips
            .iter()
            .copied()
            .filter(move |ip| family.contains(ip))
    }

    /// Whether traffic from outside the cluster can reach it: a node port, an external IP or a
    /// load-balancer IP.
    pub fn externally_accessible(&self) -> bool {
        self.node_port.is_some()
            || !self.external_ips.is_empty()
            || !self.load_balancer_ips.is_empty()
    }

    /// Whether external traffic goes only to local endpoints (ETP Local on an externally
    /// accessible service, as upstream's `ExternalPolicyLocal`).
    pub fn external_policy_local(&self) -> bool {
        self.externally_accessible() && self.external_traffic_policy == TrafficPolicy::Local
    }

    /// Whether cluster traffic goes only to local endpoints (ITP Local).
    pub fn internal_policy_local(&self) -> bool {
        self.internal_traffic_policy == TrafficPolicy::Local
    }
}
