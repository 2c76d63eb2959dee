//! [`tcp_ask`] and [`udp_ask`]: one probe from inside a namespace, classified as an [`Outcome`].

use std::fmt;
use std::io::{self, Read};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use tokio::time::Instant;

use crate::netns::Netns;

/// The longest answer read; a test server's answer is one address and a newline.
const MAX_ANSWER: u64 = 4096;

/// What a probe got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The server's answer, whitespace trimmed: for this crate's servers, the IP the
    /// connection or datagram arrived on.
    Answer(String),
    /// Actively refused: a TCP reset, or an ICMP port (or admin-prohibited) unreachable that
    /// the kernel reports as "connection refused", as a reject rule for a service without
    /// endpoints produces.
    Refused,
    /// Nothing came back within the timeout (dropped, blackholed, or a server that never
    /// answers).
    Timeout,
    /// Anything else, for example "no route to host" or "network unreachable", as text.
    Other(String),
}

impl Outcome {
    /// The answer, if there was one.
    pub fn answer(&self) -> Option<&str> {
        match self {
            Outcome::Answer(text) => Some(text),
            _ => None,
        }
    }

    pub(crate) fn from_error(e: &io::Error) -> Outcome {
        match e.kind() {
            io::ErrorKind::ConnectionRefused => Outcome::Refused,
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Outcome::Timeout,
            _ => Outcome::Other(e.to_string()),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Answer(text) => write!(f, "answer {text:?}"),
            Outcome::Refused => f.write_str("refused"),
            Outcome::Timeout => f.write_str("timeout"),
            Outcome::Other(e) => write!(f, "error: {e}"),
        }
    }
}

/// Connects to `addr` over TCP from inside `ns`, reads the answer until the server closes, and
/// classifies the result. `timeout` bounds the whole probe (connect and read).
///
/// Never fails outright: trouble entering the namespace is an [`Outcome::Other`] too.
pub fn tcp_ask(ns: &Netns, addr: SocketAddr, timeout: Duration) -> Outcome {
    ns.try_enter(move || tcp_ask_here(addr, timeout))
        .unwrap_or_else(|e| Outcome::Other(e.to_string()))
}

/// Sends one datagram to `addr` over UDP from inside `ns` (from a socket connected to `addr`,
/// so an ICMP port unreachable comes back as [`Outcome::Refused`]) and waits up to `timeout`
/// for the answer.
///
/// Never fails outright: trouble entering the namespace is an [`Outcome::Other`] too.
pub fn udp_ask(ns: &Netns, addr: SocketAddr, timeout: Duration) -> Outcome {
    ns.try_enter(move || udp_ask_here(addr, timeout))
        .unwrap_or_else(|e| Outcome::Other(e.to_string()))
}

fn tcp_ask_here(addr: SocketAddr, timeout: Duration) -> Outcome {
    if timeout.is_zero() {
        return Outcome::Timeout;
    }
    let deadline = Instant::now() + timeout;
    let stream = match TcpStream::connect_timeout(&addr, timeout) {
        Ok(stream) => stream,
        Err(e) => return Outcome::from_error(&e),
    };
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Outcome::Timeout;
    }
    if let Err(e) = stream.set_read_timeout(Some(left)) {
        return Outcome::Other(e.to_string());
    }
    let mut text = String::new();
    match stream.take(MAX_ANSWER).read_to_string(&mut text) {
        Ok(_) => Outcome::Answer(text.trim().to_owned()),
        Err(e) => Outcome::from_error(&e),
    }
}

fn udp_ask_here(addr: SocketAddr, timeout: Duration) -> Outcome {
    if timeout.is_zero() {
        return Outcome::Timeout;
    }
    let result = (|| {
        let any: SocketAddr = if addr.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(any)?;
        socket.connect(addr)?;
        socket.set_read_timeout(Some(timeout))?;
        socket.send(b"?\n")?;
        let mut buf = [0u8; MAX_ANSWER as usize];
        let n = socket.recv(&mut buf)?;
        Ok::<_, io::Error>(String::from_utf8_lossy(&buf[..n]).trim().to_owned())
    })();
    match result {
        Ok(text) => Outcome::Answer(text),
        Err(e) => Outcome::from_error(&e),
    }
}
