//! [`NetlinkConntrack`]: the kernel's conntrack table over ctnetlink (a NETLINK_NETFILTER
//! socket), opened in a chosen network namespace. No `conntrack` process is involved.
//!
//! A dump is one `IPCTNL_MSG_CT_GET` request with `NLM_F_DUMP` per family; deletions are one
//! `IPCTNL_MSG_CT_DELETE` message per entry, many messages to a datagram, each acknowledged.
//! After any failure the socket is dropped (a half-read dump must not leak into the next
//! request) and opened again on the next use.

mod codec;

use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use netlink_packet_core::NLM_F_DUMP_INTR;
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_NETFILTER};
use nix::sched::CloneFlags;
use nix::sys::socket::{setsockopt, sockopt};
use nix::sys::time::TimeVal;
use proxy_core::model::IpFamily;

use super::entry::Entry;
use super::error::Error;
use super::table::{Conntrack, Deleted};
use codec::{Message, Reply};

/// The receive buffer for one datagram (the kernel's dump datagrams are at most 32 KiB).
const RECV_BUF: usize = 64 * 1024;
/// The socket's receive queue: room for the acks of a whole batch of deletions.
const RCVBUF_BYTES: usize = 4 << 20;
/// Deletions sent in one datagram.
const DELETE_BATCH: usize = 256;
/// The longest wait for one datagram from the kernel (which answers at once; this only stops
/// a lost reply from hanging a sync).
const RECV_TIMEOUT: Duration = Duration::from_secs(5);

/// The conntrack table of one network namespace, over ctnetlink.
#[derive(Debug)]
pub struct NetlinkConntrack {
    netns: Option<PathBuf>,
    socket: Option<Socket>,
    seq: u32,
    buf: Vec<u8>,
}

impl NetlinkConntrack {
    /// Opens the table of the namespace at `netns` (e.g. `/run/netns/NAME`), or of the
    /// caller's own namespace. Fails at once without the permission to use ctnetlink.
    pub fn open(netns: Option<&Path>) -> Result<Self, Error> {
        let socket = open_socket(netns)?;
        Ok(NetlinkConntrack {
            netns: netns.map(Path::to_path_buf),
            socket: Some(socket),
            seq: 0,
            buf: Vec::with_capacity(RECV_BUF),
        })
    }

    fn socket(&mut self) -> Result<&Socket, Error> {
        if self.socket.is_none() {
            self.socket = Some(open_socket(self.netns.as_deref())?);
        }
        self.socket.as_ref().ok_or(Error::Malformed("no socket"))
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn send(&mut self, data: &[u8], what: impl FnOnce() -> String) -> Result<(), Error> {
        let sent = self
            .socket()?
            .send(data, 0)
            .map_err(|source| Error::Io { op: what(), source })?;
        if sent != data.len() {
            return Err(Error::Malformed("the kernel took part of a request"));
        }
        Ok(())
    }

    /// Receives one datagram and decodes its messages.
    fn recv(&mut self, what: impl FnOnce() -> String) -> Result<Vec<Message>, Error> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        buf.reserve(RECV_BUF);
        let got = self.socket().and_then(|socket| {
            // MSG_TRUNC: a datagram larger than the buffer reports its real length.
            socket
                .recv(&mut buf, libc::MSG_TRUNC)
                .map_err(|source| Error::Io { op: what(), source })
        });
        let out = match got {
            Ok(n) if n > buf.capacity() => {
                Err(Error::Malformed("a datagram larger than the buffer"))
            }
            Ok(_) => codec::messages(&buf).collect(),
            Err(e) => Err(e),
        };
        self.buf = buf;
        out
    }

    fn try_dump(&mut self, family: IpFamily, each: &mut dyn FnMut(Entry)) -> Result<(), Error> {
        let seq = self.next_seq();
        self.send(&codec::dump_request(family, seq), || {
            format!("send the {family} dump request")
        })?;
        let (mut skipped, mut interrupted) = (0usize, false);
        loop {
            for msg in self.recv(|| format!("receive the {family} dump"))? {
                if msg.seq != seq {
                    continue;
                }
                interrupted |= msg.flags & NLM_F_DUMP_INTR != 0;
                match msg.reply {
                    Reply::Entry(Some(entry)) => each(entry),
                    Reply::Entry(None) | Reply::Ack => {}
                    Reply::Undecodable(why) => {
                        skipped += 1;
                        tracing::debug!(%family, reason = %why, "skipped a conntrack entry");
                    }
                    Reply::Error(source) => return Err(Error::Dump { family, source }),
                    Reply::Done => {
                        if skipped > 0 || interrupted {
                            tracing::warn!(%family, skipped, interrupted, "conntrack dump incomplete");
                        }
                        return Ok(());
                    }
                }
            }
        }
    }

