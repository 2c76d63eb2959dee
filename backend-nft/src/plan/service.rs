//! What one service port contributes to the shared maps: its frontends' dispatch elements, its
//! endpoints by slot, its no-endpoint entries, firewall and hairpin entries, and the shared
//! chains its elements send packets to (through their dispatch ids).
//!
//! The rules follow kube-proxy's nftables proxier (`syncProxyRules`), with the decisions of
//! proxy-core's [`PortPolicy`] (shared with backend-iptables): cluster IPs use the internal
//! policy's endpoints, external IPs, load-balancer IPs and node ports the external policy's,
//! and a frontend without usable endpoints gets a `no-endpoint-*` entry instead ([`NoEndpoints`]):
//! `goto reject-chain` when the service has no endpoint at all, `drop` when only a `Local`
//! policy leaves it without one.
//!
//! Every element is plain data: where a packet goes is a dispatch id ([`Target::id`]) that the
//! map's dispatch chain ([`SetName::dispatch_chain`]) turns into the verdict.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use proxy_core::model::{Endpoint, NodeInfo, ServicePort, SourceRanges};
use proxy_core::policy::{FamilyView, NoEndpoints, PortPolicy};

use crate::ir::{ElemData, Family, Value};
use crate::names::{self, SetName, SharedChain, Target};

use super::shadow::{ElemKey, ElemValue};

/// The elements and shared chains one service port needs.
#[derive(Debug, Default)]
pub(crate) struct Contribution {
    /// Elements with the value this port wants for them.
    pub elements: Vec<(ElemKey, ElemValue)>,
    /// Shared chains its elements send packets to.
    pub chains: Vec<(Family, SharedChain)>,
}

/// Builds the contribution of `svc` for every configured family.
pub(crate) fn contribute(
    families: &[FamilyView],
    svc: &ServicePort,
    endpoints: &[Endpoint],
    node: &NodeInfo,
) -> Contribution {
    let mut c = Contribution::default();
    for fc in families {
        family(&mut c, fc, svc, endpoints, node);
    }
    c
}

/// Accumulates elements for one family.
struct Builder<'a> {
    c: &'a mut Contribution,
    family: Family,
    comment: Arc<str>,
}

impl Builder<'_> {
    fn add(&mut self, set: SetName, key: Vec<Value>, data: Option<ElemData>, comment: bool) {
        self.c.elements.push((
            ElemKey {
                family: self.family,
                set,
                key: key.into(),
            },
            ElemValue {
                data,
                comment: comment.then(|| self.comment.clone()),
            },
        ));
    }

    /// A dispatch element `key : id`: the packet goes to `target`, through the dispatch chain
    /// of `set`.
    fn to(&mut self, set: SetName, key: Vec<Value>, target: Target) {
        debug_assert!(target.maps().contains(&set), "{set} -> {target:?}");
        self.add(
            set,
            key,
            Some(ElemData::Concat(vec![Value::Id(target.id())])),
            true,
        );
    }

    /// A dispatch element `key : id` of a shared chain, and the chain as a need.
    fn dispatch(&mut self, set: SetName, key: Vec<Value>, chain: SharedChain) {
        self.to(set, key, Target::Chain(chain));
        self.c.chains.push((self.family, chain));
    }

    /// ClientIP affinity for a frontend (or node port) `key`: its recording chain, and the
    /// endpoints it may be pinned to.
    fn affinity(&mut self, nodeport: bool, key: &[Value], timeout: u32, eps: &[&[&Endpoint]]) {
        let (vmap, backends, chain) = if nodeport {
            (
                SetName::AffinityNodeports,
                SetName::AffinityNodeportBackends,
                SharedChain::NodeportAffinityRecord(timeout),
            )
        } else {
            (
                SetName::AffinityFrontends,
                SetName::AffinityBackends,
                SharedChain::AffinityRecord(timeout),
            )
        };
        self.dispatch(vmap, key.to_vec(), chain);
        let pinnable: BTreeSet<(IpAddr, u16)> = eps
            .iter()
            .flat_map(|list| list.iter())
            .map(|ep| (ep.ip, ep.port))
            .collect();
        for (ip, port) in pinnable {
            let mut k = key.to_vec();
            k.extend([Value::Addr(ip), Value::Port(port)]);
            self.add(backends, k, None, false);
        }
    }

    /// The endpoints of a frontend (or node port) by slot.
    fn slots(&mut self, set: SetName, key: &[Value], eps: &[&Endpoint]) {
        for (i, ep) in eps.iter().enumerate() {
            let mut k = key.to_vec();
            k.push(Value::Slot(i as u32));
            let data = ElemData::Concat(vec![Value::Addr(ep.ip), Value::Port(ep.port)]);
            self.add(set, k, Some(data), false);
        }
    }
}

fn count(eps: &[&Endpoint]) -> u32 {
    u32::try_from(eps.len()).unwrap_or(u32::MAX)
}

