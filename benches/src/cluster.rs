//! A deterministic synthetic cluster: `N` TCP services of `M` endpoints each, built directly as
//! a [`ProxyState`] (no change tracker), and the single-service changes the partial-sync benches
//! apply to it.
//!
//! Everything is derived from indices, so the same `(N, M)` always yields the same state:
//!
//! | what | value |
//! | --- | --- |
//! | service `i` | `bench-{i / 1000}/svc-{i}`, port `http`, TCP `80` |
//! | its cluster IP | [`SERVICE_CIDR`] `10.96.0.0/12`, address `10` + `i` (up to ~1M services) |
//! | endpoint `j` of service `i` | [`CLUSTER_CIDR`] `10.244.0.0/14`, address `2 + i * M + j`, port `8080` |
//! | node | `node-a`, IPv4 only ([`NODE_IP`]), so one `ip` table is programmed |
//!
//! Endpoint addresses never repeat across services. The changes take their addresses from
//! [`SPARE_CIDR`] `10.248.0.0/14`, which generated endpoints never use: extra services (index
//! `>= N`) from its start, [`Cluster::alternate_endpoint`]s from its second half.

use std::net::{IpAddr, Ipv4Addr};

use backend_nft::plan::{Config, NodePortAddresses};
use ipnet::{IpNet, Ipv4Net};
use proxy_core::model::{Endpoint, NodeInfo, Protocol, ServicePort, ServicePortName};
use proxy_core::{Delta, ProxyState};

/// The service (cluster IP) range: a /12, room for about a million services.
pub const SERVICE_CIDR: Ipv4Net = ipv4_net(Ipv4Addr::new(10, 96, 0, 0), 12);
/// The pod (endpoint) range: a /14, room for 262k endpoints.
pub const CLUSTER_CIDR: Ipv4Net = ipv4_net(Ipv4Addr::new(10, 244, 0, 0), 14);
/// Addresses for the changes: endpoints of extra services and alternate endpoints.
pub const SPARE_CIDR: Ipv4Net = ipv4_net(Ipv4Addr::new(10, 248, 0, 0), 14);
/// Where [`Cluster::alternate_endpoint`]s start in [`SPARE_CIDR`].
const ALTERNATES: u32 = 1 << 17;
/// The node's IP (not configured anywhere; it only selects the IPv4 family).
pub const NODE_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 50, 1);
/// The node's name.
pub const NODE_NAME: &str = "node-a";
/// Every service's port.
pub const SERVICE_PORT: u16 = 80;
/// Every endpoint's port.
pub const TARGET_PORT: u16 = 8080;
/// Every service port's name.
pub const PORT_NAME: &str = "http";

const fn ipv4_net(addr: Ipv4Addr, prefix: u8) -> Ipv4Net {
    match Ipv4Net::new(addr, prefix) {
        Ok(net) => net,
        Err(_) => panic!("invalid prefix length"),
    }
}

/// The `n`-th address of `net` (no bounds check beyond a debug assertion).
fn nth(net: Ipv4Net, n: u32) -> IpAddr {
    debug_assert!(
        u64::from(n) < (1u64 << (32 - net.prefix_len())),
        "{n} outside {net}"
    );
    IpAddr::V4(Ipv4Addr::from(u32::from(net.network()) + n))
}

/// The size of a synthetic cluster, and the generator of everything in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cluster {
    /// Number of services (one TCP port each).
    pub services: u32,
    /// Endpoints per service.
    pub endpoints: u32,
}

impl Cluster {
    /// A cluster of `services` services with `endpoints` endpoints each.
    ///
    /// # Panics
    ///
    /// If the endpoints do not fit in [`CLUSTER_CIDR`], the services (plus room for extras) in
    /// [`SERVICE_CIDR`], or the alternates in [`SPARE_CIDR`].
    pub fn new(services: u32, endpoints: u32) -> Self {
        if let Err(why) = Cluster::check(services, endpoints) {
            panic!("{why}");
        }
        Cluster {
            services,
            endpoints,
        }
    }

