//! The chains that do not belong to one service port: static chains (masquerade), the
//! dispatch chains every service port adds rules to, the jump rules from built-in chains, and
//! the small rule-spec helpers shared with `service.rs`.

use std::net::IpAddr;

use ipnet::IpNet;
use proxy_core::model::{IpFamily, Protocol};
use proxy_core::policy::{FamilyView, NodePorts};

use crate::names::{self, MASQUERADE_MARK};
use crate::restore::{Table, quote};

use super::JumpRule;

/// A chain with a fixed name: static (content from the configuration only) or dispatch (rules
/// from every service port between a configuration-derived header and trailer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Fixed {
    /// nat `SVCP-MARK-MASQ`.
    MarkMasq,
    /// nat `SVCP-MASQ-OFF-CLUSTER` (only with 2+ pod CIDRs in the family).
    MasqOffCluster,
    /// nat `SVCP-POSTROUTING`.
    Postrouting,
    /// nat `SVCP-NODEPORTS`: node port -> `EXT` chain.
    NatNodeports,
    /// filter `SVCP-NODEPORTS`: node ports without (usable) endpoints.
    FilterNodeports,
    /// filter `SVCP-CLUSTER-IPS`: every cluster IP (REJECT), then unallocated (DROP).
    ClusterIps,
    /// nat `SVCP-SERVICES`: frontend -> `SVC`/`SVL`/`EXT`/`FW` chain, then node ports.
    NatServices,
    /// filter `SVCP-SERVICES`: cluster IPs without (usable) endpoints, then the cluster-IP check.
    FilterServices,
    /// filter `SVCP-EXTERNAL-SERVICES`: external / LB IPs without (usable) endpoints, then node
    /// ports.
    FilterExternal,
    /// filter `SVCP-FIREWALL`: LB frontends with source ranges.
    Firewall,
}

impl Fixed {
    /// Every fixed chain, in write order (dependencies first).
    pub(crate) const ALL: [Fixed; 10] = [
        Fixed::MarkMasq,
        Fixed::MasqOffCluster,
        Fixed::Postrouting,
        Fixed::NatNodeports,
        Fixed::FilterNodeports,
        Fixed::ClusterIps,
        Fixed::NatServices,
        Fixed::FilterServices,
        Fixed::FilterExternal,
        Fixed::Firewall,
    ];

    pub(crate) fn table(self) -> Table {
        match self {
            Fixed::MarkMasq
            | Fixed::MasqOffCluster
            | Fixed::Postrouting
            | Fixed::NatNodeports
            | Fixed::NatServices => Table::Nat,
            Fixed::FilterNodeports
            | Fixed::ClusterIps
            | Fixed::FilterServices
            | Fixed::FilterExternal
            | Fixed::Firewall => Table::Filter,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Fixed::MarkMasq => names::MARK_MASQ,
            Fixed::MasqOffCluster => names::MASQ_OFF_CLUSTER,
            Fixed::Postrouting => names::POSTROUTING,
            Fixed::NatNodeports | Fixed::FilterNodeports => names::NODEPORTS,
            Fixed::ClusterIps => names::CLUSTER_IPS,
            Fixed::NatServices | Fixed::FilterServices => names::SERVICES,
            Fixed::FilterExternal => names::EXTERNAL_SERVICES,
            Fixed::Firewall => names::FIREWALL,
        }
    }

    /// Where the chain goes in dependency order (see `super::Rank`).
    pub(crate) fn rank(self) -> u8 {
        match self {
            Fixed::MarkMasq => 0,
            Fixed::MasqOffCluster | Fixed::Postrouting => 1,
            Fixed::NatNodeports | Fixed::FilterNodeports | Fixed::ClusterIps => 6,
            Fixed::NatServices
            | Fixed::FilterServices
            | Fixed::FilterExternal
            | Fixed::Firewall => 7,
        }
    }

    /// Whether the family has this chain at all.
    pub(crate) fn exists(self, fc: &FamilyView) -> bool {
        match self {
            Fixed::MasqOffCluster => needs_masq_off_cluster(fc),
            _ => true,
        }
    }

    /// Whether the service-port rules of this chain are a set (sorted, duplicates dropped)
    /// rather than a list in service-port order.
    pub(crate) fn is_set(self) -> bool {
        self == Fixed::ClusterIps
    }

    /// Rules before the service-port rules.
    pub(crate) fn header(self, fc: &FamilyView) -> Vec<String> {
        match self {
            Fixed::MarkMasq => vec![format!("-j MARK --or-mark {MASQUERADE_MARK:#x}")],
            Fixed::MasqOffCluster => {
                let mut rules: Vec<String> = fc
                    .cluster_cidrs
                    .iter()
                    .map(|n| format!("-s {n} -j RETURN"))
                    .collect();
                rules.push(format!("-j {}", names::MARK_MASQ));
                rules
            }
            Fixed::Postrouting => vec![
                format!("-m mark ! --mark {MASQUERADE_MARK:#x}/{MASQUERADE_MARK:#x} -j RETURN"),
                format!("-j MARK --xor-mark {MASQUERADE_MARK:#x}"),
                format!(
                    "-m comment --comment {} -j MASQUERADE --random-fully",
                    quote("svcproxy service traffic requiring SNAT")
                ),
            ],
            _ => Vec::new(),
        }
    }

