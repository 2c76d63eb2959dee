//! The node-level configuration the rules depend on, and its view for one IP family.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::NodePortAddresses;
use crate::model::{IpFamily, NodeInfo};

/// How traffic from this node's pods is told apart (kube-proxy's `detectLocalMode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LocalDetection {
    /// From the cluster's pod network, [`NodeConfig::cluster_cidrs`].
    #[default]
    #[serde(rename = "ClusterCIDR")]
    ClusterCidr,
    /// From this node's pod CIDRs, the Node's `spec.podCIDRs` ([`NodeInfo::pod_cidrs`]).
    #[serde(rename = "NodeCIDR")]
    NodeCidr,
}

impl LocalDetection {
    /// Every mode.
    pub const ALL: [LocalDetection; 2] = [LocalDetection::ClusterCidr, LocalDetection::NodeCidr];

    /// The mode's name, as kube-proxy spells it.
    pub fn name(self) -> &'static str {
        match self {
            LocalDetection::ClusterCidr => "ClusterCIDR",
            LocalDetection::NodeCidr => "NodeCIDR",
        }
    }
}

impl std::fmt::Display for LocalDetection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for LocalDetection {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LocalDetection::ALL
            .into_iter()
            .find(|mode| mode.name() == s)
            .ok_or_else(|| format!("unknown local detection mode {s:?}: ClusterCIDR or NodeCIDR"))
    }
}

/// The node-level settings every backend's rules depend on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NodeConfig {
    /// The node's primary IP per family; also selects the families programmed (none: both).
    pub node_ips: Vec<IpAddr>,
    /// Pod CIDRs: traffic from elsewhere to a cluster IP is masqueraded (empty: pod traffic
    /// cannot be told apart). With [`LocalDetection::NodeCidr`], [`NodeConfig::for_node`]
    /// sets them to the node's pod CIDRs.
    pub cluster_cidrs: Vec<IpNet>,
    /// Where [`NodeConfig::cluster_cidrs`] come from.
    pub detect_local: LocalDetection,
    /// Service CIDRs: traffic to an address in them that no service uses is refused (empty:
    /// no such check).
    pub service_cidrs: Vec<IpNet>,
    /// Where node ports are served.
    pub nodeport_addresses: NodePortAddresses,
    /// Masquerade all traffic to cluster IPs.
    pub masquerade_all: bool,
}

impl NodeConfig {
    /// This configuration completed from what is known of the node: its IPs when none are
    /// configured, and its pod CIDRs as the pod network with [`LocalDetection::NodeCidr`].
    /// Each datapath calls it at each sync, so a change of the Node takes effect.
    pub fn for_node(&self, node: &NodeInfo) -> NodeConfig {
        let mut config = self.clone();
        if config.node_ips.is_empty() {
            config.node_ips = node.ips.clone();
        }
        if config.detect_local == LocalDetection::NodeCidr {
            config.cluster_cidrs = node.pod_cidrs.clone();
        }
        config
    }

    /// The families to program: those of the node IPs, or both when none is given.
    pub fn families(&self) -> Vec<IpFamily> {
        let families: Vec<IpFamily> = IpFamily::ALL
            .into_iter()
            .filter(|f| self.node_ips.iter().any(|ip| f.contains(ip)))
            .collect();
        if families.is_empty() {
            IpFamily::ALL.to_vec()
        } else {
            families
        }
    }

    /// The configuration as `family` sees it.
    pub fn family(&self, family: IpFamily) -> FamilyView {
        let node_ips: Vec<IpAddr> = self
            .node_ips
            .iter()
            .copied()
            .filter(|ip| family.contains(ip))
            .collect();
        let nodeports = match &self.nodeport_addresses {
            NodePortAddresses::Primary => node_ips
                .first()
                .map_or(NodePorts::None, |ip| NodePorts::Primary(*ip)),
            NodePortAddresses::Cidrs(cidrs) => {
                let nets = nets_of(family, cidrs);
                if nets.iter().any(|n| n.prefix_len() == 0) {
                    NodePorts::AllLocal
                } else if nets.is_empty() {
                    NodePorts::None
                } else {
                    NodePorts::Cidrs(nets)
                }
            }
        };
        FamilyView {
            family,
            node_ips,
            cluster_cidrs: nets_of(family, &self.cluster_cidrs),
            service_cidrs: nets_of(family, &self.service_cidrs),
            nodeports,
            masquerade_all: self.masquerade_all,
        }
    }
}

/// The CIDRs of `family` in `nets`, host bits cleared, aggregated (sorted, overlaps merged).
fn nets_of(family: IpFamily, nets: &[IpNet]) -> Vec<IpNet> {
    let own: Vec<IpNet> = nets
        .iter()
        .filter(|n| family.contains(&n.addr()))
        .map(IpNet::trunc)
        .collect();
    IpNet::aggregate(&own)
}

/// Which traffic of a family is node-port traffic, by destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodePorts {
    /// None: the family serves no node ports.
    None,
    /// Every local address except loopback.
    AllLocal,
    /// The node's primary IP of the family.
    Primary(IpAddr),
    /// Local addresses inside these CIDRs (aggregated, none of them a `/0`), except loopback.
    Cidrs(Vec<IpNet>),
}

/// A [`NodeConfig`] narrowed to one family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FamilyView {
    /// The family.
    pub family: IpFamily,
    /// The node IPs of the family (at most one, the primary, in a validated configuration).
    pub node_ips: Vec<IpAddr>,
    /// The pod CIDRs of the family, aggregated.
    pub cluster_cidrs: Vec<IpNet>,
    /// The service CIDRs of the family, aggregated.
    pub service_cidrs: Vec<IpNet>,
    /// Where the family's node ports are served.
    pub nodeports: NodePorts,
    /// Masquerade all traffic to cluster IPs.
    pub masquerade_all: bool,
}
