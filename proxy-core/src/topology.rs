//! Endpoint selection: which endpoints serve cluster traffic and which serve local traffic.
//!
//! [`categorize`] follows upstream kube-proxy's `CategorizeEndpoints` (`pkg/proxy/topology.go`).
//! It is pure: everything it needs comes from its arguments, and it reads no feature gate.
//!
//! # Which sets are computed
//!
//! - The *cluster* set exists when the service may send traffic cluster-wide: ITP `Cluster`, or
//!   any external access ([`uses_cluster_endpoints`]). Even with ETP `Local`, upstream sends
//!   external traffic that starts on this node to the cluster set ("short circuit").
//! - The *local* set exists when a policy is `Local`: ITP `Local`, or ETP `Local` on an externally
//!   accessible service ([`uses_local_endpoints`]). ETP is ignored for a ClusterIP-only service.
//! - A set that is not used is `None`; a used set with nothing in it is `Some(vec![])`.
//!
//! # Readiness fallback
//!
//! Each set takes its ready endpoints. When a set has no ready endpoint it falls back to the
//! endpoints that are serving *and* terminating. The fallback is decided separately for the
//! cluster set and the local set, so the cluster set can hold ready remote endpoints while the
//! local set holds a terminating local one.
//!
//! # Topology (cluster set only)
//!
//! The hint mode comes from the hints on the ready endpoints alone, as upstream does: the
//! EndpointSlice controller only writes hints when `trafficDistribution` (or the topology
//! annotation) asks for them, so the service field itself is not consulted.
//!
//! 1. [`Topology::SameNode`] when every ready endpoint has a node hint and at least one names
//!    this node. Upstream guards this with the `PreferSameTrafficDistribution` gate, which is
//!    alpha in 1.33, beta and on by default in 1.34 and GA (locked on) in 1.35; it is treated as
//!    enabled.
//! 2. Otherwise [`Topology::SameZone`] when every ready endpoint has a zone hint and at least one
//!    names the node's zone ([`NodeInfo::zone`]; a missing or empty label never matches).
//! 3. Otherwise no topology: every ready endpoint is used ("all or nothing", never a partial
//!    filter).
//!
//! With a mode chosen, the cluster set is the ready endpoints hinted for this node (or zone); the
//! mode guarantees that set is not empty. The terminating fallback only happens when nothing is
//! ready, so it never applies hints. The local set ignores hints entirely: a `Local` policy
//! already pins traffic to this node. With ITP `Local` on an externally accessible service the
//! cluster set (then used by external traffic only) is still hint-filtered, as upstream.
//!
//! # Other outputs
//!
//! `all_reachable` is the union of both sets: it also holds local endpoints that the hints or the
//! fallback kept out of the cluster set. `has_any_endpoints` is true when some endpoint
//! anywhere is ready or serving-terminating, even if neither set can use it (e.g. ITP `Local`
//! with only remote endpoints): datapaths then drop rather than reject.
//!
//! # Difference from upstream
//!
//! Upstream returns `nil` for every set when the endpoint list is empty, which is
//! indistinguishable from "not used". Here whether a set is used depends on the service alone,
//! so an empty list gives `Some(vec![])` for each used set.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::ptr;

use crate::model::{Endpoint, NodeInfo, ServicePort};

/// The topology-aware routing mode chosen for the cluster set from the endpoints' hints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Topology {
    /// Only ready endpoints whose node hints name this node.
    SameNode,
    /// Only ready endpoints whose zone hints name this node's zone.
    SameZone,
}

/// The endpoints of one service port, sorted into the sets a datapath programs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Categorized<'a> {
    /// Endpoints for cluster-wide traffic, topology applied; `None` when the service has none.
    pub cluster: Option<Vec<&'a Endpoint>>,
    /// Endpoints on this node for Local-policy traffic; `None` when no policy is Local.
    pub local: Option<Vec<&'a Endpoint>>,
    /// The union of `cluster` and `local`, without duplicates, in input order (conntrack cleanup).
    pub all_reachable: Vec<&'a Endpoint>,
    /// Whether any endpoint anywhere is usable (ready, or serving and terminating).
    pub has_any_endpoints: bool,
    /// The hint mode applied to `cluster`; `None` when hints were not used.
    pub topology: Option<Topology>,
}

/// Sorts `endpoints` of `svc` into cluster, local and reachable sets as seen from `node`.
pub fn categorize<'a>(
    endpoints: &'a [Endpoint],
    svc: &ServicePort,
    node: &NodeInfo,
) -> Categorized<'a> {
    categorize_iter(endpoints.iter(), svc, node)
}

