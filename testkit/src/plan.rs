//! The sandbox's fixed address plan, so tests can name IPs.
//!
//! | what | IPv4 | IPv6 |
//! | --- | --- | --- |
//! | pod network (routed, one veth per pod) | [`POD_CIDR_V4`] `10.244.0.0/16` | [`POD_CIDR_V6`] `fd00:244::/64` |
//! | node, pod-facing gateway (on every pod veth) | [`NODE_GATEWAY_V4`] `10.244.0.1` | [`NODE_GATEWAY_V6`] `fd00:244::1` |
//! | pod `i` (0-based) | [`pod_ipv4`]: `10.244.0.{i+2}` | [`pod_ipv6`]: `fd00:244::{i+2}` |
//! | node–client link | [`NODE_CLIENT_CIDR_V4`] `192.168.50.0/24` | [`NODE_CLIENT_CIDR_V6`] `fd00:50::/64` |
//! | node IP (its client-facing address; use it for NodePorts) | [`NODE_V4`] `192.168.50.1` | [`NODE_V6`] `fd00:50::1` |
//! | client (a machine outside the cluster) | [`CLIENT_V4`] `192.168.50.2` | [`CLIENT_V6`] `fd00:50::2` |
//! | the node's default gateway, on an uplink whose peer is down (lost) | [`UPLINK_GATEWAY_V4`] `203.0.113.254` | [`UPLINK_GATEWAY_V6`] `2001:db8:ffff::254` |
//! | blackholed in the node (silently dropped) | [`BLACKHOLE_V4`] `198.51.100.254` | [`BLACKHOLE_V6`] `2001:db8:dead::254` |
//! | suggested service ClusterIPs (not configured anywhere) | [`SERVICE_CIDR_V4`] `10.96.0.0/16` | [`SERVICE_CIDR_V6`] `fd00:96::/112` |
//!
//! Pod `i`'s IPv6 address ends in the same digits as its IPv4 address (pod 10 is `10.244.0.12`
//! and `fd00:244::12`): the group is the decimal number written as hex digits, which is easy to
//! read though `0x12` is not 12.
//!
//! Pods and the client have a default route via the node (`10.244.0.1`/`fd00:244::1` for pods,
//! `192.168.50.1`/`fd00:50::1` for the client), so traffic to anything, including service IPs,
//! goes through the node, where the proxy's rules act. Between pods and the client the node
//! simply routes: no NAT unless the proxy adds it.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The pod network, IPv4.
pub const POD_CIDR_V4: &str = "10.244.0.0/16";
/// The pod network, IPv6.
pub const POD_CIDR_V6: &str = "fd00:244::/64";
/// The node's address on every pod-facing veth: the pods' IPv4 default gateway.
pub const NODE_GATEWAY_V4: Ipv4Addr = Ipv4Addr::new(10, 244, 0, 1);
/// The node's address on every pod-facing veth: the pods' IPv6 default gateway.
pub const NODE_GATEWAY_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x244, 0, 0, 0, 0, 0, 1);

/// The node–client link, IPv4.
pub const NODE_CLIENT_CIDR_V4: &str = "192.168.50.0/24";
/// The node–client link, IPv6.
pub const NODE_CLIENT_CIDR_V6: &str = "fd00:50::/64";
/// The node's IPv4 address (on the client link): its node IP, for NodePorts.
pub const NODE_V4: Ipv4Addr = Ipv4Addr::new(192, 168, 50, 1);
/// The node's IPv6 address (on the client link): its node IP, for NodePorts.
pub const NODE_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x50, 0, 0, 0, 0, 0, 1);
/// The client's IPv4 address.
pub const CLIENT_V4: Ipv4Addr = Ipv4Addr::new(192, 168, 50, 2);
/// The client's IPv6 address.
pub const CLIENT_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x50, 0, 0, 0, 0, 0, 2);

/// An IPv4 address the node routes to a `blackhole` route: packets to it vanish (a timeout).
pub const BLACKHOLE_V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 254);
/// An IPv6 address the node routes to a `blackhole` route: packets to it vanish (a timeout).
pub const BLACKHOLE_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xdead, 0, 0, 0, 0, 0x254);
/// The node's default gateway (on its uplink, where routed traffic is lost).
pub const UPLINK_GATEWAY_V4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 254);
/// The node's IPv6 default gateway (on its uplink).
pub const UPLINK_GATEWAY_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 0x254);

/// Suggested IPv4 range for service ClusterIPs in tests. Nothing is configured for it: without
/// the proxy's rules the node has no route for it.
pub const SERVICE_CIDR_V4: &str = "10.96.0.0/16";
/// Suggested IPv6 range for service ClusterIPs in tests (see [`SERVICE_CIDR_V4`]).
pub const SERVICE_CIDR_V6: &str = "fd00:96::/112";

/// How many pods a sandbox can have (pod addresses run from `.2` to `.254`).
pub const MAX_PODS: usize = 253;

/// Pod `index`'s IPv4 address: `10.244.0.{index + 2}`.
///
/// # Panics
///
/// If `index >= MAX_PODS`.
pub fn pod_ipv4(index: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 244, 0, host_octet(index))
}

/// Pod `index`'s IPv6 address: `fd00:244::{index + 2}`, the number's decimal digits read as hex.
///
/// # Panics
///
/// If `index >= MAX_PODS`.
pub fn pod_ipv6(index: usize) -> Ipv6Addr {
    let digits = u16::from(host_octet(index));
    let group = ((digits / 100) << 8) | ((digits / 10 % 10) << 4) | (digits % 10);
    Ipv6Addr::new(0xfd00, 0x244, 0, 0, 0, 0, 0, group)
}

fn host_octet(index: usize) -> u8 {
    assert!(
        index < MAX_PODS,
        "pod index {index} is out of range (at most {MAX_PODS} pods)"
    );
    // In range 2..=254 by the assertion.
    u8::try_from(index + 2).unwrap_or(u8::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_addresses() {
        assert_eq!(pod_ipv4(0).to_string(), "10.244.0.2");
        assert_eq!(pod_ipv6(0).to_string(), "fd00:244::2");
        assert_eq!(pod_ipv4(10).to_string(), "10.244.0.12");
        assert_eq!(pod_ipv6(10).to_string(), "fd00:244::12");
        assert_eq!(pod_ipv4(MAX_PODS - 1).to_string(), "10.244.0.254");
        assert_eq!(pod_ipv6(MAX_PODS - 1).to_string(), "fd00:244::254");
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn too_many_pods() {
        pod_ipv4(MAX_PODS);
    }
}
