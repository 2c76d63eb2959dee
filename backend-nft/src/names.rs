//! Names of svcproxy's nftables objects: the table, the static chains (dispatch chains
//! included), the shared sets and maps and the shared per-endpoint-count chains, and the
//! dispatch ids that stand for those chains in the per-service maps.
//!
//! Every name is static or derived from a small number (an endpoint count): there are no
//! per-service chains and no hashes. Element comments name the service port they belong to.

use std::fmt;

use proxy_core::model::ServicePortName;

use crate::ir::{MAX_COMMENT, Verdict};

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
/// `reject`, reached by `goto` from the no-endpoint dispatch chains.
pub const REJECT_CHAIN: &str = "reject-chain";
/// Sets the masquerade bit of the packet mark.
pub const MARK_FOR_MASQUERADE: &str = "mark-for-masquerade";
/// Masquerades marked packets (and hairpin traffic).
pub const MASQUERADING: &str = "masquerading";
/// Service dispatch: frontends found in `service-ips` / `service-nodeports` go to their
/// dispatch chains.
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
    /// `service-ips`: `addr . proto . port` -> the dispatch id of a shared endpoints chain.
    ServiceIps,
    /// `service-nodeports`: `proto . port` -> the dispatch id of a shared node-port chain.
    ServiceNodeports,
    /// `service-endpoints`: `frontend addr . proto . port . slot` -> `endpoint addr . port`.
    ServiceEndpoints,
    /// `nodeport-endpoints`: `proto . port . slot` -> `endpoint addr . port`.
    NodeportEndpoints,
    /// `local-endpoint-ips`: ETP Local frontends with local endpoints -> the id of
    /// `local-endpoints-N`.
    LocalEndpointIps,
    /// `local-endpoints`: ETP Local frontends' local endpoints by slot.
    LocalEndpoints,
    /// `local-nodeports`: ETP Local node ports with local endpoints -> the id of
    /// `nodeport-local-endpoints-N`.
    LocalNodeports,
    /// `nodeport-local-endpoints`: ETP Local node ports' local endpoints by slot.
    NodeportLocalEndpoints,
    /// `no-endpoint-services`: `addr . proto . port` -> the id of `goto reject-chain` or `drop`.
    NoEndpointServices,
    /// `no-endpoint-nodeports`: `proto . port` -> the id of `goto reject-chain` or `drop`.
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
    /// `affinity-frontends`: frontends with ClientIP affinity -> the id of `affinity-<timeout>`.
    AffinityFrontends,
    /// `affinity-nodeports`: node ports with ClientIP affinity -> the id of
    /// `nodeport-affinity-<timeout>`.
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

impl SetName {
    /// For a per-service map of dispatch ids, its **dispatch chain**: the static chain holding
    /// one rule `KEY map @MAP == ID VERDICT` per target in use (see [`Target`]), reached by
    /// `goto` from the rule that finds the key in the map at all.
    ///
    /// One dispatch chain per map, because each looks its own map up with its own key, and
    /// because the kernel checks every chain reachable from a rule against that rule's hooks:
    /// a `dnat` chain must not be reachable from a filter hook, `reject` not from prerouting.
    pub fn dispatch_chain(self) -> Option<&'static str> {
        Some(match self {
            SetName::ServiceIps => "service-ips-dispatch",
            SetName::ServiceNodeports => "service-nodeports-dispatch",
            SetName::LocalEndpointIps => "local-endpoint-ips-dispatch",
            SetName::LocalNodeports => "local-nodeports-dispatch",
            SetName::NoEndpointServices => "no-endpoint-services-dispatch",
            SetName::NoEndpointNodeports => "no-endpoint-nodeports-dispatch",
            SetName::AffinityFrontends => "affinity-frontends-dispatch",
            SetName::AffinityNodeports => "affinity-nodeports-dispatch",
            _ => return None,
        })
    }

    /// Every per-service map of dispatch ids, in the order their dispatch chains are declared.
    pub const DISPATCHING: [SetName; 8] = [
        SetName::ServiceIps,
        SetName::ServiceNodeports,
        SetName::LocalEndpointIps,
        SetName::LocalNodeports,
        SetName::NoEndpointServices,
        SetName::NoEndpointNodeports,
        SetName::AffinityFrontends,
        SetName::AffinityNodeports,
    ];
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

    /// The chain's dispatch id: `KIND << 24 | N`, a pure function of the chain (kinds 1 to 10
    /// in declaration order), so that every sync, partial or full, and every process names the
    /// chain by the same id. `N` (an endpoint count, or an affinity timeout of at most 86400
    /// seconds) must stay below 2^24; larger values are cut to 2^24 - 1.
    pub fn id(self) -> u32 {
        let (kind, n) = match self {
            SharedChain::Endpoints(n) => (1, n),
            SharedChain::External(n) => (2, n),
            SharedChain::EtpLocal(n) => (3, n),
            SharedChain::LocalEndpoints(n) => (4, n),
            SharedChain::NodeportEndpoints(n) => (5, n),
            SharedChain::NodeportExternal(n) => (6, n),
            SharedChain::NodeportEtpLocal(n) => (7, n),
            SharedChain::NodeportLocalEndpoints(n) => (8, n),
            SharedChain::AffinityRecord(t) => (9, t),
            SharedChain::NodeportAffinityRecord(t) => (10, t),
        };
        (kind << ID_KIND_SHIFT) | n.min(ID_MAX_N)
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

/// Bits of a dispatch id below its kind.
const ID_KIND_SHIFT: u32 = 24;
/// The largest number a dispatch id carries.
const ID_MAX_N: u32 = (1 << ID_KIND_SHIFT) - 1;

/// Where a per-service map element sends a packet, through a dispatch chain.
///
/// The per-service maps (`service-ips`, `no-endpoint-services`, ...) hold only its
/// [`Target::id`], plain data: adding or deleting such an element never adds a `goto` to the
/// table, so the kernel does not re-validate the table at commit (it does for every new
/// jump/goto, rule or verdict-map element, walking every chain and verdict map: linear in the
/// services if services had verdicts). The verdicts live in the small dispatch chains
/// ([`SetName::dispatch_chain`]), one rule per target in use, which change only when a shared
/// chain appears or goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// `goto reject-chain`: a service without endpoints.
    Reject,
    /// `drop`: a `Local` traffic policy leaves no endpoint.
    Drop,
    /// `goto` a shared chain.
    Chain(SharedChain),
}

