//! [`TcpServer`]: answers every connection with the address it arrived on, then closes.

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::netns::Netns;

/// How long the accept loop sleeps when no connection is waiting (so also the most a
/// connection waits for its answer, and the most `drop` waits).
const POLL: Duration = Duration::from_millis(1);

/// A TCP server in a namespace; stops when dropped.
#[derive(Debug)]
pub struct TcpServer {
    local: SocketAddr,
    stop: Arc<AtomicBool>,
    peers: Arc<Mutex<Vec<SocketAddr>>>,
    thread: Option<JoinHandle<()>>,
}

impl TcpServer {
    /// Listens on `addr` inside `ns` and serves from a background thread.
    ///
    /// `addr` may be a wildcard: `[::]:port` takes IPv4 and IPv6 connections alike, and the
    /// answer is still the specific address each connection arrived on. Port 0 picks a free
    /// port; see [`TcpServer::local_addr`].
    pub fn start(ns: &Netns, addr: SocketAddr) -> Result<TcpServer> {
        let listener = ns
            .try_enter(move || TcpListener::bind(addr))?
            .map_err(|e| Error::io(format!("cannot listen on tcp {addr} in {}", ns.name()), e))?;
        let local = listener
            .local_addr()
            .map_err(|e| Error::io("cannot read the listener's address", e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::io("cannot make the listener nonblocking", e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let peers = Arc::new(Mutex::new(Vec::new()));
        let thread = thread::Builder::new()
            .name(format!("tcp-server:{}", local.port()))
            .spawn({
                let (stop, peers) = (Arc::clone(&stop), Arc::clone(&peers));
                move || serve(&listener, &stop, &peers)
            })
            .map_err(|e| Error::io("cannot start the server thread", e))?;
        tracing::debug!(netns = ns.name(), %local, "tcp server listening");
        Ok(TcpServer {
            local,
            stop,
            peers,
            thread: Some(thread),
        })
    }

    /// The address it listens on (with the real port if it was started on port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The client addresses of the connections it accepted so far, oldest first.
    pub fn peers(&self) -> Vec<SocketAddr> {
        self.peers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for TcpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            // The loop does not panic; if it somehow did, there is nothing to add here.
            let _ = thread.join();
        }
    }
}

fn serve(listener: &TcpListener, stop: &AtomicBool, peers: &Mutex<Vec<SocketAddr>>) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, peer)) => {
                // Recorded before answering, so a client holding the answer finds itself here.
                peers
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(super::canonical(peer));
                if let Err(e) = reply(stream) {
                    tracing::debug!(%peer, error = %e, "tcp server could not answer");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::sleep(POLL),
            Err(e) => {
                tracing::debug!(error = %e, "tcp server accept failed");
                thread::sleep(POLL);
            }
        }
    }
}

/// Writes the answer and closes the sending side; the client sends nothing, so closing does not
/// reset the connection.
fn reply(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_write_timeout(Some(Duration::from_secs(1)))?;
    let local = stream.local_addr()?;
    stream.write_all(super::answer(local.ip()).as_bytes())?;
    stream.shutdown(Shutdown::Write)
}
