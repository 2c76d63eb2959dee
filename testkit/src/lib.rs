//! Test support shared by svcproxy's backends: kernel tests, benches and the demo run in a
//! sandbox of network namespaces, never in the host's.
//!
//! - [`netns::Netns`]: an RAII network namespace (`ip netns add`, deleted on drop, also while a
//!   panic unwinds), with helpers to run commands in it and to run closures on a thread that has
//!   joined it.
//! - [`sandbox::Sandbox`]: a "node" namespace (where the proxy's rules go) joined by veth pairs
//!   to N "pod" namespaces and to a "client" namespace standing for a machine outside the
//!   cluster, with the fixed address plan below.
//! - [`server`]: TCP and UDP servers that answer with the IP they were reached on, and
//!   [`server::tcp_ask`] / [`server::udp_ask`] probes whose [`server::Outcome`] tells an answer
//!   from "refused" and from "timeout".
//! - [`fake_api::FakeApi`] (feature `fake-api`, on by default): a fake Kubernetes API server
//!   on plain HTTP for the kube source's tests, with outages, 410s and dropped watches on
//!   demand.
//! - `arb` (feature `proptest`): generators of Kubernetes objects, manifests, tracker events
//!   and node setups for property tests and fuzz targets.
//! - [`routes`]: where every service frontend of a state must send a packet, the oracle the
//!   backends' plan checkers compare their planned rulesets with (no root needed).
//!
//! Everything needs root (`CAP_NET_ADMIN` and `CAP_SYS_ADMIN`) and `iproute2`; tests call
//! [`root_or_skip`] first.
//!
//! # Address plan
//!
//! Fixed, so tests can name IPs ([`plan`] has the constants):
//!
//! | what | IPv4 | IPv6 |
//! | --- | --- | --- |
//! | pod network (routed: one veth per pod, no bridge) | `10.244.0.0/16` | `fd00:244::/64` |
//! | node's pod-facing gateway (on every pod veth) | `10.244.0.1` | `fd00:244::1` |
//! | pod `i` (0-based) | `10.244.0.{i+2}` | `fd00:244::{i+2}` (same digits) |
//! | node–client link | `192.168.50.0/24` | `fd00:50::/64` |
//! | node IP (client-facing; NodePorts) | `192.168.50.1` | `fd00:50::1` |
//! | client | `192.168.50.2` | `fd00:50::2` |
//! | blackholed by the node (probes time out) | `198.51.100.254` | `2001:db8:dead::254` |
//! | suggested service ClusterIPs (not configured) | `10.96.0.0/16` | `fd00:96::/112` |
//!
//! Pods and the client route everything via the node, which forwards (no NAT of its own).
//!
//! # Example
//!
//! ```no_run
//! use std::net::SocketAddr;
//! use std::time::Duration;
//! use testkit::sandbox::Sandbox;
//! use testkit::server::{Outcome, TcpServer, tcp_ask};
//!
//! # fn main() -> testkit::Result<()> {
//! if !testkit::root_or_skip("example") {
//!     return Ok(());
//! }
//! let sandbox = Sandbox::new(2)?;
//! let pod = &sandbox.pods[1];
//! let _server = TcpServer::start(&pod.ns, "[::]:8080".parse().expect("an address"))?;
//! let outcome = tcp_ask(&sandbox.client.ns, SocketAddr::new(pod.ipv4.into(), 8080), Duration::from_secs(1));
//! assert_eq!(outcome, Outcome::Answer("10.244.0.3".into()));
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "proptest")]
pub mod arb;
pub mod e2e;
pub mod error;
#[cfg(feature = "fake-api")]
pub mod fake_api;
pub mod golden;
pub mod netns;
pub mod plan;
pub mod routes;
pub mod sandbox;
pub mod scenarios;
pub mod server;

pub use error::{Error, Result};
pub use netns::Netns;
pub use sandbox::Sandbox;

/// Whether the process runs as root (effective uid 0).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// For kernel tests: `true` if running as root; otherwise prints why `test` is skipped and
/// returns `false`, so the test can return early.
pub fn root_or_skip(test: &str) -> bool {
    if is_root() {
        true
    } else {
        eprintln!(
            "skipping {test}: it needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) to create network namespaces"
        );
        false
    }
}