    /// Rules after the service-port rules.
    pub(crate) fn trailer(self, fc: &FamilyView) -> Vec<String> {
        match self {
            Fixed::NatServices => nodeport_jumps(fc, "svcproxy node ports; must be last"),
            Fixed::FilterExternal => nodeport_jumps(fc, "svcproxy node ports without endpoints"),
            // Only traffic to a service CIDR walks the cluster-IP list: without the guard
            // every new forwarded connection would.
            Fixed::FilterServices => fc
                .service_cidrs
                .iter()
                .map(|n| format!("-d {n} -j {}", names::CLUSTER_IPS))
                .collect(),
            Fixed::ClusterIps if !fc.service_cidrs.is_empty() => vec![format!(
                "-m comment --comment {} -j DROP",
                quote("unallocated service address")
            )],
            _ => Vec::new(),
        }
    }
}

/// Whether off-cluster sources are matched through `SVCP-MASQ-OFF-CLUSTER` (one rule cannot
/// say "outside each of several CIDRs").
pub(crate) fn needs_masq_off_cluster(fc: &FamilyView) -> bool {
    !fc.masquerade_all && fc.cluster_cidrs.len() > 1
}

/// The rules selecting node-port traffic and jumping to `SVCP-NODEPORTS`; nothing when the
/// family serves no node ports. Loopback addresses never serve node ports.
fn nodeport_jumps(fc: &FamilyView, comment: &str) -> Vec<String> {
    let target = names::NODEPORTS;
    let comment = quote(comment);
    let loopback = loopback(fc.family);
    match &fc.nodeports {
        NodePorts::None => Vec::new(),
        NodePorts::Primary(ip) => vec![format!(
            "-d {} -m comment --comment {comment} -j {target}",
            host(*ip)
        )],
        NodePorts::AllLocal => vec![format!(
            "! -d {loopback} -m comment --comment {comment} -m addrtype --dst-type LOCAL -j {target}"
        )],
        NodePorts::Cidrs(nets) => {
            // A CIDR inside loopback serves nothing; one around it needs loopback excluded.
            let nets: Vec<&IpNet> = nets.iter().filter(|n| !loopback.contains(*n)).collect();
            let mut rules = Vec::new();
            if nets.iter().any(|n| n.contains(&loopback)) {
                rules.push(format!("-d {loopback} -j RETURN"));
            }
            rules.extend(nets.iter().map(|n| {
                format!(
                    "-d {n} -m comment --comment {comment} -m addrtype --dst-type LOCAL -j {target}"
                )
            }));
            rules
        }
    }
}

/// The family's loopback network.
pub(crate) fn loopback(family: IpFamily) -> IpNet {
    match family {
        IpFamily::V4 => IpNet::from(ipnet::Ipv4Net::new_assert([127, 0, 0, 0].into(), 8)),
        IpFamily::V6 => IpNet::from(ipnet::Ipv6Net::new_assert(
            std::net::Ipv6Addr::LOCALHOST,
            128,
        )),
    }
}

/// `ip/32` or `ip/128`, as `iptables-save` prints a host.
pub(crate) fn host(ip: IpAddr) -> String {
    IpNet::from(ip).to_string()
}

/// `-p PROTO -m PROTO --dport PORT` with a comment between, as `iptables-save` orders them:
/// `-p tcp -m comment --comment "..." -m tcp --dport 80`.
pub(crate) fn proto_port(proto: Protocol, comment: Option<&str>, port: u16) -> String {
    let p = proto.as_str();
    match comment {
        Some(c) => format!(
            "-p {p} -m comment --comment {} -m {p} --dport {port}",
            quote(c)
        ),
        None => format!("-p {p} -m {p} --dport {port}"),
    }
}

/// The jump rules from built-in chains to ours. They are independent: their order among
/// themselves does not change any verdict.
pub(crate) fn jumps() -> Vec<JumpRule> {
    let jump = |table: Table, chain: &'static str, new: bool, comment: &str, target: &str| {
        let mut rule: Vec<String> = Vec::new();
        if new {
            rule.extend(["-m", "conntrack", "--ctstate", "NEW"].map(String::from));
        }
        rule.extend(["-m", "comment", "--comment"].map(String::from));
        rule.push(comment.to_owned());
        rule.extend(["-j".to_owned(), target.to_owned()]);
        JumpRule { table, chain, rule }
    };
    let portals = "svcproxy service portals";
    let firewall = "svcproxy load balancer firewall";
    let external = "svcproxy externally-visible service portals";
    let mut out = vec![
        jump(Table::Nat, "PREROUTING", false, portals, names::SERVICES),
        jump(Table::Nat, "OUTPUT", false, portals, names::SERVICES),
        jump(
            Table::Nat,
            "POSTROUTING",
            false,
            "svcproxy postrouting rules",
            names::POSTROUTING,
        ),
    ];
    for chain in ["INPUT", "FORWARD", "OUTPUT"] {
        out.push(jump(Table::Filter, chain, true, firewall, names::FIREWALL));
        if chain != "INPUT" {
            out.push(jump(Table::Filter, chain, true, portals, names::SERVICES));
        }
        out.push(jump(
            Table::Filter,
            chain,
            true,
            external,
            names::EXTERNAL_SERVICES,
        ));
    }
    out
}
