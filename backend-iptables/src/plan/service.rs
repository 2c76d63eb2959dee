//! What one service port contributes in one family: its own nat chains (`SVC`, `SVL`, `EXT`,
//! `FW`, one `SEP` per endpoint) and its rules in the dispatch chains.
//!
//! The decisions are proxy-core's [`PortPolicy`] (shared with backend-nft, as kube-proxy's):
//! cluster IPs use the internal policy's endpoints, external IPs, load-balancer IPs and node
//! ports the external policy's; a frontend without usable endpoints gets a filter rule
//! instead: REJECT when the service has no endpoint at all, DROP when only a `Local` policy
//! leaves it without one ([`NoEndpoints`]).

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use proxy_core::model::{Endpoint, NodeInfo, ServicePort, SourceRanges};
use proxy_core::policy::{FamilyView, NoEndpoints, PortPolicy};

use crate::names::{self, Kind};

use super::base::{Fixed, host, proto_port};

/// A per-service chain and its rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OwnChain {
    pub kind: Kind,
    pub name: String,
    pub rules: Vec<String>,
}

/// Everything one service port programs in one family.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PortRules {
    /// Its own nat chains: endpoints first, then `SVC`, `SVL`, `EXT`, `FW`.
    pub chains: Vec<OwnChain>,
    /// Its rules in the dispatch chains.
    pub dispatch: Vec<(Fixed, String)>,
}

