//! kube-proxy's nftables ruleset for a [`ProxyState`], as the text kube-proxy pipes to
//! `nft -f -` on a full sync: the reference the full-sync bench compares svcproxy against.
//!
//! The shape follows the structure of upstream `pkg/proxy/nftables/proxier.go` (see
//! `shared/reference/anchors.md` section 2 and `baseline.md`; no code copied), for what the
//! benches generate (ClusterIP services, TCP, no node ports, no affinity):
//!
//! * one `table ip kube-proxy`, its 8 base chains (numeric priorities: nft 1.0.6 rejects the
//!   name `dstnat` on the output hook), the maps `service-ips`, `service-nodeports`,
//!   `no-endpoint-services`, `no-endpoint-nodeports`, `firewall-ips`, the set `cluster-ips`,
//!   and the chains `services`, `service-endpoints-check`, `nodeport-endpoints-check`,
//!   `firewall-check`, `cluster-ips-check`, `reject-chain`, `mark-for-masquerade`,
//!   `masquerading`;
//! * per service port a chain `service-HASH-ns/name/tcp/port` holding the off-cluster
//!   masquerade rule and `numgen random mod N vmap { 0 : goto endpoint-…, … }` (one anonymous
//!   verdict map per service: what makes one big batch superlinear in the kernel);
//! * per endpoint a chain `endpoint-HASH-ns/name/tcp/port__IP/PORT` with the hairpin
//!   masquerade mark and the `dnat`;
//! * `service-ips` and `cluster-ips` elements; services without endpoints get a
//!   `no-endpoint-services` element to `reject-chain` instead;
//! * knftables command style: `add` + `flush` of every chain, one `add rule` / `add element`
//!   per line.
//!
//! Chain-name hashes are 8 characters of base32 like upstream's, but of a 64-bit FNV-1a hash
//! rather than SHA-256 (the kernel's cost does not depend on which bytes they are, and the
//! benches need no crypto dependency).

use std::fmt::Write as _;
use std::net::IpAddr;

use ipnet::IpNet;
use proxy_core::ProxyState;
use proxy_core::model::{Endpoint, ServicePortName};

/// The table kube-proxy programs.
pub const TABLE: &str = "kube-proxy";

/// The node-level inputs of the ruleset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The pod CIDR: traffic to a cluster IP from elsewhere is masqueraded (`detectLocal`).
    pub cluster_cidr: IpNet,
    /// The service CIDR: addresses of it that no service uses are dropped.
    pub service_cidr: IpNet,
}

/// Base chains: name, type, hook, priority (dstnat = -100, srcnat = 100).
const BASE_CHAINS: [(&str, &str, &str, i32); 8] = [
    ("filter-prerouting", "filter", "prerouting", -110),
    ("filter-input", "filter", "input", -110),
    ("filter-forward", "filter", "forward", -110),
    ("filter-output", "filter", "output", -110),
    ("filter-output-post-dnat", "filter", "output", -90),
    ("nat-prerouting", "nat", "prerouting", -100),
    ("nat-output", "nat", "output", -100),
    ("nat-postrouting", "nat", "postrouting", 100),
];

/// Regular chains every ruleset has.
const STATIC_CHAINS: [&str; 8] = [
    "services",
    "service-endpoints-check",
    "nodeport-endpoints-check",
    "firewall-check",
    "cluster-ips-check",
    "reject-chain",
    "mark-for-masquerade",
    "masquerading",
];

/// Named sets and maps: name and declaration body.
const CONTAINERS: [(&str, &str, &str); 6] = [
    (
        "map",
        "service-ips",
        "type ipv4_addr . inet_proto . inet_service : verdict ; comment \"ClusterIP, ExternalIP and LoadBalancer IP traffic\" ;",
    ),
    (
        "map",
        "service-nodeports",
        "type inet_proto . inet_service : verdict ; comment \"NodePort traffic\" ;",
    ),
    (
        "set",
        "cluster-ips",
        "type ipv4_addr ; comment \"Active ClusterIPs\" ;",
    ),
    (
        "map",
        "no-endpoint-services",
        "type ipv4_addr . inet_proto . inet_service : verdict ; comment \"vmap to drop or reject packets to services with no endpoints\" ;",
    ),
    (
        "map",
        "no-endpoint-nodeports",
        "type inet_proto . inet_service : verdict ; comment \"vmap to drop or reject packets to service nodeports with no endpoints\" ;",
    ),
    (
        "map",
        "firewall-ips",
        "type ipv4_addr . inet_proto . inet_service : verdict ; comment \"destinations that are subject to LoadBalancerSourceRanges\" ;",
    ),
];

