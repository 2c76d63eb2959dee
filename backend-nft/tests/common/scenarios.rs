//! The golden scenarios, shared by the golden tests (`tests/golden.rs`) and the kernel tests
//! (`tests/kernel`): states built from proxy-core model values, and their configurations.
//!
//! Addresses follow testkit's plan: pods `10.244.0.0/16` / `fd00:244::/64`, services
//! `10.96.0.0/16` / `fd00:96::/112`, node `192.168.50.1` / `fd00:50::1`; external IPs
//! `192.168.60.x`, load balancers `203.0.113.x`.

use backend_nft::plan::Config;
use proxy_core::ProxyState;
use testkit::scenarios::{Setting, node_config};

/// Single-stack (IPv4) node configuration.
pub fn config() -> Config {
    node_config(Setting::SingleStack)
}

/// The configuration of a scenario's setting.
pub fn config_for(setting: Setting) -> Config {
    node_config(setting)
}

/// Every golden case (testkit's scenarios): name, state, configuration.
pub fn cases() -> Vec<(&'static str, ProxyState, Config)> {
    testkit::scenarios::cases()
        .into_iter()
        .map(|(name, state, setting)| (name, state, config_for(setting)))
        .collect()
}
