//! Names of svcproxy's nftables objects: the table, the static chains, the shared sets and maps
//! and the shared per-endpoint-count chains.
//!
//! Every name is static or derived from a small number (an endpoint count): there are no
//! per-service chains and no hashes. Element comments name the service port they belong to.

use std::fmt;

use proxy_core::model::ServicePortName;

use crate::ir::MAX_COMMENT;

/// The table svcproxy owns in each family (`ip svcproxy`, `ip6 svcproxy`).
pub const TABLE: &str = "svcproxy";

/// `filter prerouting` at dstnat-10: firewall (source ranges) before DNAT.
pub const FILTER_PREROUTING: &str = "filter-prerouting";
/// `filter input` at dstnat-10: no-endpoint checks for node ports and services.
pub const FILTER_INPUT: &str = "filter-input";
/// `filter forward` at dstnat-10: no-endpoint checks and the cluster-IP check.
pub const FILTER_FORWARD: &str = "filter-forward";
/// `filter output` at dstnat-10: no-endpoint checks and firewall for local traffic.
pub const FILTER_OUTPUT: &str = "filter-output";
/// `filter output` at dstnat+10: the cluster-IP check after DNAT of local traffic.
pub const FILTER_OUTPUT_POST_DNAT: &str = "filter-output-post-dnat";
/// `filter prerouting` at dstnat+10: records ClientIP affinity after DNAT.
pub const FILTER_PREROUTING_POST_DNAT: &str = "filter-prerouting-post-dnat";
/// `nat prerouting` at dstnat: service dispatch.
pub const NAT_PREROUTING: &str = "nat-prerouting";
/// `nat output` at dstnat: service dispatch for local traffic.
pub const NAT_OUTPUT: &str = "nat-output";
/// `nat postrouting` at srcnat: masquerading.
pub const NAT_POSTROUTING: &str = "nat-postrouting";

/// Drops traffic to load-balancer IPs from sources outside the service's ranges.
pub const FIREWALL_CHECK: &str = "firewall-check";
/// Rejects or drops traffic to service IPs without usable endpoints.
pub const SERVICE_ENDPOINTS_CHECK: &str = "service-endpoints-check";
/// Rejects or drops traffic to node ports without usable endpoints.
pub const NODEPORT_ENDPOINTS_CHECK: &str = "nodeport-endpoints-check";
/// Rejects traffic to a cluster IP on an unused port, drops unallocated service-CIDR addresses.
pub const CLUSTER_IPS_CHECK: &str = "cluster-ips-check";
/// `reject`, reached by `goto` from verdict maps (reject is not a map verdict).
pub const REJECT_CHAIN: &str = "reject-chain";
/// Sets the masquerade bit of the packet mark.
pub const MARK_FOR_MASQUERADE: &str = "mark-for-masquerade";
/// Masquerades marked packets (and hairpin traffic).
pub const MASQUERADING: &str = "masquerading";
/// Service dispatch: the `service-ips` and `service-nodeports` verdict-map lookups.
pub const SERVICES: &str = "services";
/// After DNAT: sends new connections to ClientIP-affinity frontends to their recording chain.
pub const AFFINITY_CHECK: &str = "affinity-check";

/// The size bound of the dynamic `affinity` map (per family).
pub const AFFINITY_SIZE: u32 = 262_144;

/// The packet-mark bit that asks for masquerade (kube-proxy's `0x4000`).
pub const MASQUERADE_MARK: u32 = 0x4000;