/// The rules of `svc` in the family of `fc`; `None` when it has no cluster IP there.
pub(crate) fn contribute(
    fc: &FamilyView,
    svc: &ServicePort,
    endpoints: &[Endpoint],
    node: &NodeInfo,
) -> Option<PortRules> {
    let family = fc.family;
    let policy = PortPolicy::new(svc, endpoints, node, family)?;
    let PortPolicy {
        cluster_ip,
        internal_local,
        external_local,
        has_internal,
        has_external,
        uses_external,
        affinity,
        ..
    } = policy;
    let (cluster, local) = (&policy.cluster, &policy.local);
    let filter_target = |usable: bool| -> Option<(&'static str, &'static str)> {
        policy.filter(usable).map(|v| {
            let target = match v {
                NoEndpoints::Reject => "REJECT",
                NoEndpoints::Drop => "DROP",
            };
            (target, v.reason())
        })
    };

    let port_name = &svc.name;
    let label = port_name.to_string();
    let proto = svc.protocol();
    let svc_chain = names::service_chain(Kind::Svc, port_name);
    let svl_chain = names::service_chain(Kind::Svl, port_name);
    let ext_chain = names::service_chain(Kind::Ext, port_name);
    let fw_chain = names::service_chain(Kind::Fw, port_name);
    let internal_chain = if internal_local {
        &svl_chain
    } else {
        &svc_chain
    };
    let external_policy_chain = if external_local {
        &svl_chain
    } else {
        &svc_chain
    };

    let mut out = PortRules::default();
    let frontend = |ip: IpAddr, comment: &str| {
        format!(
            "-d {} {}",
            host(ip),
            proto_port(proto, Some(&format!("{label} {comment}")), svc.port)
        )
    };
    let filter_rule = |out: &mut PortRules, chain: Fixed, matcher: String, usable: bool| {
        if let Some((target, _)) = filter_target(usable) {
            out.dispatch.push((chain, format!("{matcher} -j {target}")));
        }
    };
    let no_endpoints = |usable: bool| {
        filter_target(usable)
            .map(|(_, why)| format!("{label} {why}"))
            .unwrap_or_default()
    };

    // Endpoint chains: every endpoint some policy may pick.
    let sep_names: HashMap<SocketAddr, String> = policy
        .all_reachable
        .iter()
        .map(|ep| (ep.addr(), names::endpoint_chain(port_name, ep.addr())))
        .collect();
    let sep_name = |ep: &Endpoint| -> String {
        sep_names
            .get(&ep.addr())
            .cloned()
            .unwrap_or_else(|| names::endpoint_chain(port_name, ep.addr()))
    };
    for ep in &policy.all_reachable {
        let name = sep_name(ep);
        let mut rules = vec![format!("-s {} -j {}", host(ep.ip), names::MARK_MASQ)];
        let recent = match affinity {
            Some(_) => format!(" -m recent --name {name} --set"),
            None => String::new(),
        };
        rules.push(format!(
            "-p {}{recent} -j DNAT --to-destination {}",
            proto.as_str(),
            ep.addr()
        ));
        out.chains.push(OwnChain {
            kind: Kind::Sep,
            name,
            rules,
        });
    }

    // Cluster IP: off-cluster sources are masqueraded (in the internal policy chain, matched on
    // the cluster IP so external traffic passing through the chain is not).
    let cluster_match = format!(
        "-d {} {}",
        host(cluster_ip),
        proto_port(proto, None, svc.port)
    );
    let masquerade = if fc.masquerade_all {
        Some(format!("{cluster_match} -j {}", names::MARK_MASQ))
    } else {
        match fc.cluster_cidrs.as_slice() {
            [] => None,
            [one] => Some(format!(
                "! -s {one} {cluster_match} -j {}",
                names::MARK_MASQ
            )),
            _ => Some(format!("{cluster_match} -j {}", names::MASQ_OFF_CLUSTER)),
        }
    };
    out.dispatch.push((
        Fixed::ClusterIps,
        format!("-d {} -j REJECT", host(cluster_ip)),
    ));
    if has_internal {
        out.dispatch.push((
            Fixed::NatServices,
            format!("{} -j {internal_chain}", frontend(cluster_ip, "cluster IP")),
        ));
    } else {
        let matcher = format!(
            "-d {} {}",
            host(cluster_ip),
            proto_port(proto, Some(&no_endpoints(has_internal)), svc.port)
        );
        filter_rule(&mut out, Fixed::FilterServices, matcher, has_internal);
    }

    // The policy chains: pick an endpoint (a remembered one first with ClientIP affinity).
    let balance = |kind: Kind, name: &str, eps: &[&Endpoint], masq: Option<&String>| {
        let mut rules: Vec<String> = masq.into_iter().cloned().collect();
        let seps: Vec<String> = eps.iter().map(|ep| sep_name(ep)).collect();
        if let Some(t) = affinity {
            for sep in &seps {
                rules.push(format!(
                    "-m recent --name {sep} --rcheck --seconds {t} --reap -j {sep}"
                ));
            }
        }
        let n = seps.len();
        for (i, sep) in seps.iter().enumerate() {
            if i + 1 < n {
                let p = 1.0 / (n - i) as f64;
                rules.push(format!(
                    "-m statistic --mode random --probability {p:.10} -j {sep}"
                ));
            } else {
                rules.push(format!("-j {sep}"));
            }
        }
        OwnChain {
            kind,
            name: name.to_owned(),
            rules,
        }
    };
    if !cluster.is_empty() {
        let masq = masquerade.as_ref().filter(|_| !internal_local);
        out.chains
            .push(balance(Kind::Svc, &svc_chain, cluster, masq));
    }
    if !local.is_empty() {
        let masq = masquerade.as_ref().filter(|_| internal_local);
        out.chains.push(balance(Kind::Svl, &svl_chain, local, masq));
    }

    // External traffic: ETP Cluster masquerades; ETP Local keeps the source, except for pods
    // and the node itself, which are sent to every endpoint (the node's traffic marked, its
    // source being a local address).
    if uses_external {
        let mut rules = Vec::new();
        if external_local {
            for cidr in &fc.cluster_cidrs {
                rules.push(format!("-s {cidr} -j {svc_chain}"));
            }
            rules.push(format!(
                "-m addrtype --src-type LOCAL -j {}",
                names::MARK_MASQ
            ));
            rules.push(format!("-m addrtype --src-type LOCAL -j {svc_chain}"));
            if has_external {
                rules.push(format!("-j {external_policy_chain}"));
            }
        } else {
            rules.push(format!("-j {}", names::MARK_MASQ));
            rules.push(format!("-j {external_policy_chain}"));
        }
        out.chains.push(OwnChain {
            kind: Kind::Ext,
            name: ext_chain.clone(),
            rules,
        });
    }

    // External IPs (an address that is also a load-balancer IP is handled as one).
    let lb_ips: Vec<IpAddr> = sorted(svc.load_balancer_ips(family));
    let external_ips: Vec<IpAddr> = sorted(svc.external_ips(family))
        .into_iter()
        .filter(|ip| !lb_ips.contains(ip))
        .collect();
    let external_filter = |ip: IpAddr| {
        format!(
            "-d {} {}",
            host(ip),
            proto_port(proto, Some(&no_endpoints(has_external)), svc.port)
        )
    };
    for ip in &external_ips {
        if uses_external {
            out.dispatch.push((
                Fixed::NatServices,
                format!("{} -j {ext_chain}", frontend(*ip, "external IP")),
            ));
        }
        filter_rule(
            &mut out,
            Fixed::FilterExternal,
            external_filter(*ip),
            has_external,
        );
    }

    // Load-balancer IPs, through the FW chain when source ranges restrict them: allowed
    // sources go on to EXT (and are DNATed); the rest is dropped by filter SVCP-FIREWALL.
    let uses_firewall =
        uses_external && !lb_ips.is_empty() && matches!(svc.source_ranges, SourceRanges::Only(_));
    for ip in &lb_ips {
        if uses_external {
            let target = if uses_firewall { &fw_chain } else { &ext_chain };
            out.dispatch.push((
                Fixed::NatServices,
                format!("{} -j {target}", frontend(*ip, "loadbalancer IP")),
            ));
        }
        if uses_firewall {
            out.dispatch.push((
                Fixed::Firewall,
                format!(
                    "-d {} {} -j DROP",
                    host(*ip),
                    proto_port(
                        proto,
                        Some(&format!("{label} traffic not accepted by source ranges")),
                        svc.port
                    )
                ),
            ));
        }
        filter_rule(
            &mut out,
            Fixed::FilterExternal,
            external_filter(*ip),
            has_external,
        );
    }
    if uses_firewall {
        let ranges = svc.source_ranges.for_family(family).unwrap_or_default();
        let node_allowed = fc
            .node_ips
            .iter()
            .any(|ip| ranges.iter().any(|r| r.contains(ip)));
        let mut allowed = ranges;
        if node_allowed {
            // The node reaching its own load balancer comes back with the LB IP as source.
            allowed.extend(lb_ips.iter().map(|ip| IpNet::from(*ip)));
        }
        let rules = IpNet::aggregate(&allowed)
            .iter()
            .map(|net| format!("-s {net} -j {ext_chain}"))
            .collect();
        out.chains.push(OwnChain {
            kind: Kind::Fw,
            name: fw_chain,
            rules,
        });
    }

    // The node port.
    if let Some(node_port) = svc.node_port {
        if uses_external {
            out.dispatch.push((
                Fixed::NatNodeports,
                format!(
                    "{} -j {ext_chain}",
                    proto_port(proto, Some(&format!("{label} node port")), node_port)
                ),
            ));
        }
        filter_rule(
            &mut out,
            Fixed::FilterNodeports,
            proto_port(proto, Some(&no_endpoints(has_external)), node_port),
            has_external,
        );
    }
    prune_unreferenced(&mut out);
    Some(out)
}

