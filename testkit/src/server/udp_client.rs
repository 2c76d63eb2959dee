//! [`UdpClient`]: a UDP socket that keeps its source port, as a DNS resolver does.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use super::ask::Outcome;
use crate::error::{Error, Result};
use crate::netns::Netns;

/// A UDP socket bound inside a namespace to a fixed address: every datagram it sends has the
/// same source port, so they all belong to one conntrack entry (which is what makes stale
/// entries bite).
#[derive(Debug)]
pub struct UdpClient {
    socket: UdpSocket,
    local: SocketAddr,
}

impl UdpClient {
    /// Binds `addr` inside `ns` (the socket stays in that namespace). Port 0 picks a free
    /// port, kept for the client's life.
    pub fn bind(ns: &Netns, addr: SocketAddr) -> Result<UdpClient> {
        let socket = ns
            .try_enter(move || UdpSocket::bind(addr))?
            .map_err(|e| Error::io(format!("cannot bind udp {addr} in {}", ns.name()), e))?;
        let local = socket
            .local_addr()
            .map_err(|e| Error::io("cannot read the socket's address", e))?;
        Ok(UdpClient { socket, local })
    }

    /// The address it sends from.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Sends one datagram to `addr` and waits up to `timeout` for the answer, like
    /// [`super::udp_ask`] but always from the same source port. Answers left over from an
    /// earlier probe are discarded first.
    pub fn ask(&self, addr: SocketAddr, timeout: Duration) -> Outcome {
        match self.ask_inner(addr, timeout) {
            Ok(text) => Outcome::Answer(text),
            Err(e) => Outcome::from_error(&e),
        }
    }

    fn ask_inner(&self, addr: SocketAddr, timeout: Duration) -> io::Result<String> {
        if timeout.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        // Connected, so an ICMP port unreachable comes back as "connection refused".
        self.socket.connect(addr)?;
        self.drain()?;
        self.socket.set_read_timeout(Some(timeout))?;
        self.socket.send(b"?\n")?;
        let mut buf = [0u8; 4096];
        let n = self.socket.recv(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf[..n]).trim().to_owned())
    }

    /// Discards whatever is queued (late answers, a pending ICMP error), at most 1000 items.
    fn drain(&self) -> io::Result<()> {
        self.socket.set_nonblocking(true)?;
        let mut buf = [0u8; 4096];
        for _ in 0..1000 {
            match self.socket.recv(&mut buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                _ => {}
            }
        }
        self.socket.set_nonblocking(false)
    }
}
