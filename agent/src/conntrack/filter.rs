//! [`Filter`]s, the [`Plan`] they make up, and the [`Matcher`] that applies a plan to the
//! entries of one table dump.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use proxy_core::model::{IpFamily, Protocol, ServicePort, ServicePortName};

use super::entry::Entry;

/// Where clients reach a service port: what their original destination is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Frontend {
    /// A service IP (cluster, external or load-balancer IP) and the service port.
    Addr(SocketAddr),
    /// A node port, on any of the node-port addresses of the [`Plan`].
    NodePort(u16),
    /// Every port of this IP: a deleted service's cluster IP whose ports are not known.
    AnyPort(IpAddr),
}

impl Frontend {
    /// Every frontend of `svc`: its cluster IPs, external IPs and load-balancer IPs on the
    /// service port, and its node port.
    pub fn of(svc: &ServicePort) -> Vec<Frontend> {
        let ips = svc
            .cluster_ips
            .iter()
            .chain(&svc.external_ips)
            .chain(&svc.load_balancer_ips);
        let mut out: Vec<Frontend> = ips
            .map(|ip| Frontend::Addr(SocketAddr::new(*ip, svc.port)))
            .collect();
        out.extend(svc.node_port.map(Frontend::NodePort));
        out.sort();
        out.dedup();
        out
    }
}

/// Delete the entries of `protocol` to `frontend` unless they were DNATed to one of `keep`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    /// The service port the frontend belongs (or belonged) to; `None` for a deleted cluster
    /// IP whose service port is not known.
    pub service_port: Option<ServicePortName>,
    /// The transport protocol (UDP or SCTP).
    pub protocol: Protocol,
    /// The frontend.
    pub frontend: Frontend,
    /// The serving endpoints (IP and target port): an entry whose reply comes from one of them
    /// stays. Empty: every entry to the frontend goes.
    pub keep: BTreeSet<SocketAddr>,
}

/// What one cleanup deletes: a set of filters, and where node ports are served.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// The filters.
    pub filters: Vec<Filter>,
    /// The local addresses node ports are served on (an original destination outside them is
    /// not a node port); `0.0.0.0/0` and `::/0` stand for every address.
    pub node_port_addrs: Vec<IpNet>,
}

impl Plan {
    /// Whether there is nothing to delete (no dump is needed).
    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }

    /// The families whose table must be dumped.
    pub fn families(&self) -> BTreeSet<IpFamily> {
        let mut out = BTreeSet::new();
        for filter in &self.filters {
            match filter.frontend {
                Frontend::Addr(addr) => {
                    out.insert(IpFamily::of(&addr.ip()));
                }
                Frontend::AnyPort(ip) => {
                    out.insert(IpFamily::of(&ip));
                }
                Frontend::NodePort(_) => {
                    out.extend(self.node_port_addrs.iter().map(|n| IpFamily::of(&n.addr())));
                }
            }
        }
        out
    }
}

/// The keep-sets of every filter on one frontend: an entry is stale only if none keeps it.
type Keeps<'a> = Vec<&'a BTreeSet<SocketAddr>>;

/// A [`Plan`] indexed for matching: one hash lookup per frontend kind and entry.
#[derive(Debug)]
pub struct Matcher<'a> {
    by_addr: HashMap<(Protocol, SocketAddr), Keeps<'a>>,
    by_node_port: HashMap<(Protocol, u16), Keeps<'a>>,
    by_ip: HashMap<(Protocol, IpAddr), Keeps<'a>>,
    node_port_addrs: &'a [IpNet],
}

impl<'a> Matcher<'a> {
    /// Indexes `plan`.
    pub fn new(plan: &'a Plan) -> Self {
        let mut m = Matcher {
            by_addr: HashMap::new(),
            by_node_port: HashMap::new(),
            by_ip: HashMap::new(),
            node_port_addrs: &plan.node_port_addrs,
        };
        for f in &plan.filters {
            let keep = &f.keep;
            match f.frontend {
                Frontend::Addr(a) => m.by_addr.entry((f.protocol, a)).or_default().push(keep),
                Frontend::NodePort(p) => {
                    m.by_node_port
                        .entry((f.protocol, p))
                        .or_default()
                        .push(keep);
                }
                Frontend::AnyPort(ip) => m.by_ip.entry((f.protocol, ip)).or_default().push(keep),
            }
        }
        m
    }

    /// Whether `entry` is stale: its original destination is a frontend of the plan and, for
    /// every filter on that frontend, its reply comes from an endpoint the filter does not
    /// keep.
    pub fn is_stale(&self, entry: &Entry) -> bool {
        let dst = entry.original.dst;
        let mut groups: Vec<&Keeps<'a>> = Vec::with_capacity(1);
        groups.extend(self.by_addr.get(&(entry.protocol, dst)));
        groups.extend(self.by_ip.get(&(entry.protocol, dst.ip())));
        if self.node_port_addrs.iter().any(|n| n.contains(&dst.ip())) {
            groups.extend(self.by_node_port.get(&(entry.protocol, dst.port())));
        }
        !groups.is_empty()
            && groups
                .iter()
                .flat_map(|keeps| keeps.iter())
                .all(|keep| !keep.contains(&entry.reply.src))
    }
}