    fn try_delete(&mut self, entries: &[Entry]) -> Result<Deleted, Error> {
        let mut tally = Tally::default();
        for chunk in entries.chunks(DELETE_BATCH) {
            let mut batch = Vec::new();
            let mut pending = HashSet::with_capacity(chunk.len());
            for entry in chunk {
                let seq = self.next_seq();
                pending.insert(seq);
                batch.extend(codec::delete_request(entry, seq));
            }
            self.send(&batch, || "send conntrack deletions".to_owned())?;
            while !pending.is_empty() {
                for msg in self.recv(|| "receive deletion acks".to_owned())? {
                    if pending.remove(&msg.seq) {
                        tally.count(msg.reply)?;
                    }
                }
            }
        }
        tally.finish(entries.len())
    }
}

/// The answers to a batch of deletions.
#[derive(Debug, Default)]
struct Tally {
    done: Deleted,
    failed: usize,
    first: Option<io::Error>,
}

impl Tally {
    /// Counts one answer: an ack, "no such entry" (gone already), or another error.
    fn count(&mut self, reply: Reply) -> Result<(), Error> {
        match reply {
            Reply::Ack => self.done.deleted += 1,
            Reply::Error(e) if e.raw_os_error() == Some(libc::ENOENT) => self.done.gone += 1,
            Reply::Error(e) => {
                self.failed += 1;
                self.first.get_or_insert(e);
            }
            _ => return Err(Error::Malformed("a deletion answered by no ack")),
        }
        Ok(())
    }

    fn finish(self, total: usize) -> Result<Deleted, Error> {
        match self.first {
            Some(source) => Err(Error::Delete {
                failed: self.failed,
                total,
                source,
            }),
            None => Ok(self.done),
        }
    }
}

impl Conntrack for NetlinkConntrack {
    fn dump(&mut self, family: IpFamily, each: &mut dyn FnMut(Entry)) -> Result<(), Error> {
        let result = self.try_dump(family, each);
        if result.is_err() {
            self.socket = None;
        }
        result
    }

    fn delete(&mut self, entries: &[Entry]) -> Result<Deleted, Error> {
        let result = self.try_delete(entries);
        if matches!(result, Err(ref e) if !matches!(e, Error::Delete { .. })) {
            self.socket = None;
        }
        result
    }
}

/// Opens a configured socket in `netns` (a short-lived thread enters the namespace, so the
/// caller's thread never changes namespace), or in the caller's namespace.
fn open_socket(netns: Option<&Path>) -> Result<Socket, Error> {
    let Some(path) = netns else {
        return configure(Socket::new(NETLINK_NETFILTER).map_err(Error::Open)?);
    };
    let path = path.to_path_buf();
    let netns_err = |path: &Path, source: io::Error| Error::Netns {
        path: path.to_path_buf(),
        source,
    };
    std::thread::Builder::new()
        .name("ct-netns".into())
        .spawn(move || -> Result<Socket, Error> {
            let file = File::open(&path).map_err(|e| netns_err(&path, e))?;
            nix::sched::setns(&file, CloneFlags::CLONE_NEWNET)
                .map_err(|e| netns_err(&path, e.into()))?;
            Socket::new(NETLINK_NETFILTER).map_err(Error::Open)
        })
        .map_err(Error::Open)?
        .join()
        .map_err(|_| Error::Open(io::Error::other("the namespace thread panicked")))?
        .and_then(configure)
}

fn configure(mut socket: Socket) -> Result<Socket, Error> {
    socket.bind_auto().map_err(Error::Open)?;
    socket
        .connect(&SocketAddr::new(0, 0))
        .map_err(Error::Open)?;
    // Short error acks (the request's header only): deletions are acked by the hundred.
    socket.set_cap_ack(true).map_err(Error::Open)?;
    // Past `net.core.rmem_max` where permitted (CAP_NET_ADMIN, which ctnetlink needs anyway).
    if setsockopt(&socket, sockopt::RcvBufForce, &RCVBUF_BYTES).is_err() {
        socket.set_rx_buf_sz(RCVBUF_BYTES).map_err(Error::Open)?;
    }
    let timeout = TimeVal::new(RECV_TIMEOUT.as_secs() as _, 0);
    setsockopt(&socket, sockopt::ReceiveTimeout, &timeout).map_err(|e| Error::Open(e.into()))?;
    Ok(socket)
}