/// Adds the elements of `svc` in the family of `fc` (nothing without a cluster IP there).
fn family(
    c: &mut Contribution,
    fc: &FamilyView,
    svc: &ServicePort,
    endpoints: &[Endpoint],
    node: &NodeInfo,
) {
    let ipf = fc.family;
    let Some(policy) = PortPolicy::new(svc, endpoints, node, ipf) else {
        return;
    };
    let PortPolicy {
        cluster_ip,
        external_local,
        has_endpoints,
        has_internal,
        has_external,
        uses_external,
        affinity,
        ..
    } = policy;
    let (cluster, local, internal) = (&policy.cluster, &policy.local, policy.internal());
    let filter_verdict = |usable: bool| {
        policy.filter(usable).map(|v| match v {
            NoEndpoints::Reject => Target::Reject,
            NoEndpoints::Drop => Target::Drop,
        })
    };

    let mut b = Builder {
        c,
        family: Family::of(ipf),
        comment: names::comment(&svc.name).into(),
    };
    let proto = Value::Proto(svc.protocol());
    let frontend = |ip: IpAddr| vec![Value::Addr(ip), proto, Value::Port(svc.port)];

    // The cluster IP.
    b.add(
        SetName::ClusterIps,
        vec![Value::Addr(cluster_ip)],
        None,
        false,
    );
    let key = frontend(cluster_ip);
    if has_internal {
        b.dispatch(
            SetName::ServiceIps,
            key.clone(),
            SharedChain::Endpoints(count(internal)),
        );
        b.slots(SetName::ServiceEndpoints, &key, internal);
        if let Some(t) = affinity {
            b.affinity(false, &key, t, &[internal]);
        }
    }
    if let Some(v) = filter_verdict(has_internal) {
        b.to(SetName::NoEndpointServices, key, v);
    }

    // External IPs and load-balancer IPs.
    let mut externals: Vec<IpAddr> = svc
        .external_ips(ipf)
        .chain(svc.load_balancer_ips(ipf))
        .collect();
    externals.sort();
    externals.dedup();
    for ip in &externals {
        let key = frontend(*ip);
        if uses_external {
            if external_local {
                b.dispatch(
                    SetName::ServiceIps,
                    key.clone(),
                    SharedChain::EtpLocal(count(cluster)),
                );
                if !local.is_empty() {
                    b.dispatch(
                        SetName::LocalEndpointIps,
                        key.clone(),
                        SharedChain::LocalEndpoints(count(local)),
                    );
                    b.slots(SetName::LocalEndpoints, &key, local);
                }
            } else {
                b.dispatch(
                    SetName::ServiceIps,
                    key.clone(),
                    SharedChain::External(count(cluster)),
                );
            }
            b.slots(SetName::ServiceEndpoints, &key, cluster);
            if let Some(t) = affinity {
                b.affinity(false, &key, t, &[cluster, local]);
            }
        }
        if let Some(v) = filter_verdict(has_external) {
            b.to(SetName::NoEndpointServices, key, v);
        }
    }

    // Load-balancer source ranges, enforced before DNAT.
    let lb_ips: Vec<IpAddr> = svc.load_balancer_ips(ipf).collect();
    if has_endpoints
        && !lb_ips.is_empty()
        && let SourceRanges::Only(_) = &svc.source_ranges
    {
        let ranges = svc.source_ranges.for_family(ipf).unwrap_or_default();
        let node_allowed = fc
            .node_ips
            .iter()
            .any(|ip| ranges.iter().any(|r| r.contains(ip)));
        let mut allowed = IpNet::aggregate(&ranges);
        if node_allowed {
            // Traffic from the node to its own load balancer comes back with the LB IP as
            // source (kube-proxy allows it the same way).
            allowed.extend(lb_ips.iter().map(|ip| IpNet::from(*ip)));
            allowed = IpNet::aggregate(&allowed);
        }
        for ip in &lb_ips {
            let key = frontend(*ip);
            b.add(SetName::FirewallIps, key.clone(), None, true);
            for range in &allowed {
                let mut k = key.clone();
                k.push(Value::Prefix(*range));
                b.add(SetName::FirewallAllow, k, None, false);
            }
        }
    }

    // The node port.
    if let Some(node_port) = svc.node_port {
        let key = vec![proto, Value::Port(node_port)];
        if uses_external {
            if external_local {
                b.dispatch(
                    SetName::ServiceNodeports,
                    key.clone(),
                    SharedChain::NodeportEtpLocal(count(cluster)),
                );
                if !local.is_empty() {
                    b.dispatch(
                        SetName::LocalNodeports,
                        key.clone(),
                        SharedChain::NodeportLocalEndpoints(count(local)),
                    );
                    b.slots(SetName::NodeportLocalEndpoints, &key, local);
                }
            } else {
                b.dispatch(
                    SetName::ServiceNodeports,
                    key.clone(),
                    SharedChain::NodeportExternal(count(cluster)),
                );
            }
            b.slots(SetName::NodeportEndpoints, &key, cluster);
            if let Some(t) = affinity {
                b.affinity(true, &key, t, &[cluster, local]);
            }
        }
        if let Some(v) = filter_verdict(has_external) {
            b.to(SetName::NoEndpointNodeports, key, v);
        }
    }

    // Hairpin: every endpoint traffic may be DNATed to.
    for ep in &policy.all_reachable {
        b.add(
            SetName::HairpinEndpoints,
            vec![Value::Addr(ep.ip), Value::Addr(ep.ip)],
            None,
            false,
        );
    }
}
