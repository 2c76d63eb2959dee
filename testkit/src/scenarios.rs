//! The golden scenarios every backend's golden and kernel tests share: proxy-core states built
//! from model values, each with the node setting it runs with (each backend maps a [`Setting`]
//! to its own configuration).
//!
//! Addresses follow the plan in [`crate::plan`]: pods `10.244.0.0/16` / `fd00:244::/64`,
//! services `10.96.0.0/16` / `fd00:96::/112`, node `192.168.50.1` / `fd00:50::1`; external IPs
//! `192.168.60.x`, load balancers `203.0.113.x`.

use std::net::IpAddr;

use proxy_core::ProxyState;
use proxy_core::model::{
    Endpoint, NodeInfo, Protocol, ServicePort, ServicePortName, SessionAffinity, SourceRanges,
    TrafficPolicy,
};

/// The node the scenarios run on.
pub const NODE: &str = "node-a";

/// An address from text.
pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("an IP address")
}

/// How the node is configured for a scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    /// IPv4 node `192.168.50.1`, pods `10.244.0.0/16`, services `10.96.0.0/16`, node ports on
    /// the primary IP.
    SingleStack,
    /// The same plus IPv6: node `fd00:50::1`, pods `fd00:244::/64`, services `fd00:96::/112`.
    DualStack,
    /// Single stack, node ports on every local address (`0.0.0.0/0`).
    NodePortsOnAllAddresses,
    /// Single stack, masquerading all service traffic.
    MasqueradeAll,
}

/// The node configuration of `setting`, as both planners take it.
pub fn node_config(setting: Setting) -> proxy_core::NodeConfig {
    use proxy_core::policy::NodePortAddresses;
    let cidr = |s: &str| s.parse::<ipnet::IpNet>().expect("cidr");
    let mut config = proxy_core::NodeConfig {
        node_ips: vec![ip("192.168.50.1")],
        cluster_cidrs: vec![cidr("10.244.0.0/16")],
        service_cidrs: vec![cidr("10.96.0.0/16")],
        ..proxy_core::NodeConfig::default()
    };
    match setting {
        Setting::SingleStack => {}
        Setting::DualStack => {
            config.node_ips.push(ip("fd00:50::1"));
            config.cluster_cidrs.push(cidr("fd00:244::/64"));
            config.service_cidrs.push(cidr("fd00:96::/112"));
        }
        Setting::NodePortsOnAllAddresses => {
            config.nodeport_addresses = NodePortAddresses::Cidrs(vec![cidr("0.0.0.0/0")]);
        }
        Setting::MasqueradeAll => config.masquerade_all = true,
    }
    config
}

/// `default/<name>:p/<proto>`.
pub fn port_name(name: &str, proto: Protocol) -> ServicePortName {
    ServicePortName::new("default", name, "p", proto)
}

/// Builds a state: services with their endpoints.
pub struct Scenario {
    /// The state built so far.
    pub state: ProxyState,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario::new()
    }
}

impl Scenario {
    /// No services yet.
    pub fn new() -> Self {
        let mut node = NodeInfo::new(NODE);
        node.ips = vec![ip("192.168.50.1")];
        Scenario {
            state: ProxyState {
                node,
                ..ProxyState::default()
            },
        }
    }

    /// A service port `default/<name>:p/<proto>` at `cluster_ip:port`, changed by `f`.
    pub fn service(
        mut self,
        name: &str,
        proto: Protocol,
        cluster_ip: &str,
        port: u16,
        f: impl FnOnce(&mut ServicePort),
    ) -> Self {
        let n = port_name(name, proto);
        let mut svc = ServicePort::new(n.clone(), ip(cluster_ip), port);
        f(&mut svc);
        self.state.services.insert(n, svc);
        self
    }

