//! Test servers that say who answered, and probes that tell "refused" from "timeout".
//!
//! [`TcpServer`] and [`UdpServer`] bind a socket inside a namespace and answer every connection
//! or datagram with the IP address it arrived on, followed by a newline (`10.244.0.2\n`): a client
//! learns which pod answered, even through the proxy's DNAT. They serve from a background thread
//! (the socket was created inside the namespace, so it stays there) and stop when dropped. Each
//! records the client addresses it saw ([`TcpServer::peers`]), so a test can check source NAT.
//!
//! [`UdpClient`] sends probes from one fixed source port, as a DNS resolver does, so they all
//! belong to one conntrack entry.
//!
//! [`tcp_ask`] and [`udp_ask`] send one probe from inside a namespace and classify what happened
//! as an [`Outcome`]: [`Outcome::Answer`], [`Outcome::Refused`] (TCP RST or ICMP port
//! unreachable, as a proxy's reject rule produces), [`Outcome::Timeout`] or [`Outcome::Other`].

mod ask;
mod tcp;
mod udp;
mod udp_client;

pub use ask::{Outcome, tcp_ask, udp_ask};
pub use tcp::TcpServer;
pub use udp::UdpServer;
pub use udp_client::UdpClient;

use std::net::{IpAddr, SocketAddr};

/// The answer a server sends for a connection or datagram that arrived on `local`.
fn answer(local: IpAddr) -> String {
    format!("{}\n", local.to_canonical())
}

/// `addr` with an IPv4-mapped IPv6 address turned back into IPv4.
fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}