/// [`categorize`] over the endpoints `endpoints` yields, e.g. those of one family of a slice:
/// the sets borrow from the slice, so nothing is copied.
pub(crate) fn categorize_iter<'a>(
    mut endpoints: impl Iterator<Item = &'a Endpoint> + Clone,
    svc: &ServicePort,
    node: &NodeInfo,
) -> Categorized<'a> {
    let uses_cluster = uses_cluster_endpoints(svc);
    let topology = uses_cluster
        .then(|| mode_of(endpoints.clone(), node))
        .flatten();
    let cluster = uses_cluster.then(|| cluster_endpoints(endpoints.clone(), topology, node));
    let local =
        uses_local_endpoints(svc).then(|| usable(endpoints.clone().filter(|ep| ep.is_local)));
    Categorized {
        all_reachable: union(endpoints.clone(), cluster.as_deref(), local.as_deref()),
        has_any_endpoints: endpoints.any(is_usable),
        cluster,
        local,
        topology,
    }
}

/// Whether `svc` needs the cluster set: ITP Cluster, or external access (even with ETP Local).
pub fn uses_cluster_endpoints(svc: &ServicePort) -> bool {
    !svc.internal_policy_local() || svc.externally_accessible()
}

/// Whether `svc` needs the local set: ITP Local, or ETP Local with external access.
pub fn uses_local_endpoints(svc: &ServicePort) -> bool {
    svc.internal_policy_local() || svc.external_policy_local()
}

/// The hint mode the ready `endpoints` allow on `node`, if any (see the module doc).
pub fn topology_mode(endpoints: &[Endpoint], node: &NodeInfo) -> Option<Topology> {
    mode_of(endpoints.iter(), node)
}

/// [`topology_mode`] over the endpoints `endpoints` yields.
fn mode_of<'a>(
    endpoints: impl Iterator<Item = &'a Endpoint> + Clone,
    node: &NodeInfo,
) -> Option<Topology> {
    // With no ready endpoint, `hints_select` finds no hint naming the target: no mode.
    let ready = || endpoints.clone().filter(|ep| ep.ready);
    if hints_select(ready(), |ep| &ep.node_hints, non_empty(&node.name)) {
        return Some(Topology::SameNode);
    }
    if hints_select(
        ready(),
        |ep| &ep.zone_hints,
        node.zone().and_then(non_empty),
    ) {
        return Some(Topology::SameZone);
    }
    None
}

/// The cluster set: ready endpoints admitted by `topology`, else the serving-terminating ones.
fn cluster_endpoints<'a>(
    endpoints: impl Iterator<Item = &'a Endpoint> + Clone,
    topology: Option<Topology>,
    node: &NodeInfo,
) -> Vec<&'a Endpoint> {
    usable(endpoints.filter(|ep| available_for(ep, topology, node)))
}

/// Whether every endpoint has a hint of this kind and at least one names `target`.
fn hints_select<'a>(
    ready: impl Iterator<Item = &'a Endpoint> + Clone,
    hints: impl Fn(&Endpoint) -> &BTreeSet<String>,
    target: Option<&str>,
) -> bool {
    let Some(target) = target else {
        return false;
    };
    ready.clone().all(|ep| !hints(ep).is_empty())
        && ready.into_iter().any(|ep| hints(ep).contains(target))
}

/// `s`, unless it is empty (an empty node name or zone label never matches a hint).
fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// Whether `ep` may serve this node under `topology` (hints only; readiness is checked apart).
fn available_for(ep: &Endpoint, topology: Option<Topology>, node: &NodeInfo) -> bool {
    match topology {
        None => true,
        Some(Topology::SameNode) => ep.node_hints.contains(&node.name),
        Some(Topology::SameZone) => node.zone().is_some_and(|zone| ep.zone_hints.contains(zone)),
    }
}

/// Whether `ep` can take traffic at all: ready, or still serving while terminating.
fn is_usable(ep: &Endpoint) -> bool {
    ep.ready || is_serving_terminating(ep)
}

/// Whether `ep` is terminating but still serving (the fallback when nothing is ready).
fn is_serving_terminating(ep: &Endpoint) -> bool {
    ep.serving && ep.terminating
}

/// The ready candidates, or the serving-terminating ones when none is ready.
fn usable<'a>(candidates: impl Iterator<Item = &'a Endpoint> + Clone) -> Vec<&'a Endpoint> {
    let ready: Vec<_> = candidates.clone().filter(|ep| ep.ready).collect();
    if !ready.is_empty() {
        return ready;
    }
    candidates.filter(|ep| is_serving_terminating(ep)).collect()
}

/// The endpoints in `cluster` or `local`, each address once, in the order of `endpoints`.
fn union<'a>(
    endpoints: impl Iterator<Item = &'a Endpoint>,
    cluster: Option<&[&'a Endpoint]>,
    local: Option<&[&'a Endpoint]>,
) -> Vec<&'a Endpoint> {
    let chosen: BTreeSet<*const Endpoint> = cluster
        .into_iter()
        .chain(local)
        .flatten()
        .map(|ep| ptr::from_ref(*ep))
        .collect();
    let mut seen = BTreeSet::<SocketAddr>::new();
    endpoints
        .filter(|ep| chosen.contains(&ptr::from_ref(*ep)) && seen.insert(ep.addr()))
        .collect()
}
