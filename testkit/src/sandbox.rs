//! [`Sandbox`]: the end-to-end test topology of a service proxy, built from network namespaces.
//!
//! ```text
//!   pod0 ns            pod1 ns      ...           client ns
//!   eth0 10.244.0.2    eth0 10.244.0.3            eth0 192.168.50.2
//!     |                  |                          |
//!   pod0               pod1          node ns      client 192.168.50.1
//!   (10.244.0.1)       (10.244.0.1)  (forwarding on; the proxy's rules go here)
//! ```
//!
//! One "node" namespace is joined by a veth pair to each "pod" namespace (named `pod<i>` on the
//! node's side, `eth0` in the pod) and to a "client" namespace that stands for a machine outside
//! the cluster (`client` on the node's side, `eth0` in the client). Addresses follow the fixed
//! plan in [`crate::plan`]; every pod and the client route everything via the node, which
//! forwards between them without NAT. The node has a `blackhole` route for
//! [`crate::plan::BLACKHOLE_V4`] and [`crate::plan::BLACKHOLE_V6`].
//!
//! Sysctls, all inside the sandbox's own namespaces: IP forwarding and `rp_filter=0` in the node;
//! everywhere, no IPv6 duplicate address detection (addresses are usable at once) and no ICMP
//! rate limit (so every rejected probe gets its "refused", however many a test sends).
//!
//! The veth pairs are created from inside the node namespace with their peer end placed straight
//! into the pod or client namespace: nothing ever appears in the host's namespace. Dropping the
//! [`Sandbox`] deletes every namespace, which destroys the veths with them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{Error, Result};
use crate::netns::Netns;
use crate::plan;

/// Per-namespace sysctls for every namespace of a sandbox.
const COMMON_SYSCTLS: [&str; 4] = [
    "net.ipv6.conf.all.accept_dad=0",
    "net.ipv6.conf.default.accept_dad=0",
    "net.ipv4.icmp_ratelimit=0",
    "net.ipv6.icmp.ratelimit=0",
];

/// Extra sysctls for the node namespace.
const NODE_SYSCTLS: [&str; 4] = [
    "net.ipv4.ip_forward=1",
    "net.ipv6.conf.all.forwarding=1",
    "net.ipv4.conf.all.rp_filter=0",
    "net.ipv4.conf.default.rp_filter=0",
];

/// The node's interface towards the client.
pub const NODE_CLIENT_VETH: &str = "client";

/// The node's uplink (a veth whose peer stays down): its default route points there, and what
/// goes there is lost.
pub const NODE_UPLINK: &str = "uplink";

/// The interface in each pod and in the client.
pub const INNER_VETH: &str = "eth0";

/// The node: where the proxy's rules go.
#[derive(Debug)]
pub struct Node {
    /// The node's namespace; a backend opens its netlink socket in `ns.path()`.
    pub ns: Netns,
    /// The node IP ([`plan::NODE_V4`]).
    pub ipv4: Ipv4Addr,
    /// The node IP ([`plan::NODE_V6`]).
    pub ipv6: Ipv6Addr,
    /// The pods' gateway ([`plan::NODE_GATEWAY_V4`]), on every pod veth.
    pub gateway_v4: Ipv4Addr,
    /// The pods' gateway ([`plan::NODE_GATEWAY_V6`]), on every pod veth.
    pub gateway_v6: Ipv6Addr,
}

/// One pod.
#[derive(Debug)]
pub struct Pod {
    /// The pod's namespace: start servers here.
    pub ns: Netns,
    /// Its position in [`Sandbox::pods`].
    pub index: usize,
    /// Its IPv4 address ([`plan::pod_ipv4`]).
    pub ipv4: Ipv4Addr,
    /// Its IPv6 address ([`plan::pod_ipv6`]).
    pub ipv6: Ipv6Addr,
    /// The name of its veth on the node's side (`pod<index>`).
    pub node_veth: String,
}

/// The client: a machine outside the cluster, one hop from the node.
#[derive(Debug)]
pub struct Client {
    /// The client's namespace: send probes from here.
    pub ns: Netns,
    /// Its IPv4 address ([`plan::CLIENT_V4`]).
    pub ipv4: Ipv4Addr,
    /// Its IPv6 address ([`plan::CLIENT_V6`]).
    pub ipv6: Ipv6Addr,
}

impl Node {
    /// The node IPs, IPv4 first.
    pub fn ips(&self) -> [IpAddr; 2] {
        [self.ipv4.into(), self.ipv6.into()]
    }
}

impl Pod {
    /// The pod's IPs, IPv4 first.
    pub fn ips(&self) -> [IpAddr; 2] {
        [self.ipv4.into(), self.ipv6.into()]
    }
}

impl Client {
    /// The client's IPs, IPv4 first.
    pub fn ips(&self) -> [IpAddr; 2] {
        [self.ipv4.into(), self.ipv6.into()]
    }
}

/// A node, its pods and a client, each in its own network namespace; all deleted on drop.
#[derive(Debug)]
pub struct Sandbox {
    /// The node.
    pub node: Node,
    /// The pods, in index order.
    pub pods: Vec<Pod>,
    /// The client.
    pub client: Client,
}

impl Sandbox {
    /// A builder: prefix `tk`, 2 pods.
    pub fn builder() -> SandboxBuilder {
        SandboxBuilder::default()
    }

    /// A sandbox with `pods` pods and the default prefix.
    pub fn new(pods: usize) -> Result<Sandbox> {
        Sandbox::builder().pods(pods).build()
    }

    /// The names of all its namespaces (node, pods, client).
    pub fn names(&self) -> Vec<String> {
        let mut names = vec![self.node.ns.name().to_owned()];
        names.extend(self.pods.iter().map(|pod| pod.ns.name().to_owned()));
        names.push(self.client.ns.name().to_owned());
        names
    }
}

