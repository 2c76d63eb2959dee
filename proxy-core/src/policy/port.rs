//! What one service port does in one IP family: which endpoints internal and external traffic
//! use, and what happens to a frontend left without any.

use std::net::IpAddr;

use crate::model::{Endpoint, IpFamily, NodeInfo, ServicePort};
use crate::topology::{Categorized, categorize_iter};

/// What a frontend without usable endpoints does with its traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NoEndpoints {
    /// The service has no usable endpoint anywhere: the client is told (ICMP unreachable or
    /// TCP reset).
    Reject,
    /// Endpoints exist, but a `Local` policy leaves this traffic none on this node: dropped.
    Drop,
}

impl NoEndpoints {
    /// Why, as rule comments say it after the service port's name.
    pub fn reason(self) -> &'static str {
        match self {
            NoEndpoints::Reject => "has no endpoints",
            NoEndpoints::Drop => "has no local endpoints",
        }
    }
}

/// The endpoint policy of one service port in one family, as every backend programs it.
///
/// Internal traffic (to the cluster IP) uses [`PortPolicy::internal`]; external traffic
/// (external IPs, load-balancer IPs, node ports) goes to `cluster`, or with ETP `Local` to
/// `local` except for sources on the node and in the pod network.
#[derive(Clone, Debug)]
pub struct PortPolicy<'a> {
    /// The family.
    pub family: IpFamily,
    /// The service's cluster IP in the family.
    pub cluster_ip: IpAddr,
    /// Endpoints for cluster-wide traffic (empty when the service needs none).
    pub cluster: Vec<&'a Endpoint>,
    /// Endpoints on this node for `Local` policies (empty when no policy is `Local`).
    pub local: Vec<&'a Endpoint>,
    /// Every endpoint some traffic may be sent to, each address once.
    pub all_reachable: Vec<&'a Endpoint>,
    /// Whether internal traffic goes only to local endpoints (ITP `Local`).
    pub internal_local: bool,
    /// Whether external traffic goes only to local endpoints (ETP `Local`, externally
    /// accessible).
    pub external_local: bool,
    /// Whether any endpoint of the family is usable (ready, or serving and terminating).
    pub has_endpoints: bool,
    /// Whether internal traffic has an endpoint to go to.
    pub has_internal: bool,
    /// Whether external traffic from outside the node has an endpoint to go to.
    pub has_external: bool,
    /// Whether external frontends send traffic to endpoints at all (the service is externally
    /// accessible and has cluster-wide endpoints).
    pub uses_external: bool,
    /// The ClientIP affinity timeout in seconds, if the service has affinity (0 means none).
    pub affinity: Option<u32>,
    /// The endpoints of every family, for [`PortPolicy::endpoints`].
    endpoints: &'a [Endpoint],
}

impl<'a> PortPolicy<'a> {
    /// The policy of `svc` in `family` for `endpoints` (of any family) as seen from `node`;
    /// `None` when the service has no cluster IP in the family.
    pub fn new(
        svc: &ServicePort,
        endpoints: &'a [Endpoint],
        node: &NodeInfo,
        family: IpFamily,
    ) -> Option<Self> {
        let cluster_ip = svc.cluster_ip(family)?;
        let in_family = endpoints.iter().filter(move |ep| family.contains(&ep.ip));
        let Categorized {
            cluster,
            local,
            all_reachable,
            has_any_endpoints: has_endpoints,
            ..
        } = categorize_iter(in_family, svc, node);
        let cluster = cluster.unwrap_or_default();
        let local = local.unwrap_or_default();
        let internal_local = svc.internal_policy_local();
        let external_local = svc.external_policy_local();
        let internal = if internal_local { &local } else { &cluster };
        let has_internal = has_endpoints && !internal.is_empty();
        let has_external = has_endpoints && !(external_local && local.is_empty());
        let uses_external = has_endpoints && svc.externally_accessible() && !cluster.is_empty();
        let affinity = svc
            .session_affinity
            .map(|a| a.timeout_seconds)
            .filter(|t| *t > 0);
        Some(PortPolicy {
            family,
            cluster_ip,
            cluster,
            local,
            all_reachable,
            internal_local,
            external_local,
            has_endpoints,
            has_internal,
            has_external,
            uses_external,
            affinity,
            endpoints,
        })
    }

    /// The endpoints of the family, usable or not, in input order.
    pub fn endpoints(&self) -> impl Iterator<Item = &'a Endpoint> + use<'a> {
        let family = self.family;
        self.endpoints
            .iter()
            .filter(move |ep| family.contains(&ep.ip))
    }

    /// The endpoints internal traffic uses: `local` with ITP `Local`, else `cluster`.
    pub fn internal(&self) -> &[&'a Endpoint] {
        if self.internal_local {
            &self.local
        } else {
            &self.cluster
        }
    }

    /// What a frontend does when its traffic has no endpoint: `None` when `usable` (it has
    /// one, e.g. [`PortPolicy::has_internal`]), else a rejection when the service has no
    /// endpoint at all and a drop when only a `Local` policy leaves it none.
    pub fn filter(&self, usable: bool) -> Option<NoEndpoints> {
        if !self.has_endpoints {
            Some(NoEndpoints::Reject)
        } else if !usable {
            Some(NoEndpoints::Drop)
        } else {
            None
        }
    }
}
