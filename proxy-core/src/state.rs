//! What a datapath is asked to program: the full state, and the delta since the last sync.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

use crate::model::{Endpoint, NodeInfo, ServiceKey, ServicePort, ServicePortName};

/// The whole picture a datapath programs: every service port, its endpoints, and the node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyState {
    /// Every service port, by identity.
    pub services: BTreeMap<ServicePortName, ServicePort>,
    /// The merged endpoints of every service port that has an EndpointSlice, sorted by address.
    /// A service port may have endpoints and no service (yet), or a service and no endpoints.
    pub endpoints: BTreeMap<ServicePortName, Vec<Endpoint>>,
    /// The node this proxy runs on.
    pub node: NodeInfo,
}

impl ProxyState {
    /// The endpoints of `port` (empty if none are known).
    pub fn endpoints_of(&self, port: &ServicePortName) -> &[Endpoint] {
        self.endpoints.get(port).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The service ports of service `key`.
    pub fn ports_of<'a>(
        &'a self,
        key: &'a ServiceKey,
    ) -> impl Iterator<Item = (&'a ServicePortName, &'a ServicePort)> + 'a {
        entries_of_service(&self.services, key)
    }
}

/// The entries of a map keyed by service port whose service is `key` (a range query: the map is
/// ordered by service first).
pub(crate) fn entries_of_service<'a, V>(
    map: &'a BTreeMap<ServicePortName, V>,
    key: &'a ServiceKey,
) -> impl Iterator<Item = (&'a ServicePortName, &'a V)> + 'a {
    let start = ServicePortName {
        service: key.clone(),
        port: String::new(),
        protocol: crate::model::Protocol::Tcp,
    };
    map.range(start..)
        .take_while(move |(name, _)| name.service == *key)
}

/// A connectionless (UDP/SCTP) endpoint that stopped serving: conntrack entries that still point
/// at it must be deleted, or clients keep sending into the void.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StaleEndpoint {
    /// The service port it belonged to.
    pub service_port: ServicePortName,
    /// Its address.
    pub addr: SocketAddr,
}

/// What changed since the previous sync. An update that changes nothing yields an empty delta.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delta {
    /// Service ports added or changed, by their service or their endpoints.
    pub changed: BTreeSet<ServicePortName>,
    /// Service ports that no longer exist.
    pub deleted: BTreeSet<ServicePortName>,
    /// UDP/SCTP endpoints that were serving and no longer are.
    pub stale_endpoints: BTreeSet<StaleEndpoint>,
    /// UDP/SCTP service ports that had no serving endpoint and now have one (conntrack may hold
    /// entries that blackholed their traffic while they had none).
    pub newly_active: BTreeSet<ServicePortName>,
    /// Cluster IPs of deleted UDP/SCTP service ports.
    pub deleted_udp_cluster_ips: BTreeSet<IpAddr>,
    /// The node's labels or addresses changed: every service port may be affected (topology).
    pub node_changed: bool,
}

impl Delta {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self == &Delta::default()
    }

    /// Merges a later delta into this one, as if both had happened between the same two syncs.
    pub fn merge(&mut self, later: Delta) {
        for name in later.deleted {
            self.changed.remove(&name);
            self.deleted.insert(name);
        }
        for name in later.changed {
            self.deleted.remove(&name);
            self.changed.insert(name);
        }
        self.stale_endpoints.extend(later.stale_endpoints);
        self.newly_active.extend(later.newly_active);
        self.deleted_udp_cluster_ips
            .extend(later.deleted_udp_cluster_ips);
        self.node_changed |= later.node_changed;
    }
}
