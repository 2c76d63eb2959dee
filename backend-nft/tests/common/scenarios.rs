//! The golden scenarios, shared by the golden tests (`tests/golden.rs`) and the kernel tests
//! (`tests/kernel`): states built from proxy-core model values, and their configurations.
//!
//! Addresses follow testkit's plan: pods `10.244.0.0/16` / `fd00:244::/64`, services
//! `10.96.0.0/16` / `fd00:96::/112`, node `192.168.50.1` / `fd00:50::1`; external IPs
//! `192.168.60.x`, load balancers `203.0.113.x`.

use backend_nft::plan::{Config, NodePortAddresses};
use proxy_core::ProxyState;
use testkit::scenarios::{Setting, ip};

/// Single-stack (IPv4) node configuration.
pub fn config() -> Config {
    Config {
        node_ips: vec![ip("192.168.50.1")],
        cluster_cidrs: vec!["10.244.0.0/16".parse().expect("cidr")],
        service_cidrs: vec!["10.96.0.0/16".parse().expect("cidr")],
        nodeport_addresses: NodePortAddresses::Primary,
        masquerade_all: false,
        detect_local: Default::default(),
    }
}

/// Dual-stack node configuration.
pub fn dual_stack_config() -> Config {
    let mut c = config();
    c.node_ips.push(ip("fd00:50::1"));
    c.cluster_cidrs.push("fd00:244::/64".parse().expect("cidr"));
    c.service_cidrs.push("fd00:96::/112".parse().expect("cidr"));
    c
}

/// The configuration of a scenario's setting.
pub fn config_for(setting: Setting) -> Config {
    match setting {
        Setting::SingleStack => config(),
        Setting::DualStack => dual_stack_config(),
        Setting::NodePortsOnAllAddresses => Config {
            nodeport_addresses: NodePortAddresses::Cidrs(vec!["0.0.0.0/0".parse().expect("cidr")]),
            ..config()
        },
        Setting::MasqueradeAll => Config {
            masquerade_all: true,
            ..config()
        },
    }
}

/// Every golden case (testkit's scenarios): name, state, configuration.
pub fn cases() -> Vec<(&'static str, ProxyState, Config)> {
    testkit::scenarios::cases()
        .into_iter()
        .map(|(name, state, setting)| (name, state, config_for(setting)))
        .collect()
}