/// Drops the chains of `out` that none of its rules jumps to, and then those only they used:
/// an `EXT` chain in a family where the service has no external address and no node port
/// (reachable from outside only through the other family), or whose only entry is a firewall
/// chain allowing no source range of this family; the policy and endpoint chains only such a
/// chain used.
fn prune_unreferenced(out: &mut PortRules) {
    loop {
        let targets: HashSet<&str> = out
            .dispatch
            .iter()
            .map(|(_, rule)| rule.as_str())
            .chain(
                out.chains
                    .iter()
                    .flat_map(|c| c.rules.iter().map(String::as_str)),
            )
            .filter_map(|rule| {
                let mut words = rule.split_whitespace();
                words.find(|w| *w == "-j")?;
                words.next()
            })
            .collect();
        let unused: Vec<usize> = (0..out.chains.len())
            .filter(|i| !targets.contains(out.chains[*i].name.as_str()))
            .collect();
        if unused.is_empty() {
            return;
        }
        for i in unused.into_iter().rev() {
            out.chains.remove(i);
        }
    }
}

/// `ips` sorted, without duplicates.
fn sorted(ips: impl Iterator<Item = IpAddr>) -> Vec<IpAddr> {
    let mut v: Vec<IpAddr> = ips.collect();
    v.sort();
    v.dedup();
    v
}
