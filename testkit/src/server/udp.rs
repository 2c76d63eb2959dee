//! [`UdpServer`]: answers every datagram with the address it is bound to.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::netns::Netns;

/// How long a receive waits before the loop checks its stop flag (so the most `drop` waits).
const POLL: Duration = Duration::from_millis(20);

/// A UDP server in a namespace; stops when dropped.
#[derive(Debug)]
pub struct UdpServer {
    local: SocketAddr,
    stop: Arc<AtomicBool>,
    peers: Arc<Mutex<Vec<SocketAddr>>>,
    thread: Option<JoinHandle<()>>,
}

impl UdpServer {
    /// Binds `addr` inside `ns` and serves from a background thread.
    ///
    /// `addr` must name a specific IP (a wildcard socket could not tell which address a
    /// datagram arrived on): start one server per address. Port 0 picks a free port; see
    /// [`UdpServer::local_addr`].
    pub fn start(ns: &Netns, addr: SocketAddr) -> Result<UdpServer> {
        if addr.ip().is_unspecified() {
            return Err(Error::InvalidArgument(format!(
                "a UDP server needs a specific address, not {addr}"
            )));
        }
        let socket = ns
            .try_enter(move || UdpSocket::bind(addr))?
            .map_err(|e| Error::io(format!("cannot bind udp {addr} in {}", ns.name()), e))?;
        let local = socket
            .local_addr()
            .map_err(|e| Error::io("cannot read the socket's address", e))?;
        socket
            .set_read_timeout(Some(POLL))
            .map_err(|e| Error::io("cannot set the socket's read timeout", e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let peers = Arc::new(Mutex::new(Vec::new()));
        let thread = thread::Builder::new()
            .name(format!("udp-server:{}", local.port()))
            .spawn({
                let (stop, peers) = (Arc::clone(&stop), Arc::clone(&peers));
                move || serve(&socket, local, &stop, &peers)
            })
            .map_err(|e| Error::io("cannot start the server thread", e))?;
        tracing::debug!(netns = ns.name(), %local, "udp server bound");
        Ok(UdpServer {
            local,
            stop,
            peers,
            thread: Some(thread),
        })
    }

    /// The address it is bound to (with the real port if it was started on port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The client addresses of the datagrams it received so far, oldest first.
    pub fn peers(&self) -> Vec<SocketAddr> {
        self.peers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for UdpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            // The loop does not panic; if it somehow did, there is nothing to add here.
            let _ = thread.join();
        }
    }
}

fn serve(socket: &UdpSocket, local: SocketAddr, stop: &AtomicBool, peers: &Mutex<Vec<SocketAddr>>) {
    let answer = super::answer(local.ip());
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        match socket.recv_from(&mut buf) {
            Ok((_, peer)) => {
                // Recorded before answering, so a client holding the answer finds itself here.
                peers
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(super::canonical(peer));
                if let Err(e) = socket.send_to(answer.as_bytes(), peer) {
                    tracing::debug!(%peer, error = %e, "udp server could not answer");
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => {
                // For example an ICMP error for an earlier answer; keep serving.
                tracing::debug!(error = %e, "udp server receive failed");
                thread::sleep(Duration::from_millis(1));
            }
        }
    }
}