impl Target {
    /// The static targets, in both `no-endpoint-*-dispatch` chains from the start.
    pub const STATIC: [Target; 2] = [Target::Reject, Target::Drop];

    /// The dispatch id: 1 for `reject-chain`, 2 for `drop`, [`SharedChain::id`] for a chain.
    pub fn id(self) -> u32 {
        match self {
            Target::Reject => 1,
            Target::Drop => 2,
            Target::Chain(c) => c.id(),
        }
    }

    /// The per-service maps whose ids may name this target: its rule is in their dispatch
    /// chains. `nodeport-endpoints-N` is reached only through `nodeport-external-N` and
    /// `nodeport-etp-local-N`, never dispatched to directly.
    pub fn maps(self) -> &'static [SetName] {
        match self {
            Target::Reject | Target::Drop => {
                &[SetName::NoEndpointServices, SetName::NoEndpointNodeports]
            }
            Target::Chain(c) => match c {
                SharedChain::Endpoints(_) | SharedChain::External(_) | SharedChain::EtpLocal(_) => {
                    &[SetName::ServiceIps]
                }
                SharedChain::NodeportExternal(_) | SharedChain::NodeportEtpLocal(_) => {
                    &[SetName::ServiceNodeports]
                }
                SharedChain::NodeportEndpoints(_) => &[],
                SharedChain::LocalEndpoints(_) => &[SetName::LocalEndpointIps],
                SharedChain::NodeportLocalEndpoints(_) => &[SetName::LocalNodeports],
                SharedChain::AffinityRecord(_) => &[SetName::AffinityFrontends],
                SharedChain::NodeportAffinityRecord(_) => &[SetName::AffinityNodeports],
            },
        }
    }

    /// The verdict of its dispatch rules.
    pub fn verdict(self) -> Verdict {
        match self {
            Target::Reject => Verdict::Goto(REJECT_CHAIN.into()),
            Target::Drop => Verdict::Drop,
            Target::Chain(c) => Verdict::Goto(c.name()),
        }
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
    fn dispatch_ids_are_distinct_and_stable() {
        let chains = [
            SharedChain::Endpoints(3),
            SharedChain::External(3),
            SharedChain::EtpLocal(3),
            SharedChain::LocalEndpoints(3),
            SharedChain::NodeportEndpoints(3),
            SharedChain::NodeportExternal(3),
            SharedChain::NodeportEtpLocal(3),
            SharedChain::NodeportLocalEndpoints(3),
            SharedChain::AffinityRecord(3),
            SharedChain::NodeportAffinityRecord(3),
            SharedChain::Endpoints(4),
            SharedChain::AffinityRecord(86_400),
        ];
        let mut ids: Vec<u32> = chains.iter().map(|c| Target::Chain(*c).id()).collect();
        ids.extend(Target::STATIC.iter().map(|t| t.id()));
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n, "distinct");
        assert_eq!(SharedChain::Endpoints(3).id(), 0x0100_0003);
        assert_eq!(
            SharedChain::NodeportAffinityRecord(10_800).id(),
            0x0a00_2a30
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