/// The shared sets and maps, one of each per family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SetName {
    /// `cluster-cidrs`: pod CIDRs (interval); sources outside are "off-cluster".
    ClusterCidrs,
    /// `service-cidrs`: service CIDRs (interval); unallocated addresses are dropped.
    ServiceCidrs,
    /// `nodeport-ips`: addresses or CIDRs node ports are served on (interval).
    NodeportIps,
    /// `cluster-ips`: every cluster IP in use.
    ClusterIps,
    /// `service-ips`: `addr . proto . port` -> `goto` a shared endpoints chain.
    ServiceIps,
    /// `service-nodeports`: `proto . port` -> `goto` a shared node-port chain.
    ServiceNodeports,
    /// `service-endpoints`: `frontend addr . proto . port . slot` -> `endpoint addr . port`.
    ServiceEndpoints,
    /// `nodeport-endpoints`: `proto . port . slot` -> `endpoint addr . port`.
    NodeportEndpoints,
    /// `local-endpoint-ips`: ETP Local frontends with local endpoints -> `goto local-endpoints-N`.
    LocalEndpointIps,
    /// `local-endpoints`: ETP Local frontends' local endpoints by slot.
    LocalEndpoints,
    /// `local-nodeports`: ETP Local node ports with local endpoints -> `goto nodeport-local-endpoints-N`.
    LocalNodeports,
    /// `nodeport-local-endpoints`: ETP Local node ports' local endpoints by slot.
    NodeportLocalEndpoints,
    /// `no-endpoint-services`: `addr . proto . port` -> `goto reject-chain` or `drop`.
    NoEndpointServices,
    /// `no-endpoint-nodeports`: `proto . port` -> `goto reject-chain` or `drop`.
    NoEndpointNodeports,
    /// `firewall-ips`: load-balancer frontends restricted by source ranges.
    FirewallIps,
    /// `firewall-allow`: `lb addr . proto . port . source range` (interval) allowed through.
    FirewallAllow,
    /// `hairpin-endpoints`: `endpoint . endpoint` pairs: a pod that reached itself via a service.
    HairpinEndpoints,
    /// `affinity`: `client . frontend addr . proto . port` -> `endpoint addr . port`, written by
    /// the packet path (dynamic, timeout): the ClientIP affinity memory.
    Affinity,
    /// `affinity-frontends`: frontends with ClientIP affinity -> `goto affinity-<timeout>`.
    AffinityFrontends,
    /// `affinity-nodeports`: node ports with ClientIP affinity -> `goto nodeport-affinity-<timeout>`.
    AffinityNodeports,
    /// `affinity-backends`: `frontend . endpoint` pairs an affinity frontend may be pinned to.
    AffinityBackends,
    /// `affinity-nodeport-backends`: `proto . node port . endpoint` pairs, likewise.
    AffinityNodeportBackends,
}

impl SetName {
    /// Every shared set, in declaration order.
    pub const ALL: [SetName; 22] = [
        SetName::ClusterCidrs,
        SetName::ServiceCidrs,
        SetName::NodeportIps,
        SetName::ClusterIps,
        SetName::ServiceIps,
        SetName::ServiceNodeports,
        SetName::ServiceEndpoints,
        SetName::NodeportEndpoints,
        SetName::LocalEndpointIps,
        SetName::LocalEndpoints,
        SetName::LocalNodeports,
        SetName::NodeportLocalEndpoints,
        SetName::NoEndpointServices,
        SetName::NoEndpointNodeports,
        SetName::FirewallIps,
        SetName::FirewallAllow,
        SetName::HairpinEndpoints,
        SetName::Affinity,
        SetName::AffinityFrontends,
        SetName::AffinityNodeports,
        SetName::AffinityBackends,
        SetName::AffinityNodeportBackends,
    ];

    /// The set's name in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            SetName::ClusterCidrs => "cluster-cidrs",
            SetName::ServiceCidrs => "service-cidrs",
            SetName::NodeportIps => "nodeport-ips",
            SetName::ClusterIps => "cluster-ips",
            SetName::ServiceIps => "service-ips",
            SetName::ServiceNodeports => "service-nodeports",
            SetName::ServiceEndpoints => "service-endpoints",
            SetName::NodeportEndpoints => "nodeport-endpoints",
            SetName::LocalEndpointIps => "local-endpoint-ips",
            SetName::LocalEndpoints => "local-endpoints",
            SetName::LocalNodeports => "local-nodeports",
            SetName::NodeportLocalEndpoints => "nodeport-local-endpoints",
            SetName::NoEndpointServices => "no-endpoint-services",
            SetName::NoEndpointNodeports => "no-endpoint-nodeports",
            SetName::FirewallIps => "firewall-ips",
            SetName::FirewallAllow => "firewall-allow",
            SetName::HairpinEndpoints => "hairpin-endpoints",
            SetName::Affinity => "affinity",
            SetName::AffinityFrontends => "affinity-frontends",
            SetName::AffinityNodeports => "affinity-nodeports",
            SetName::AffinityBackends => "affinity-backends",
            SetName::AffinityNodeportBackends => "affinity-nodeport-backends",
        }
    }
}

