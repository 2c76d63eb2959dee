//! The pure planner: from the state after a sync and what that sync changed, the [`Plan`] of
//! conntrack entries to delete.
//!
//! For every UDP or SCTP service port the sync touched (changed, stale endpoints, first
//! endpoint, deleted), each of its frontends (cluster, external and load-balancer IPs on the
//! service port; its node port) gets a [`Filter`] that keeps only entries DNATed to a serving
//! endpoint. That covers, in one rule:
//!
//! - an endpoint that stopped serving: entries DNATed to it go (terminating endpoints that
//!   still serve are kept);
//! - a port that just got its first endpoint: the entries created while it had none were not
//!   DNATed at all and blackhole clients that reuse their source port (DNS resolvers); they go;
//! - a port scaled to zero, or deleted: every entry to its frontends goes.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use proxy_core::model::{NodeInfo, Protocol, ServicePortName};
use proxy_core::{Delta, ProxyState};

use super::filter::{Filter, Frontend, Plan};

/// The local addresses node ports are served on (`--nodeport-addresses`), as the backends read
/// it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum NodePorts {
    /// The node's primary IPs (from the state's node at each cleanup).
    #[default]
    Primary,
    /// Local addresses within these CIDRs; `0.0.0.0/0` and `::/0` mean every address.
    Cidrs(Vec<IpNet>),
}

impl NodePorts {
    /// The node-port addresses for `node`.
    pub fn addrs(&self, node: &NodeInfo) -> Vec<IpNet> {
        match self {
            NodePorts::Primary => node.ips.iter().map(|ip| IpNet::from(*ip)).collect(),
            NodePorts::Cidrs(nets) => nets.clone(),
        }
    }
}

/// The service ports (UDP and SCTP only) whose entries need a look, and the cluster IPs of
/// deleted ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Work {
    /// Touched connectionless service ports.
    pub ports: BTreeSet<ServicePortName>,
    /// Cluster IPs of deleted connectionless service ports (used when their frontends are not
    /// known).
    pub deleted_cluster_ips: BTreeSet<IpAddr>,
}

impl Work {
    /// What `delta` touched: changed and deleted ports, ports with stale endpoints, ports that
    /// got their first serving endpoint.
    pub fn from_delta(delta: &Delta) -> Self {
        let names = delta
            .changed
            .iter()
            .chain(&delta.deleted)
            .chain(&delta.newly_active)
            .chain(delta.stale_endpoints.iter().map(|s| &s.service_port));
        Work {
            ports: names
                .filter(|n| n.protocol.is_connectionless())
                .cloned()
                .collect(),
            deleted_cluster_ips: delta.deleted_udp_cluster_ips.clone(),
        }
    }

    /// Adds `other`'s work to this one.
    pub fn merge(&mut self, other: Work) {
        self.ports.extend(other.ports);
        self.deleted_cluster_ips.extend(other.deleted_cluster_ips);
    }

    /// Whether there is nothing to look at.
    pub fn is_empty(&self) -> bool {
        self.ports.is_empty() && self.deleted_cluster_ips.is_empty()
    }
}

/// The frontends of the connectionless service ports seen so far, so that a deleted port's
/// entries can still be found (the state after the sync no longer has it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KnownFrontends {
    ports: BTreeMap<ServicePortName, Vec<Frontend>>,
}

impl KnownFrontends {
    /// The frontends last seen for `name`.
    pub fn get(&self, name: &ServicePortName) -> Option<&[Frontend]> {
        self.ports.get(name).map(Vec::as_slice)
    }

    /// Records the current frontends of every connectionless port of `state`.
    pub fn seed(&mut self, state: &ProxyState) {
        let names: Vec<ServicePortName> = state.services.keys().cloned().collect();
        self.refresh(state, &names);
    }

    /// Records the current frontends of those of `names` that `state` has.
    pub fn refresh<'a>(
        &mut self,
        state: &ProxyState,
        names: impl IntoIterator<Item = &'a ServicePortName>,
    ) {
        for name in names {
            if let Some(svc) = state.services.get(name)
                && name.protocol.is_connectionless()
            {
                self.ports.insert(name.clone(), Frontend::of(svc));
            }
        }
    }

    /// Forgets those of `names` that `state` no longer has.
    pub fn forget_deleted<'a>(
        &mut self,
        state: &ProxyState,
        names: impl IntoIterator<Item = &'a ServicePortName>,
    ) {
        for name in names {
            if !state.services.contains_key(name) {
                self.ports.remove(name);
            }
        }
    }

    /// How many service ports are known.
    pub fn len(&self) -> usize {
        self.ports.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.ports.is_empty()
    }
}

/// The filters for `work`, given the state after the sync and the frontends known from
/// earlier syncs. Pure: same inputs, same plan.
pub fn plan(
    state: &ProxyState,
    work: &Work,
    known: &KnownFrontends,
    node_ports: &NodePorts,
) -> Plan {
    let mut filters = Vec::new();
    for name in &work.ports {
        if let Some(svc) = state.services.get(name) {
            let keep = serving(state, name);
            filters.extend(Frontend::of(svc).into_iter().map(|frontend| Filter {
                service_port: Some(name.clone()),
                protocol: name.protocol,
                frontend,
                keep: keep.clone(),
            }));
        } else if let Some(frontends) = known.get(name) {
            filters.extend(frontends.iter().map(|frontend| Filter {
                service_port: Some(name.clone()),
                protocol: name.protocol,
                frontend: *frontend,
                keep: BTreeSet::new(),
            }));
        }
    }
    filters.extend(unknown_deleted_cluster_ips(state, work, &filters));
    Plan {
        filters,
        node_port_addrs: node_ports.addrs(&state.node),
    }
}

/// The serving endpoints of `name` (any node, any topology: a change of policy must not cut
/// flows that still have a live endpoint).
fn serving(state: &ProxyState, name: &ServicePortName) -> BTreeSet<SocketAddr> {
    state
        .endpoints_of(name)
        .iter()
        .filter(|e| e.serving)
        .map(|e| e.addr())
        .collect()
}

/// Filters for deleted cluster IPs that no filter covers yet (their service port's frontends
/// were not known) and that no live UDP/SCTP port still uses: every UDP and SCTP entry to
/// them goes.
fn unknown_deleted_cluster_ips(state: &ProxyState, work: &Work, planned: &[Filter]) -> Vec<Filter> {
    let covered: BTreeSet<IpAddr> = planned
        .iter()
        .filter_map(|f| match f.frontend {
            Frontend::Addr(addr) => Some(addr.ip()),
            _ => None,
        })
        .collect();
    let uncovered: Vec<IpAddr> = work
        .deleted_cluster_ips
        .difference(&covered)
        .copied()
        .collect();
    if uncovered.is_empty() {
        return Vec::new();
    }
    let live: BTreeSet<IpAddr> = state
        .services
        .values()
        .filter(|s| s.protocol().is_connectionless())
        .flat_map(|s| s.cluster_ips.iter().copied())
        .collect();
    let mut out = Vec::new();
    for ip in uncovered.iter().filter(|ip| !live.contains(ip)) {
        for protocol in [Protocol::Udp, Protocol::Sctp] {
            out.push(Filter {
                service_port: None,
                protocol,
                frontend: Frontend::AnyPort(*ip),
                keep: BTreeSet::new(),
            });
        }
    }
    out
}
