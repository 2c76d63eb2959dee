//! [`Entry`]: one connection-tracking entry, as much of it as cleanup needs.

use std::fmt;
use std::net::SocketAddr;

use proxy_core::model::{IpFamily, Protocol};

/// One direction of a tracked flow: who sent to whom.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Flow {
    /// The sender.
    pub src: SocketAddr,
    /// The receiver.
    pub dst: SocketAddr,
}

impl Flow {
    /// The flow from `src` to `dst`.
    pub fn new(src: SocketAddr, dst: SocketAddr) -> Self {
        Flow { src, dst }
    }
}

/// A conntrack entry of a TCP, UDP or SCTP flow.
///
/// The original direction is what the client sent (`client -> service IP:port`); the reply
/// direction is what the kernel expects back. When the proxy's rules DNATed the flow to an
/// endpoint, the reply comes from that endpoint (`reply.src` is the endpoint's IP and target
/// port); when nothing translated it, `reply.src` is the original destination.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Entry {
    /// The transport protocol.
    pub protocol: Protocol,
    /// The original direction.
    pub original: Flow,
    /// The reply direction.
    pub reply: Flow,
    /// The conntrack zone (`None`: the default zone 0 was not reported).
    pub zone: Option<u16>,
    /// The kernel's id of the entry, if reported: a delete that names it removes this entry
    /// and never a newer one that reuses the same tuple.
    pub id: Option<u32>,
}

impl Entry {
    /// An entry in the default zone, without an id.
    pub fn new(protocol: Protocol, original: Flow, reply: Flow) -> Self {
        Entry {
            protocol,
            original,
            reply,
            zone: None,
            id: None,
        }
    }

    /// The address family (of the original destination).
    pub fn family(&self) -> IpFamily {
        IpFamily::of(&self.original.dst.ip())
    }

    /// Whether the destination was translated: the reply comes from somewhere other than where
    /// the client sent to.
    pub fn is_dnat(&self) -> bool {
        self.reply.src != self.original.dst
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} -> {} (reply {} -> {})",
            self.protocol, self.original.src, self.original.dst, self.reply.src, self.reply.dst
        )
    }
}