/// Rules of the base and static chains.
fn static_rules(config: &Config) -> Vec<(&'static str, String)> {
    let new = "ct state new";
    vec![
        ("filter-prerouting", format!("{new} jump firewall-check")),
        ("filter-input", format!("{new} jump nodeport-endpoints-check")),
        ("filter-input", format!("{new} jump service-endpoints-check")),
        ("filter-forward", format!("{new} jump service-endpoints-check")),
        ("filter-forward", format!("{new} jump cluster-ips-check")),
        ("filter-output", format!("{new} jump service-endpoints-check")),
        ("filter-output", format!("{new} jump firewall-check")),
        ("filter-output-post-dnat", format!("{new} jump cluster-ips-check")),
        ("nat-prerouting", "jump services".into()),
        ("nat-output", "jump services".into()),
        ("nat-postrouting", "jump masquerading".into()),
        ("masquerading", "meta mark & 0x4000 == 0 return".into()),
        ("masquerading", "meta mark set meta mark ^ 0x4000".into()),
        ("masquerading", "masquerade fully-random".into()),
        ("mark-for-masquerade", "meta mark set meta mark | 0x4000".into()),
        ("reject-chain", "reject".into()),
        (
            "services",
            "ip daddr . meta l4proto . th dport vmap @service-ips".into(),
        ),
        (
            "services",
            "fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports"
                .into(),
        ),
        (
            "service-endpoints-check",
            "ip daddr . meta l4proto . th dport vmap @no-endpoint-services".into(),
        ),
        (
            "nodeport-endpoints-check",
            "ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @no-endpoint-nodeports".into(),
        ),
        (
            "firewall-check",
            "ip daddr . meta l4proto . th dport vmap @firewall-ips".into(),
        ),
        ("cluster-ips-check", "ip daddr @cluster-ips reject".into()),
        (
            "cluster-ips-check",
            format!("ip daddr {} drop", config.service_cidr),
        ),
    ]
}

/// The full-sync text for the IPv4 part of `state` (services without an IPv4 cluster IP are
/// left out; endpoints that are not ready are left out).
pub fn render(state: &ProxyState, config: &Config) -> String {
    let mut out = String::with_capacity(state.services.len() * 2048 + 8192);
    let t = format!("ip {TABLE}");
    // `write!` into a String cannot fail.
    let _ = writeln!(
        out,
        "add table {t} {{ comment \"rules for kube-proxy\" ; }}"
    );
    for (name, ty, hook, prio) in BASE_CHAINS {
        let _ = writeln!(
            out,
            "add chain {t} {name} {{ type {ty} hook {hook} priority {prio} ; }}"
        );
        let _ = writeln!(out, "flush chain {t} {name}");
    }
    for name in STATIC_CHAINS {
        let _ = writeln!(out, "add chain {t} {name}");
        let _ = writeln!(out, "flush chain {t} {name}");
    }
    for (kind, name, body) in CONTAINERS {
        let _ = writeln!(out, "add {kind} {t} {name} {{ {body} }}");
        let _ = writeln!(out, "flush {kind} {t} {name}");
    }
    for (chain, rule) in static_rules(config) {
        let _ = writeln!(out, "add rule {t} {chain} {rule}");
    }

    for (name, svc) in &state.services {
        let Some(IpAddr::V4(vip)) = svc.cluster_ips.iter().copied().find(IpAddr::is_ipv4) else {
            continue;
        };
        let proto = svc.protocol();
        let port = svc.port;
        let endpoints: Vec<&Endpoint> = state
            .endpoints_of(name)
            .iter()
            .filter(|e| e.ready && e.ip.is_ipv4())
            .collect();
        let key = format!("{vip} . {proto} . {port}");
        let _ = writeln!(out, "add element {t} cluster-ips {{ {vip} }}");
        if endpoints.is_empty() {
            let _ = writeln!(
                out,
                "add element {t} no-endpoint-services {{ {key} comment \"{}\" : goto reject-chain }}",
                comment(name)
            );
            continue;
        }
        let base = port_chain_base(name);
        let svc_chain = format!("service-{}-{base}", hash8(&base));
        let ep_chains: Vec<String> = endpoints
            .iter()
            .map(|e| {
                let ep = format!("{base}__{}/{}", e.ip, e.port);
                format!("endpoint-{}-{ep}", hash8(&ep))
            })
            .collect();
        for chain in std::iter::once(&svc_chain).chain(&ep_chains) {
            let _ = writeln!(out, "add chain {t} {chain}");
            let _ = writeln!(out, "flush chain {t} {chain}");
        }
        let _ = writeln!(
            out,
            "add rule {t} {svc_chain} ip daddr {vip} {proto} dport {port} ip saddr != {} jump mark-for-masquerade",
            config.cluster_cidr
        );
        let mut vmap = String::new();
        for (i, chain) in ep_chains.iter().enumerate() {
            if i > 0 {
                vmap.push_str(", ");
            }
            let _ = write!(vmap, "{i} : goto {chain}");
        }
        let _ = writeln!(
            out,
            "add rule {t} {svc_chain} numgen random mod {} vmap {{ {vmap} }}",
            ep_chains.len()
        );
        for (e, chain) in endpoints.iter().zip(&ep_chains) {
            let _ = writeln!(
                out,
                "add rule {t} {chain} ip saddr {} jump mark-for-masquerade",
                e.ip
            );
            let _ = writeln!(
                out,
                "add rule {t} {chain} meta l4proto {proto} dnat to {}:{}",
                e.ip, e.port
            );
        }
        let _ = writeln!(
            out,
            "add element {t} service-ips {{ {key} comment \"{}\" : goto {svc_chain} }}",
            comment(name)
        );
    }
    out
}