    /// Why `services` x `endpoints` cannot be generated, if it cannot (see [`Cluster::new`]).
    pub fn check(services: u32, endpoints: u32) -> Result<(), String> {
        let pod_room = 1u64 << (32 - CLUSTER_CIDR.prefix_len());
        let service_room = 1u64 << (32 - SERVICE_CIDR.prefix_len());
        if u64::from(services) * u64::from(endpoints) + 2 > pod_room {
            return Err(format!(
                "{services} x {endpoints} endpoints do not fit in {CLUSTER_CIDR}"
            ));
        }
        if services >= ALTERNATES - 2 {
            return Err(format!("{services} alternates do not fit in {SPARE_CIDR}"));
        }
        if u64::from(services) + 10 + 4096 > service_room {
            return Err(format!("{services} services do not fit in {SERVICE_CIDR}"));
        }
        Ok(())
    }

    /// The identity of service `i` (which may be beyond [`Cluster::services`]: an extra one).
    pub fn name(&self, i: u32) -> ServicePortName {
        ServicePortName::new(
            format!("bench-{}", i / 1000),
            format!("svc-{i}"),
            PORT_NAME,
            Protocol::Tcp,
        )
    }

    /// The cluster IP of service `i`.
    pub fn cluster_ip(&self, i: u32) -> IpAddr {
        nth(SERVICE_CIDR, 10 + i)
    }

    /// Service `i`.
    pub fn service(&self, i: u32) -> ServicePort {
        ServicePort::new(self.name(i), self.cluster_ip(i), SERVICE_PORT)
    }

    /// The endpoints of service `i`, sorted as [`ProxyState::endpoints`] wants them. For an
    /// extra service (`i >= services`) they come from [`SPARE_CIDR`], so they never collide
    /// with the generated ones.
    ///
    /// # Panics
    ///
    /// (Debug builds) for extra services too many to fit before the alternates.
    pub fn endpoints_of(&self, i: u32) -> Vec<Endpoint> {
        let mut list: Vec<Endpoint> = (0..self.endpoints)
            .map(|j| Endpoint::new(self.endpoint_ip(i, j), TARGET_PORT))
            .collect();
        list.sort();
        list
    }

    fn endpoint_ip(&self, i: u32, j: u32) -> IpAddr {
        if i < self.services {
            nth(CLUSTER_CIDR, 2 + i * self.endpoints + j)
        } else {
            let n = 2 + (i - self.services) * self.endpoints + j;
            debug_assert!(n < ALTERNATES, "extra service {i} does not fit");
            nth(SPARE_CIDR, n)
        }
    }

    /// An address for the first endpoint of service `i` that no generated endpoint uses (one
    /// per service, in [`SPARE_CIDR`]).
    pub fn alternate_endpoint(&self, i: u32) -> Endpoint {
        let ip = nth(SPARE_CIDR, ALTERNATES + i);
        Endpoint::new(ip, TARGET_PORT)
    }

    /// The node this proxy runs on.
    pub fn node(&self) -> NodeInfo {
        let mut node = NodeInfo::new(NODE_NAME);
        node.ips = vec![IpAddr::V4(NODE_IP)];
        node
    }

    /// The whole state: services `0..services`, each with its endpoints.
    pub fn state(&self) -> ProxyState {
        let mut state = ProxyState {
            node: self.node(),
            ..ProxyState::default()
        };
        for i in 0..self.services {
            self.insert(&mut state, i);
        }
        state
    }

    /// Adds service `i` and its endpoints to `state`; the delta of that change.
    pub fn insert(&self, state: &mut ProxyState, i: u32) -> Delta {
        let name = self.name(i);
        state.services.insert(name.clone(), self.service(i));
        state.endpoints.insert(name.clone(), self.endpoints_of(i));
        changed(name)
    }

    /// Removes service `i` and its endpoints from `state`; the delta of that change.
    pub fn remove(&self, state: &mut ProxyState, i: u32) -> Delta {
        let name = self.name(i);
        state.services.remove(&name);
        state.endpoints.remove(&name);
        let mut delta = Delta::default();
        delta.deleted.insert(name);
        delta
    }

