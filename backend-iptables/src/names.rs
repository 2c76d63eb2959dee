//! Chain names: every chain svcproxy creates starts with [`PREFIX`], so cleanup and backend
//! switches recognise ours ([`is_ours`]) and never touch anyone else's (`KUBE-*` included).
//!
//! # Static chains
//!
//! | table | chain | jumped from | holds |
//! |---|---|---|---|
//! | nat | [`SERVICES`] | `PREROUTING`, `OUTPUT` | one rule per frontend (cluster IP, external IP, LB IP), then the node-port jump |
//! | nat | [`NODEPORTS`] | [`SERVICES`] (node-port addresses) | one rule per node port |
//! | nat | [`POSTROUTING`] | `POSTROUTING` | `MASQUERADE --random-fully` of marked traffic |
//! | nat | [`MARK_MASQ`] | per-service chains | sets the masquerade mark |
//! | nat | [`MASQ_OFF_CLUSTER`] | service chains (only with 2+ pod CIDRs in a family) | marks sources outside every pod CIDR |
//! | filter | [`SERVICES`] | `FORWARD`, `OUTPUT` (new) | cluster IPs without (usable) endpoints: REJECT / DROP; then [`CLUSTER_IPS`] |
//! | filter | [`EXTERNAL_SERVICES`] | `INPUT`, `FORWARD`, `OUTPUT` (new) | external / LB IPs without (usable) endpoints; then [`NODEPORTS`] |
//! | filter | [`NODEPORTS`] | [`EXTERNAL_SERVICES`] (node-port addresses) | node ports without (usable) endpoints |
//! | filter | [`FIREWALL`] | `INPUT`, `FORWARD`, `OUTPUT` (new) | LB frontends with source ranges: DROP what was not DNATed |
//! | filter | [`CLUSTER_IPS`] | filter [`SERVICES`] | REJECT unused ports of cluster IPs, DROP unallocated service addresses |
//!
//! # Per-service chains (nat)
//!
//! `SVCP-<KIND>-<HASH>`: `KIND` is `SVC` (cluster policy: all usable endpoints), `SVL` (local
//! policy: local endpoints), `EXT` (external traffic: masquerade or ETP-Local short circuit),
//! `FW` (load-balancer source ranges) or `SEP` (one endpoint: hairpin mark and DNAT). `HASH` is
//! the first 16 characters of base32(sha256(identity)), where the identity is the service port
//! (`ns/name:port/proto`) for `SVC`/`SVL`/`EXT`/`FW` and the service port plus the endpoint
//! (`ns/name:port/proto ip:port`) for `SEP`. So names are stable across restarts and the same on
//! every node; the longest is 25 characters (iptables allows 28).

use std::net::SocketAddr;

use proxy_core::model::ServicePortName;
use sha2::{Digest, Sha256};

/// The prefix of every chain svcproxy creates.
pub const PREFIX: &str = "SVCP-";

/// nat and filter: the top-level service dispatch (nat) / no-endpoint checks (filter).
pub const SERVICES: &str = "SVCP-SERVICES";
/// nat and filter: node ports (dispatch in nat, no-endpoint checks in filter).
pub const NODEPORTS: &str = "SVCP-NODEPORTS";
/// filter: no-endpoint checks of external and load-balancer IPs, then node ports.
pub const EXTERNAL_SERVICES: &str = "SVCP-EXTERNAL-SERVICES";
/// filter: load-balancer source ranges (drops what the nat `FW` chains did not DNAT).
pub const FIREWALL: &str = "SVCP-FIREWALL";
/// filter: unused ports of cluster IPs and unallocated service addresses.
pub const CLUSTER_IPS: &str = "SVCP-CLUSTER-IPS";
/// nat: masquerade of marked traffic.
pub const POSTROUTING: &str = "SVCP-POSTROUTING";
/// nat: sets the masquerade mark.
pub const MARK_MASQ: &str = "SVCP-MARK-MASQ";
/// nat: marks traffic whose source is outside every pod CIDR (2+ pod CIDRs in a family).
pub const MASQ_OFF_CLUSTER: &str = "SVCP-MASQ-OFF-CLUSTER";

/// The packet mark that asks for masquerade (kube-proxy's bit).
pub const MASQUERADE_MARK: u32 = 0x4000;

/// The longest chain name iptables accepts.
pub const MAX_CHAIN_LEN: usize = 28;

/// Whether `chain` is one of svcproxy's chains.
pub fn is_ours(chain: &str) -> bool {
    chain.starts_with(PREFIX)
}

/// The kind of a per-service chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Cluster traffic policy: balances over every usable endpoint.
    Svc,
    /// Local traffic policy: balances over the local endpoints.
    Svl,
    /// External traffic (node ports, external IPs, LB IPs): masquerade or short circuit.
    Ext,
    /// Load-balancer source ranges.
    Fw,
    /// One endpoint: hairpin mark, affinity record, DNAT.
    Sep,
}

impl Kind {
    /// The tag in the chain name (`SVC`, `SVL`, `EXT`, `FW`, `SEP`).
    pub fn tag(self) -> &'static str {
        match self {
            Kind::Svc => "SVC",
            Kind::Svl => "SVL",
            Kind::Ext => "EXT",
            Kind::Fw => "FW",
            Kind::Sep => "SEP",
        }
    }
}

/// The chain of `kind` (not [`Kind::Sep`]) of service port `port`.
pub fn service_chain(kind: Kind, port: &ServicePortName) -> String {
    chain(kind, &port.to_string())
}

/// The endpoint chain of `endpoint` behind service port `port`.
pub fn endpoint_chain(port: &ServicePortName, endpoint: SocketAddr) -> String {
    chain(Kind::Sep, &format!("{port} {endpoint}"))
}

fn chain(kind: Kind, identity: &str) -> String {
    let digest = Sha256::digest(identity.as_bytes());
    let mut name = String::with_capacity(PREFIX.len() + 4 + 16);
    name.push_str(PREFIX);
    name.push_str(kind.tag());
    name.push('-');
    name.push_str(&base32(&digest)[..16]);
    name
}

/// RFC 4648 base32 (upper case, no padding needed for our use).
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((acc >> bits) & 31) as usize]));
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((acc << (5 - bits)) & 31) as usize]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proxy_core::model::Protocol;

    #[test]
    fn base32_matches_rfc4648() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
    }

    #[test]
    fn names_are_stable_short_and_ours() {
        let port = ServicePortName::new("default", "web", "http", Protocol::Tcp);
        let svc = service_chain(Kind::Svc, &port);
        assert_eq!(svc, service_chain(Kind::Svc, &port));
        assert_ne!(svc, service_chain(Kind::Svl, &port));
        let udp = ServicePortName::new("default", "web", "http", Protocol::Udp);
        assert_ne!(svc, service_chain(Kind::Svc, &udp));
        let sep = endpoint_chain(&port, "10.244.0.2:8080".parse().expect("addr"));
        for name in [&svc, &sep] {
            assert!(is_ours(name));
            assert!(name.len() <= MAX_CHAIN_LEN, "{name}");
        }
        assert_eq!(sep.len(), 25);
        assert!(!is_ours("KUBE-SERVICES"));
        for name in [
            SERVICES,
            NODEPORTS,
            EXTERNAL_SERVICES,
            FIREWALL,
            CLUSTER_IPS,
            POSTROUTING,
            MARK_MASQ,
            MASQ_OFF_CLUSTER,
        ] {
            assert!(is_ours(name) && name.len() <= MAX_CHAIN_LEN, "{name}");
        }
    }
}