/// `ns/name/proto/port`: the part of a service port's chain names after the hash.
fn port_chain_base(name: &ServicePortName) -> String {
    format!(
        "{}/{}/{}/{}",
        name.service.namespace, name.service.name, name.protocol, name.port
    )
}

/// `ns/name:port`: element comments.
fn comment(name: &ServicePortName) -> String {
    format!(
        "{}/{}:{}",
        name.service.namespace, name.service.name, name.port
    )
}

/// 8 base32 characters (RFC 4648 alphabet) of a 64-bit FNV-1a hash of `s`.
pub fn hash8(s: &str) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (0..8)
        .map(|i| char::from(ALPHABET[((h >> (59 - 5 * i)) & 31) as usize]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{self, Cluster};

    fn config() -> Config {
        Config {
            cluster_cidr: IpNet::V4(cluster::CLUSTER_CIDR),
            service_cidr: IpNet::V4(cluster::SERVICE_CIDR),
        }
    }

    #[test]
    fn hashes_are_short_base32_and_stable() {
        let h = hash8("bench-0/svc-1/tcp/http");
        assert_eq!(h.len(), 8);
        assert!(
            h.chars()
                .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c))
        );
        assert_eq!(h, hash8("bench-0/svc-1/tcp/http"));
        assert_ne!(h, hash8("bench-0/svc-2/tcp/http"));
    }

    #[test]
    fn one_service_of_two_endpoints() {
        let c = Cluster::new(1, 2);
        let text = render(&c.state(), &config());
        let svc = format!(
            "service-{}-bench-0/svc-0/tcp/http",
            hash8("bench-0/svc-0/tcp/http")
        );
        let ep0 = format!(
            "endpoint-{}-bench-0/svc-0/tcp/http__10.244.0.2/8080",
            hash8("bench-0/svc-0/tcp/http__10.244.0.2/8080")
        );
        let ep1 = format!(
            "endpoint-{}-bench-0/svc-0/tcp/http__10.244.0.3/8080",
            hash8("bench-0/svc-0/tcp/http__10.244.0.3/8080")
        );
        for line in [
            format!("add chain ip kube-proxy {svc}"),
            format!("flush chain ip kube-proxy {ep1}"),
            format!(
                "add rule ip kube-proxy {svc} ip daddr 10.96.0.10 tcp dport 80 ip saddr != 10.244.0.0/14 jump mark-for-masquerade"
            ),
            format!(
                "add rule ip kube-proxy {svc} numgen random mod 2 vmap {{ 0 : goto {ep0}, 1 : goto {ep1} }}"
            ),
            format!("add rule ip kube-proxy {ep0} ip saddr 10.244.0.2 jump mark-for-masquerade"),
            format!("add rule ip kube-proxy {ep1} meta l4proto tcp dnat to 10.244.0.3:8080"),
            format!(
                "add element ip kube-proxy service-ips {{ 10.96.0.10 . tcp . 80 comment \"bench-0/svc-0:http\" : goto {svc} }}"
            ),
            "add element ip kube-proxy cluster-ips { 10.96.0.10 }".to_owned(),
            "add rule ip kube-proxy cluster-ips-check ip daddr 10.96.0.0/12 drop".to_owned(),
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }

    #[test]
    fn sizes_scale_with_the_cluster() {
        let c = Cluster::new(100, 5);
        let text = render(&c.state(), &config());
        let chains = text.lines().filter(|l| l.starts_with("add chain ")).count();
        assert_eq!(chains, 8 + 8 + 100 * 6);
        let vmaps = text
            .lines()
            .filter(|l| l.contains(" numgen random mod 5 vmap "))
            .count();
        assert_eq!(vmaps, 100);
    }

    #[test]
    fn no_endpoints_rejects() {
        let c = Cluster::new(1, 0);
        let text = render(&c.state(), &config());
        assert!(text.contains(
            "add element ip kube-proxy no-endpoint-services { 10.96.0.10 . tcp . 80 comment \"bench-0/svc-0:http\" : goto reject-chain }"
        ));
        assert!(!text.contains("add element ip kube-proxy service-ips"));
    }
}