    /// Endpoints of `default/<name>:p/<proto>`: `(ip, port, local)`, each changed by `f`.
    pub fn endpoints(
        mut self,
        name: &str,
        proto: Protocol,
        eps: &[(&str, u16, bool)],
        f: impl Fn(&mut Endpoint),
    ) -> Self {
        let mut list: Vec<Endpoint> = eps
            .iter()
            .map(|(addr, port, local)| {
                let mut e = Endpoint::new(ip(addr), *port);
                e.is_local = *local;
                if *local {
                    e.node_name = Some(NODE.into());
                }
                f(&mut e);
                e
            })
            .collect();
        list.sort();
        self.state.endpoints.insert(port_name(name, proto), list);
        self
    }
}

/// `default/web`: cluster IP `10.96.0.10:80/TCP`, three endpoints.
pub fn web3() -> Scenario {
    Scenario::new()
        .service("web", Protocol::Tcp, "10.96.0.10", 80, |_| {})
        .endpoints(
            "web",
            Protocol::Tcp,
            &[
                ("10.244.0.2", 8080, false),
                ("10.244.0.3", 8080, false),
                ("10.244.0.4", 8080, false),
            ],
            |_| {},
        )
}

/// Every golden case: name, state, and the node setting it runs with.
pub fn cases() -> Vec<(&'static str, ProxyState, Setting)> {
    let local = |_: &mut Endpoint| {};
    vec![
        ("base", Scenario::new().state, Setting::SingleStack),
        (
            "clusterip_one_endpoint",
            Scenario::new()
                .service("web", Protocol::Tcp, "10.96.0.10", 80, |_| {})
                .endpoints("web", Protocol::Tcp, &[("10.244.0.2", 8080, false)], local)
                .state,
            Setting::SingleStack,
        ),
        (
            "clusterip_three_endpoints",
            web3().state,
            Setting::SingleStack,
        ),
        (
            "clusterip_no_endpoints",
            Scenario::new()
                .service("web", Protocol::Tcp, "10.96.0.10", 80, |_| {})
                .state,
            Setting::SingleStack,
        ),
        (
            "udp",
            Scenario::new()
                .service("dns", Protocol::Udp, "10.96.0.53", 53, |_| {})
                .endpoints(
                    "dns",
                    Protocol::Udp,
                    &[("10.244.0.2", 5353, false), ("10.244.0.3", 5353, false)],
                    local,
                )
                .state,
            Setting::SingleStack,
        ),
        (
            "sctp",
            Scenario::new()
                .service("sig", Protocol::Sctp, "10.96.0.20", 3868, |_| {})
                .endpoints("sig", Protocol::Sctp, &[("10.244.0.2", 3868, false)], local)
                .state,
            Setting::SingleStack,
        ),
        (
            "dual_stack",
            Scenario::new()
                .service("web", Protocol::Tcp, "10.96.0.10", 80, |s| {
                    s.cluster_ips.push(ip("fd00:96::10"));
                })
                .endpoints(
                    "web",
                    Protocol::Tcp,
                    &[
                        ("10.244.0.2", 8080, false),
                        ("10.244.0.3", 8080, false),
                        ("fd00:244::2", 8080, false),
                        ("fd00:244::3", 8080, false),
                    ],
                    local,
                )
                .state,
            Setting::DualStack,
        ),
        (
            "nodeport",
            web3()
                .service("web", Protocol::Tcp, "10.96.0.10", 80, |s| {
                    s.node_port = Some(30080);
                })
                .state,
            Setting::SingleStack,
        ),
        (
            "nodeport_all_addresses",
            web3()
                .service("web", Protocol::Tcp, "10.96.0.10", 80, |s| {
                    s.node_port = Some(30080);
                })
                .state,
            Setting::NodePortsOnAllAddresses,
        ),
        (
            "external_ips",
            web3()
                .service("web", Protocol::Tcp, "10.96.0.10", 80, |s| {
                    s.external_ips = vec![ip("192.168.60.10"), ip("192.168.60.11")];
                })
                .state,
            Setting::SingleStack,
        ),
        ("masquerade_all", web3().state, Setting::MasqueradeAll),
        (
            "load_balancer_source_ranges",
            web3()
                .service("web", Protocol::Tcp, "10.96.0.10", 80, |s| {
                    s.node_port = Some(30080);
                    s.load_balancer_ips = vec![ip("203.0.113.10")];
                    s.source_ranges = SourceRanges::Only(vec![
                        "198.51.100.0/24".parse().expect("cidr"),
                        "192.168.50.0/24".parse().expect("cidr"),
                    ]);
                })
                .state,
            Setting::SingleStack,
        ),
        (
            "etp_local",
            Scenario::new()
                .service("web", Protocol::Tcp, "10.96.0.10", 80, |s| {
                    s.node_port = Some(30080);
                    s.load_balancer_ips = vec![ip("203.0.113.10")];
                    s.external_traffic_policy = TrafficPolicy::Local;
                    s.health_check_node_port = Some(32000);
                })
                .endpoints(
                    "web",
                    Protocol::Tcp,
                    &[
                        ("10.244.0.2", 8080, true),
                        ("10.244.1.3", 8080, false),
                        ("10.244.1.4", 8080, false),
                    ],
                    local,
                )
                .state,
            Setting::SingleStack,
        ),
        (
            "etp_local_no_local_endpoints",
            Scenario::new()
                .service("web", Protocol::Tcp, "10.96.0.10", 80, |s| {
                    s.node_port = Some(30080);
                    s.external_traffic_policy = TrafficPolicy::Local;
                })
                .endpoints(
                    "web",
                    Protocol::Tcp,
                    &[("10.244.1.3", 8080, false), ("10.244.1.4", 8080, false)],
                    local,
                )
                .state,
            Setting::SingleStack,
        ),
        (
            "itp_local",
            Scenario::new()
                .service("web", Protocol::Tcp, "10.96.0.10", 80, |s| {
                    s.internal_traffic_policy = TrafficPolicy::Local;
                })
                .endpoints(
                    "web",
                    Protocol::Tcp,
                    &[("10.244.0.2", 8080, true), ("10.244.1.3", 8080, false)],
                    local,
                )
                .service("api", Protocol::Tcp, "10.96.0.11", 443, |s| {
                    s.internal_traffic_policy = TrafficPolicy::Local;
                })
                .endpoints("api", Protocol::Tcp, &[("10.244.1.5", 8443, false)], local)
                .state,
            Setting::SingleStack,
        ),
        (
            "affinity",
            web3()
                .service("web", Protocol::Tcp, "10.96.0.10", 80, |s| {
                    s.node_port = Some(30080);
                    s.session_affinity = Some(SessionAffinity {
                        timeout_seconds: 10_800,
                    });
                })
                .state,
            Setting::SingleStack,
        ),
        (
            "affinity_dual_stack",
            Scenario::new()
                .service("web", Protocol::Tcp, "10.96.0.10", 80, |s| {
                    s.cluster_ips.push(ip("fd00:96::10"));
                    s.session_affinity = Some(SessionAffinity {
                        timeout_seconds: 60,
                    });
                })
                .endpoints(
                    "web",
                    Protocol::Tcp,
                    &[("10.244.0.2", 8080, false), ("fd00:244::2", 8080, false)],
                    local,
                )
                .state,
            Setting::DualStack,
        ),
        (
            "terminating_fallback",
            Scenario::new()
                .service("web", Protocol::Tcp, "10.96.0.10", 80, |_| {})
                .endpoints(
                    "web",
                    Protocol::Tcp,
                    &[
                        ("10.244.0.2", 8080, false),
                        ("10.244.0.3", 8080, false),
                        ("10.244.0.4", 8080, false),
                    ],
                    |e| {
                        // .2 is gone (neither ready nor serving); .3 and .4 terminate but serve.
                        e.ready = false;
                        e.terminating = true;
                        e.serving = e.ip != ip("10.244.0.2");
                    },
                )
                .state,
            Setting::SingleStack,
        ),
    ]
}