/// Configures and builds a [`Sandbox`].
#[derive(Clone, Debug)]
pub struct SandboxBuilder {
    prefix: String,
    pods: usize,
}

impl Default for SandboxBuilder {
    fn default() -> Self {
        SandboxBuilder {
            prefix: "tk".to_owned(),
            pods: 2,
        }
    }
}

impl SandboxBuilder {
    /// The namespaces are named `<prefix>-node-<pid>-<n>`, `<prefix>-pod<i>-<pid>-<n>` and
    /// `<prefix>-client-<pid>-<n>`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How many pods (0 to [`plan::MAX_PODS`]).
    pub fn pods(mut self, pods: usize) -> Self {
        self.pods = pods;
        self
    }

    /// Creates the namespaces, links, addresses and routes. On error, whatever was created is
    /// deleted again.
    pub fn build(self) -> Result<Sandbox> {
        if self.pods > plan::MAX_PODS {
            return Err(Error::InvalidArgument(format!(
                "{} pods asked for, the address plan has room for {}",
                self.pods,
                plan::MAX_PODS
            )));
        }
        let prefix = &self.prefix;

        // Namespaces first; each guard deletes its namespace if a later step fails.
        let node_ns = Netns::new(&format!("{prefix}-node"))?;
        let mut node_sysctls = COMMON_SYSCTLS.to_vec();
        node_sysctls.extend(NODE_SYSCTLS);
        node_ns.sysctl(&node_sysctls)?;
        let client_ns = Netns::new(&format!("{prefix}-client"))?;
        client_ns.sysctl(&COMMON_SYSCTLS)?;
        let mut pods = Vec::with_capacity(self.pods);
        for index in 0..self.pods {
            let ns = Netns::new(&format!("{prefix}-pod{index}"))?;
            ns.sysctl(&COMMON_SYSCTLS)?;
            pods.push(Pod {
                ns,
                index,
                ipv4: plan::pod_ipv4(index),
                ipv6: plan::pod_ipv6(index),
                node_veth: format!("pod{index}"),
            });
        }

        // The node's side: every veth is created here, its peer going straight to the other
        // namespace, so nothing touches the host.
        let (gw4, gw6) = (plan::NODE_GATEWAY_V4, plan::NODE_GATEWAY_V6);
        let mut node_script = Vec::new();
        for pod in &pods {
            let (veth, peer_ns) = (&pod.node_veth, pod.ns.name());
            node_script.extend([
                format!("link add name {veth} type veth peer name {INNER_VETH} netns {peer_ns}"),
                format!("addr add {gw4}/32 dev {veth}"),
                format!("addr add {gw6}/128 dev {veth} nodad"),
                format!("link set {veth} up"),
                format!("route add {}/32 dev {veth} src {gw4}", pod.ipv4),
                format!("route add {}/128 dev {veth} src {gw6}", pod.ipv6),
            ]);
        }
        let client_peer = client_ns.name();
        node_script.extend([
            format!(
                "link add name {NODE_CLIENT_VETH} type veth peer name {INNER_VETH} netns {client_peer}"
            ),
            format!("addr add {}/24 dev {NODE_CLIENT_VETH}", plan::NODE_V4),
            format!("addr add {}/64 dev {NODE_CLIENT_VETH} nodad", plan::NODE_V6),
            format!("link set {NODE_CLIENT_VETH} up"),
            format!("route add blackhole {}/32", plan::BLACKHOLE_V4),
            format!("route add blackhole {}/128", plan::BLACKHOLE_V6),
            // A default route, as every real node has, out of an "uplink" veth whose peer stays
            // down, so what is sent there is lost: traffic to an address nobody serves (a
            // service IP without rules) is routed, so the forward hook (where the proxy
            // rejects) sees it.
            format!("link add {NODE_UPLINK} type veth peer name {NODE_UPLINK}-peer"),
            format!("link set {NODE_UPLINK} up"),
            format!("route add 0.0.0.0/0 via {} dev {NODE_UPLINK} onlink", plan::UPLINK_GATEWAY_V4),
            format!("route add ::/0 via {} dev {NODE_UPLINK} onlink", plan::UPLINK_GATEWAY_V6),
        ]);
        node_ns.ip_batch(&node_script)?;

        for pod in &pods {
            pod.ns.ip_batch([
                format!("addr add {}/32 dev {INNER_VETH}", pod.ipv4),
                format!("addr add {}/128 dev {INNER_VETH} nodad", pod.ipv6),
                format!("link set {INNER_VETH} up"),
                format!("route add 0.0.0.0/0 via {gw4} dev {INNER_VETH} onlink"),
                format!("route add ::/0 via {gw6} dev {INNER_VETH} onlink"),
            ])?;
        }
        client_ns.ip_batch([
            format!("addr add {}/24 dev {INNER_VETH}", plan::CLIENT_V4),
            format!("addr add {}/64 dev {INNER_VETH} nodad", plan::CLIENT_V6),
            format!("link set {INNER_VETH} up"),
            format!("route add 0.0.0.0/0 via {}", plan::NODE_V4),
            format!("route add ::/0 via {}", plan::NODE_V6),
        ])?;

        tracing::debug!(node = node_ns.name(), pods = pods.len(), "sandbox ready");
        Ok(Sandbox {
            node: Node {
                ns: node_ns,
                ipv4: plan::NODE_V4,
                ipv6: plan::NODE_V6,
                gateway_v4: gw4,
                gateway_v6: gw6,
            },
            pods,
            client: Client {
                ns: client_ns,
                ipv4: plan::CLIENT_V4,
                ipv6: plan::CLIENT_V6,
            },
        })
    }
}
