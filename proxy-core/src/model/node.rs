//! What svcproxy knows about the node it runs on.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

use super::IpFamily;

/// The label holding a node's zone.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

/// The node svcproxy programs: its name, addresses, labels and pod CIDRs, and whether it is
/// going away.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeInfo {
    /// The node's name (matched against endpoints' `nodeName` to find local endpoints).
    pub name: String,
    /// The node's IPs, at most one primary per family first.
    pub ips: Vec<IpAddr>,
    /// The node's labels (the zone label drives topology-aware routing).
    pub labels: BTreeMap<String, String>,
    /// The node's pod CIDRs (`spec.podCIDRs`): the pods on this node, for telling local pod
    /// traffic by node CIDR.
    pub pod_cidrs: Vec<IpNet>,
    /// Whether the Node is being deleted (its `deletionTimestamp` is set, or it was deleted
    /// from the API server). The node keeps its rules; health checks report it.
    pub deleting: bool,
}

impl NodeInfo {
    /// A node called `name` with no addresses or labels yet.
    pub fn new(name: impl Into<String>) -> Self {
        NodeInfo {
            name: name.into(),
            ..NodeInfo::default()
        }
    }

    /// The node's zone, from the `topology.kubernetes.io/zone` label.
    pub fn zone(&self) -> Option<&str> {
        self.labels.get(ZONE_LABEL).map(String::as_str)
    }

    /// The node's primary IP of `family`.
    pub fn primary_ip(&self, family: IpFamily) -> Option<IpAddr> {
        self.ips.iter().copied().find(|ip| family.contains(ip))
    }
}