    /// Swaps the first endpoint of service `i` between its generated address and
    /// [`Cluster::alternate_endpoint`]; the delta of that change.
    ///
    /// # Panics
    ///
    /// If service `i` has no endpoints in `state`.
    pub fn toggle_endpoint(&self, state: &mut ProxyState, i: u32) -> Delta {
        let name = self.name(i);
        let original = Endpoint::new(self.endpoint_ip(i, 0), TARGET_PORT);
        let alternate = self.alternate_endpoint(i);
        let list = state
            .endpoints
            .get_mut(&name)
            .unwrap_or_else(|| panic!("service {name} has no endpoints"));
        if let Some(e) = list.iter_mut().find(|e| **e == original) {
            *e = alternate;
        } else if let Some(e) = list.iter_mut().find(|e| **e == alternate) {
            *e = original;
        } else {
            panic!("service {name} has neither {original} nor {alternate}");
        }
        list.sort();
        changed(name)
    }

    /// The planner configuration the benches use: the node's IPv4 address, the pod and service
    /// ranges above, node ports on the primary IP.
    pub fn plan_config(&self) -> Config {
        Config {
            node_ips: vec![IpAddr::V4(NODE_IP)],
            cluster_cidrs: vec![IpNet::V4(CLUSTER_CIDR)],
            service_cidrs: vec![IpNet::V4(SERVICE_CIDR)],
            nodeport_addresses: NodePortAddresses::Primary,
            masquerade_all: false,
            ..Config::default()
        }
    }
}

fn changed(name: ServicePortName) -> Delta {
    let mut delta = Delta::default();
    delta.changed.insert(name);
    delta
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn deterministic_and_distinct() {
        let c = Cluster::new(2000, 5);
        let a = c.state();
        assert_eq!(a, c.state());
        assert_eq!(a.services.len(), 2000);
        let ips: BTreeSet<IpAddr> = a.services.values().map(|s| s.cluster_ips[0]).collect();
        assert_eq!(ips.len(), 2000);
        assert!(ips.iter().all(|ip| IpNet::V4(SERVICE_CIDR).contains(ip)));
        let eps: BTreeSet<IpAddr> = a.endpoints.values().flatten().map(|e| e.ip).collect();
        assert_eq!(eps.len(), 10_000);
        assert!(eps.iter().all(|ip| IpNet::V4(CLUSTER_CIDR).contains(ip)));
        assert!(!eps.contains(&c.alternate_endpoint(1999).ip));
        assert!(!eps.contains(&c.endpoints_of(2000)[0].ip));
        assert!(!eps.contains(&c.endpoints_of(2000)[4].ip));
    }

    #[test]
    fn biggest_cluster_fits() {
        let c = Cluster::new(44_000, 5);
        assert_eq!(
            c.cluster_ip(43_999),
            IpAddr::V4(Ipv4Addr::new(10, 96, 171, 233))
        );
        assert_eq!(
            c.endpoints_of(43_999)[4].ip,
            IpAddr::V4(Ipv4Addr::new(10, 247, 91, 97))
        );
        assert!(IpNet::V4(SPARE_CIDR).contains(&c.endpoints_of(44_100)[4].ip));
        assert!(IpNet::V4(SPARE_CIDR).contains(&c.alternate_endpoint(43_999).ip));
        assert!(!c.endpoints_of(44_100).contains(&c.alternate_endpoint(0)));
    }

    #[test]
    fn changes_and_their_deltas() {
        let c = Cluster::new(10, 3);
        let mut state = c.state();
        let before = state.clone();
        let d = c.toggle_endpoint(&mut state, 4);
        assert_eq!(d.changed, BTreeSet::from([c.name(4)]));
        assert_ne!(state, before);
        assert!(state.endpoints[&c.name(4)].is_sorted());
        c.toggle_endpoint(&mut state, 4);
        assert_eq!(state, before);

        let d = c.insert(&mut state, 10);
        assert_eq!(d.changed, BTreeSet::from([c.name(10)]));
        assert_eq!(state.services.len(), 11);
        let d = c.remove(&mut state, 10);
        assert_eq!(d.deleted, BTreeSet::from([c.name(10)]));
        assert_eq!(state, before);
    }
}
