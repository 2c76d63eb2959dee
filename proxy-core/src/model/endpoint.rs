//! An endpoint of a service port: one backend address with its conditions and hints.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// One endpoint (`addresses[0]` of an EndpointSlice endpoint, with the slice port's number).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    /// The endpoint's IP.
    pub ip: IpAddr,
    /// The target port.
    pub port: u16,
    /// `conditions.ready` (unset means ready).
    pub ready: bool,
    /// `conditions.serving` (unset means the same as ready).
    pub serving: bool,
    /// `conditions.terminating` (unset means not terminating).
    pub terminating: bool,
    /// Whether the endpoint runs on this node.
    pub is_local: bool,
    /// `nodeName`, if set.
    pub node_name: Option<String>,
    /// `zone`, if set.
    pub zone: Option<String>,
    /// `hints.forZones[].name` (empty when there are no hints).
    pub zone_hints: BTreeSet<String>,
    /// `hints.forNodes[].name` (empty when there are no hints).
    pub node_hints: BTreeSet<String>,
}

impl Endpoint {
    /// A ready, non-local endpoint at `ip:port` with no hints.
    pub fn new(ip: IpAddr, port: u16) -> Self {
        Endpoint {
            ip,
            port,
            ready: true,
            serving: true,
            terminating: false,
            is_local: false,
            node_name: None,
            zone: None,
            zone_hints: BTreeSet::new(),
            node_hints: BTreeSet::new(),
        }
    }

    /// The socket address `ip:port`, the endpoint's identity within a service port.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.addr())
    }
}