impl fmt::Display for SetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A chain shared by every frontend with the same endpoint count and the same treatment.
///
/// The number is the `numgen` modulus (the count of endpoints the chain picks from), or for the
/// affinity chains the affinity timeout in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SharedChain {
    /// `endpoints-N`: DNAT to one of N endpoints of the frontend (`service-endpoints`).
    Endpoints(u32),
    /// `external-N`: mark for masquerade, then `endpoints-N` (external traffic, ETP Cluster).
    External(u32),
    /// `etp-local-N`: ETP Local frontend: pods and the node itself short-circuit to
    /// `endpoints-N` (all endpoints); other sources go to the local endpoints.
    EtpLocal(u32),
    /// `local-endpoints-N`: DNAT to one of N local endpoints (`local-endpoints`).
    LocalEndpoints(u32),
    /// `nodeport-endpoints-N`: DNAT to one of N endpoints of the node port.
    NodeportEndpoints(u32),
    /// `nodeport-external-N`: mark for masquerade, then `nodeport-endpoints-N`.
    NodeportExternal(u32),
    /// `nodeport-etp-local-N`: the ETP Local short circuit for node ports.
    NodeportEtpLocal(u32),
    /// `nodeport-local-endpoints-N`: DNAT to one of N local endpoints of the node port.
    NodeportLocalEndpoints(u32),
    /// `affinity-T`: after DNAT to an affinity frontend, remember the endpoint for T seconds
    /// (or forget it and drop the packet when it is no longer an endpoint of the frontend).
    AffinityRecord(u32),
    /// `nodeport-affinity-T`: the same for node ports.
    NodeportAffinityRecord(u32),
}

impl SharedChain {
    /// The chain's name.
    pub fn name(self) -> String {
        let (prefix, n) = match self {
            SharedChain::Endpoints(n) => ("endpoints", n),
            SharedChain::External(n) => ("external", n),
            SharedChain::EtpLocal(n) => ("etp-local", n),
            SharedChain::LocalEndpoints(n) => ("local-endpoints", n),
            SharedChain::NodeportEndpoints(n) => ("nodeport-endpoints", n),
            SharedChain::NodeportExternal(n) => ("nodeport-external", n),
            SharedChain::NodeportEtpLocal(n) => ("nodeport-etp-local", n),
            SharedChain::NodeportLocalEndpoints(n) => ("nodeport-local-endpoints", n),
            SharedChain::AffinityRecord(t) => ("affinity", t),
            SharedChain::NodeportAffinityRecord(t) => ("nodeport-affinity", t),
        };
        format!("{prefix}-{n}")
    }

    /// The shared chains this one jumps or goes to.
    pub fn deps(self) -> Vec<SharedChain> {
        match self {
            SharedChain::External(n) | SharedChain::EtpLocal(n) => vec![SharedChain::Endpoints(n)],
            SharedChain::NodeportExternal(n) | SharedChain::NodeportEtpLocal(n) => {
                vec![SharedChain::NodeportEndpoints(n)]
            }
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for SharedChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// The comment naming a service port on its elements (`ns/name:port/proto`), cut to fit.
pub fn comment(port: &ServicePortName) -> String {
    let mut s = port.to_string();
    if s.len() > MAX_COMMENT {
        let mut end = MAX_COMMENT;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proxy_core::model::Protocol;

    #[test]
    fn shared_chain_names() {
        assert_eq!(SharedChain::Endpoints(3).name(), "endpoints-3");
        assert_eq!(
            SharedChain::NodeportLocalEndpoints(1).name(),
            "nodeport-local-endpoints-1"
        );
    }

    #[test]
    fn comments_are_cut_at_the_limit() {
        let long = ServicePortName::new(
            "n".repeat(63),
            "s".repeat(63),
            "p".repeat(15),
            Protocol::Tcp,
        );
        assert_eq!(comment(&long).len(), MAX_COMMENT);
        let short = ServicePortName::new("default", "web", "http", Protocol::Udp);
        assert_eq!(comment(&short), "default/web:http/udp");
    }
}
