//! The backend-neutral model: service ports, endpoints and the node, already validated.

mod endpoint;
mod node;
mod service_port;

pub use endpoint::Endpoint;
pub use node::{NodeInfo, ZONE_LABEL};
pub use service_port::{
    DEFAULT_AFFINITY_TIMEOUT_SECONDS, ServiceKey, ServicePort, ServicePortName, SessionAffinity,
    SourceRanges, TrafficDistribution, TrafficPolicy,
};

use std::fmt;
use std::net::IpAddr;

/// An IP family. svcproxy programs each family separately, like the kernel's `ip`/`ip6` tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpFamily {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl IpFamily {
    /// Both families, IPv4 first.
    pub const ALL: [IpFamily; 2] = [IpFamily::V4, IpFamily::V6];

    /// The family of an address.
    pub fn of(ip: &IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => IpFamily::V4,
            IpAddr::V6(_) => IpFamily::V6,
        }
    }

    /// Whether `ip` belongs to this family.
    pub fn contains(self, ip: &IpAddr) -> bool {
        IpFamily::of(ip) == self
    }
}

impl fmt::Display for IpFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IpFamily::V4 => "IPv4",
            IpFamily::V6 => "IPv6",
        })
    }
}

/// A transport protocol a service port can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// Parses the Kubernetes spelling (`TCP`, `UDP`, `SCTP`); `None` for anything else.
    pub fn from_k8s(s: &str) -> Option<Self> {
        match s {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            _ => None,
        }
    }

    /// Whether conntrack keeps entries for this protocol that outlive an endpoint (UDP, SCTP),
    /// so a removed endpoint leaves stale entries that must be cleared.
    pub fn is_connectionless(self) -> bool {
        matches!(self, Protocol::Udp | Protocol::Sctp)
    }

    /// The lowercase name used in rules: `tcp`, `udp`, `sctp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
