//! Sending nftables transactions over netlink and collecting the kernel's verdict on each
//! message.
//!
//! [`Socket::apply`] sends a finalized `nftnl::Batch` in a single `sendmsg`, so the kernel
//! sees one transaction: it commits all of it or none. This matters: `nftnl` hands out a large
//! batch as several page buffers, and sending them one by one (`mnl::Socket::send_all`, as
//! `nftnl`'s examples do) splits the transaction: the first datagram has a batch begin but no
//! end, so the kernel ACKs its messages and then silently aborts them, and the later datagrams
//! are refused with `EINVAL`. The pages go out as the iovecs of that `sendmsg`, at most
//! [`UIO_MAXIOV`] of them (the kernel refuses more with `EMSGSIZE`): see [`crate::gather`].
//!
//! # Size budgets
//!
//! * **Send**: netlink takes a datagram only if it fits the socket's send buffer, so
//!   [`Socket::apply`] raises `SO_SNDBUF` to the batch's size first (with `SO_SNDBUFFORCE`,
//!   past `net.core.wmem_max`; the kernel doubles the value). `sk_sndbuf` is an `int`, so the
//!   largest batch one `sendmsg` can carry is [`MAX_BATCH`] (~2 GiB); a larger one is refused
//!   up front with [`Error::TooLarge`], nothing sent.
//! * **Receive**: every message asks for an ACK; they are all queued before `sendmsg` returns,
//!   so the receive buffer is raised to 1 KiB per message (an ACK skb's true size with margin);
//!   a dropped reply would surface as `ENOBUFS` ([`Error::Recv`]).
//! * **Messages**: each netlink message is at most 64 KiB (16-bit attribute lengths); libnftnl
//!   splits element lists accordingly, so the batch as a whole has no other limit.
//!
//! nfnetlink processes the batch synchronously inside that `sendmsg` and queues one reply per
//! message that asked for an ACK (an error replaces the ACK of a failing message; kernels
//! since 6.10 also ACK the batch end), so once `sendmsg` returns every reply is already in the
//! socket's receive queue and is drained without blocking. A failed commit is reported
//! against the batch begin message.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nftnl::FinalizedBatch;
use nix::errno::Errno;
use nix::sched::CloneFlags;
use tokio::time::Instant;

use crate::ffi::sock::RawSocket;
use crate::gather::Gathered;
pub use crate::gather::UIO_MAXIOV;

/// Size of a netlink message header.
const NLMSG_HDRLEN: usize = 16;
/// `NLMSG_ERROR`: an error or an ACK (error 0).
const NLMSG_ERROR: u16 = 2;
/// `NLM_F_ACK`.
const NLM_F_ACK: u16 = 4;
/// `NLM_F_ACK_TLVS`: extended-ack attributes follow the error.
const NLM_F_ACK_TLVS: u16 = 0x200;
/// `NLM_F_CAPPED`: the error echoes only the failing message's header.
const NLM_F_CAPPED: u16 = 0x100;
/// `NLMSGERR_ATTR_MSG`: a human-readable error string.
const NLMSGERR_ATTR_MSG: u16 = 1;
/// `NFNL_SUBSYS_NFTABLES`.
const NFNL_SUBSYS_NFTABLES: u16 = 10;
/// `NFNL_MSG_BATCH_BEGIN`.
const NFNL_MSG_BATCH_BEGIN: u16 = 16;
/// `NFNL_MSG_BATCH_END`.
const NFNL_MSG_BATCH_END: u16 = 17;
/// Receive buffer room reserved per expected reply (an ACK skb's true size with margin; nft
/// uses the same budget).
const ACK_BUDGET: usize = 1024;
/// Smallest receive buffer we ask for.
const MIN_RCVBUF: usize = 1 << 20;
/// The largest batch one `sendmsg` can carry: the largest `sk_sndbuf` (`SO_SNDBUFFORCE`
/// doubles a value capped at `INT_MAX / 2`) less the 32 bytes netlink keeps for itself.
pub const MAX_BATCH: usize = (i32::MAX as usize / 2) * 2 - 32;

/// The kind of a message in a batch, for error reports.
#[derive(Debug, Copy, Clone, Eq, PartialEq, Hash)]
pub enum MsgKind {
    /// Batch begin marker.
    BatchBegin,
    /// Batch end marker.
    BatchEnd,
    /// `NFT_MSG_NEWTABLE`.
    NewTable,
    /// `NFT_MSG_DELTABLE`.
    DelTable,
    /// `NFT_MSG_NEWCHAIN`.
    NewChain,
    /// `NFT_MSG_DELCHAIN`.
    DelChain,
    /// `NFT_MSG_NEWRULE`.
    NewRule,
    /// `NFT_MSG_DELRULE`.
    DelRule,
    /// `NFT_MSG_NEWSET`.
    NewSet,
    /// `NFT_MSG_DELSET`.
    DelSet,
    /// `NFT_MSG_NEWSETELEM`.
    NewSetElem,
    /// `NFT_MSG_DELSETELEM`.
    DelSetElem,
    /// Any other nlmsg type (raw value).
    Other(u16),
}

impl MsgKind {
    fn from_type(ty: u16) -> Self {
        if ty == NFNL_MSG_BATCH_BEGIN {
            return MsgKind::BatchBegin;
        }
        if ty == NFNL_MSG_BATCH_END {
            return MsgKind::BatchEnd;
        }
        if ty >> 8 != NFNL_SUBSYS_NFTABLES {
            return MsgKind::Other(ty);
        }
        match i32::from(ty & 0xff) {
            libc::NFT_MSG_NEWTABLE => MsgKind::NewTable,
            libc::NFT_MSG_DELTABLE => MsgKind::DelTable,
            libc::NFT_MSG_NEWCHAIN => MsgKind::NewChain,
            libc::NFT_MSG_DELCHAIN => MsgKind::DelChain,
            libc::NFT_MSG_NEWRULE => MsgKind::NewRule,
            libc::NFT_MSG_DELRULE => MsgKind::DelRule,
            libc::NFT_MSG_NEWSET => MsgKind::NewSet,
            libc::NFT_MSG_DELSET => MsgKind::DelSet,
            libc::NFT_MSG_NEWSETELEM => MsgKind::NewSetElem,
            libc::NFT_MSG_DELSETELEM => MsgKind::DelSetElem,
            _ => MsgKind::Other(ty),
        }
    }
}

impl fmt::Display for MsgKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MsgKind::Other(ty) => write!(f, "message type {ty:#06x}"),
            kind => fmt::Debug::fmt(kind, f),
        }
    }
}

/// The kernel's refusal of one message of a batch.
#[derive(Debug, Clone, Eq, PartialEq)]
pub struct Rejection {
    /// Sequence number of the refused message (its position in the batch, see
    /// `FinalizedBatch::sequence_numbers`).
    pub seq: u32,
    /// What the message was.
    pub kind: MsgKind,
    /// The error.
    pub errno: Errno,
    /// The kernel's extended-ack text, when it gave one.
    pub ext_ack: Option<String>,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "message seq {} ({}): {}",
            self.seq, self.kind, self.errno
        )?;
        if let Some(msg) = &self.ext_ack {
            write!(f, " ({msg})")?;
        }
        Ok(())
    }
}

/// Errors of [`Socket`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Opening or configuring the netlink socket failed.
    #[error("opening the netlink socket: {0}")]
    Open(#[source] io::Error),
    /// Entering the target network namespace failed.
    #[error("entering network namespace {path}: {source}")]
    Netns {
        /// The namespace file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Sending the batch failed; nothing was applied.
    #[error("sending the batch: {0}")]
    Send(#[source] io::Error),
    /// Reading replies failed; whether the batch was applied is unknown (`ENOBUFS` means
    /// replies were dropped).
    #[error("receiving replies: {0}")]
    Recv(#[source] io::Error),
    /// The kernel refused the batch, so none of it was applied. `first` is the first refused
    /// message; `all` lists every refusal the kernel reported.
    #[error("batch rejected: {first}")]
    Rejected {
        /// The first refused message.
        first: Rejection,
        /// All refusals, in sequence order.
        all: Vec<Rejection>,
    },
    /// Some messages were neither acknowledged nor refused.
    #[error("no reply for message seqs {missing:?}")]
    MissingReplies {
        /// Their sequence numbers.
        missing: Vec<u32>,
    },
    /// The batch or a reply was not well-formed netlink.
    #[error("malformed netlink data: {0}")]
    Malformed(&'static str),
    /// The batch is larger than one `sendmsg` can carry; nothing was sent.
    #[error("a batch of {bytes} bytes exceeds the {MAX_BATCH} bytes one netlink sendmsg can carry")]
    TooLarge {
        /// Its size.
        bytes: usize,
    },
}

/// What [`Socket::apply`] sent: the batch's size and how it was laid out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sent {
    /// Bytes of the batch.
    pub bytes: usize,
    /// Netlink messages, batch markers included.
    pub messages: usize,
    /// `nftnl` batch pages.
    pub pages: usize,
    /// iovecs of the one `sendmsg` (at most [`UIO_MAXIOV`]).
    pub iovecs: usize,
    /// Bytes copied to fit the pages into those iovecs.
    pub copied: usize,
    /// From the `sendmsg` to the last reply read: the kernel's work on the batch (it applies
    /// the whole batch inside the `sendmsg`).
    pub kernel: Duration,
}

/// A NETLINK_NETFILTER socket bound to one network namespace.
pub struct Socket {
    raw: RawSocket,
    rcvbuf: usize,
    sndbuf: usize,
    /// At most this many iovecs per `sendmsg` ([`UIO_MAXIOV`] unless a test lowers it).
    max_iovecs: usize,
}

impl Socket {
    /// Opens a socket in the caller's current network namespace.
    pub fn open() -> Result<Self, Error> {
        Self::configure(RawSocket::open().map_err(Error::Open)?)
    }

    /// Opens a socket in the network namespace at `netns` (e.g. `/run/netns/NAME`) without
    /// touching the calling thread's namespace: a short-lived thread enters the namespace and
    /// creates the socket, which stays bound to that namespace for its whole life.
    pub fn open_in(netns: &Path) -> Result<Self, Error> {
        let path = netns.to_path_buf();
        let netns_err = {
            let path = path.clone();
            move |source: io::Error| Error::Netns { path, source }
        };
        let worker = std::thread::Builder::new()
            .name("nft-netns".into())
            .spawn(move || -> Result<RawSocket, Error> {
                let file = File::open(&path).map_err(|e| Error::Netns {
                    path: path.clone(),
                    source: e,
                })?;
                nix::sched::setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| Error::Netns {
                    path: path.clone(),
                    source: e.into(),
                })?;
                // The thread ends right after, so its namespace never leaks elsewhere.
                RawSocket::open().map_err(Error::Open)
            })
            .map_err(netns_err.clone())?;
        let raw = worker
            .join()
            .map_err(|_| netns_err(io::Error::other("namespace thread panicked")))??;
        Self::configure(raw)
    }

    fn configure(raw: RawSocket) -> Result<Self, Error> {
        raw.set_buffer(true, MIN_RCVBUF).map_err(Error::Open)?;
        Ok(Socket {
            raw,
            rcvbuf: MIN_RCVBUF,
            sndbuf: 0,
            max_iovecs: UIO_MAXIOV,
        })
    }

    /// The socket's netlink port id: tables created with the owner flag belong to it.
    pub fn portid(&self) -> u32 {
        self.raw.portid()
    }

    /// Sends batches as at most `max` iovecs (1 to [`UIO_MAXIOV`]; 1 copies every batch of
    /// more than one page into one buffer). For measurements and tests of the gathering.
    #[doc(hidden)]
    pub fn set_max_iovecs(&mut self, max: usize) {
        self.max_iovecs = max.clamp(1, UIO_MAXIOV);
    }

    /// Applies `batch` as one transaction: `Ok` (with what was sent) once the kernel
    /// acknowledged every message, [`Error::Rejected`] (nothing applied) if it refused any.
    pub fn apply(&mut self, batch: &FinalizedBatch) -> Result<Sent, Error> {
        let parts: Vec<&[u8]> = batch.iter().collect();
        let (kinds, mut expected) = scan(&parts)?;
        let total = parts.iter().map(|p| p.len()).sum();
        if total > MAX_BATCH {
            return Err(Error::TooLarge { bytes: total });
        }
        self.reserve(total, kinds.len())?;
        let (mut sent, start) = self.send(&parts, total, kinds.len())?;
        let rejected = self.drain_replies(&kinds, &mut expected)?;
        sent.kernel = start.elapsed();
        if let Some(first) = rejected.first() {
            return Err(Error::Rejected {
                first: first.clone(),
                all: rejected,
            });
        }
        if !expected.is_empty() {
            return Err(Error::MissingReplies {
                missing: expected.into_iter().collect(),
            });
        }
        Ok(sent)
    }

    /// Sends the `bytes` of `pages` (`messages` messages) in one `sendmsg`, laid out by
    /// [`Gathered`]; returns what was sent and when the `sendmsg` started.
    fn send(
        &self,
        pages: &[&[u8]],
        bytes: usize,
        messages: usize,
    ) -> Result<(Sent, Instant), Error> {
        let gathered = Gathered::new(pages, self.max_iovecs);
        let iovecs = gathered.iovecs();
        let sent = Sent {
            bytes,
            messages,
            pages: pages.len(),
            iovecs: iovecs.len(),
            copied: gathered.copied(),
            kernel: Duration::ZERO,
        };
        tracing::debug!(
            bytes,
            messages,
            pages = sent.pages,
            iovecs = sent.iovecs,
            copied = sent.copied,
            "sending nftables batch"
        );
        let start = Instant::now();
        let n = self.raw.send_parts(&iovecs).map_err(Error::Send)?;
        if n != bytes {
            return Err(Error::Send(io::Error::other("short send of batch")));
        }
        Ok((sent, start))
    }

    /// Grows the socket buffers so that the batch fits in one datagram and all its replies
    /// fit in the receive queue.
    fn reserve(&mut self, batch_len: usize, messages: usize) -> Result<(), Error> {
        let snd = batch_len + 4096;
        if snd > self.sndbuf {
            self.raw.set_buffer(false, snd).map_err(Error::Send)?;
            self.sndbuf = snd;
        }
        let rcv = messages.saturating_mul(ACK_BUDGET);
        if rcv > self.rcvbuf {
            self.raw.set_buffer(true, rcv).map_err(Error::Send)?;
            self.rcvbuf = rcv;
        }
        Ok(())
    }

    /// Reads every queued reply; removes acknowledged seqs from `expected` and returns the
    /// refusals in sequence order.
    fn drain_replies(
        &self,
        kinds: &BTreeMap<u32, MsgKind>,
        expected: &mut BTreeSet<u32>,
    ) -> Result<Vec<Rejection>, Error> {
        let mut buf = vec![0u8; 1 << 17];
        let mut rejected = Vec::new();
        loop {
            let n = match self.raw.recv_nonblocking(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::Recv(e)),
            };
            for msg in messages(&buf[..n]) {
                let hdr = msg?;
                if hdr.ty != NLMSG_ERROR {
                    continue;
                }
                let reply = parse_error(hdr.flags, hdr.payload)?;
                expected.remove(&reply.seq);
                if reply.error != 0 {
                    rejected.push(Rejection {
                        seq: reply.seq,
                        kind: kinds
                            .get(&reply.seq)
                            .copied()
                            .unwrap_or(MsgKind::Other(reply.ty)),
                        errno: Errno::from_raw(-reply.error),
                        ext_ack: if hdr.flags & NLM_F_ACK_TLVS != 0 {
                            ext_ack_msg(reply.tlvs)
                        } else {
                            None
                        },
                    });
                }
            }
        }
        rejected.sort_by_key(|r| r.seq);
        Ok(rejected)
    }
}

/// Each message of a batch's `pages` by sequence number, and the sequence numbers that ask
/// for an ACK.
fn scan(pages: &[&[u8]]) -> Result<(BTreeMap<u32, MsgKind>, BTreeSet<u32>), Error> {
    let mut kinds = BTreeMap::new();
    let mut expected = BTreeSet::new();
    for page in pages {
        for msg in messages(page) {
            let hdr = msg?;
            kinds.insert(hdr.seq, MsgKind::from_type(hdr.ty));
            if hdr.flags & NLM_F_ACK != 0 {
                expected.insert(hdr.seq);
            }
        }
    }
    Ok((kinds, expected))
}

/// A parsed netlink message header and its payload.
struct Msg<'a> {
    ty: u16,
    flags: u16,
    seq: u32,
    payload: &'a [u8],
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Iterates the netlink messages in `buf`, bounds-checked (no alignment assumptions).
fn messages(mut buf: &[u8]) -> impl Iterator<Item = Result<Msg<'_>, Error>> {
    std::iter::from_fn(move || {
        if buf.len() < NLMSG_HDRLEN {
            return None;
        }
        let parsed = (|| {
            let len = u32_at(buf, 0)? as usize;
            if len < NLMSG_HDRLEN || len > buf.len() {
                return None;
            }
            let msg = Msg {
                ty: u16_at(buf, 4)?,
                flags: u16_at(buf, 6)?,
                seq: u32_at(buf, 8)?,
                payload: &buf[NLMSG_HDRLEN..len],
            };
            Some((msg, len.next_multiple_of(4).min(buf.len())))
        })();
        match parsed {
            Some((msg, advance)) => {
                buf = &buf[advance..];
                Some(Ok(msg))
            }
            None => {
                buf = &[];
                Some(Err(Error::Malformed("bad netlink message length")))
            }
        }
    })
}

/// The body of an `NLMSG_ERROR`: errno (0 = ACK), the echoed header's type and seq, and
/// any extended-ack attributes.
struct ErrorReply<'a> {
    error: i32,
    ty: u16,
    seq: u32,
    tlvs: &'a [u8],
}

fn parse_error(flags: u16, payload: &[u8]) -> Result<ErrorReply<'_>, Error> {
    const SHORT: Error = Error::Malformed("short NLMSG_ERROR");
    let error = u32_at(payload, 0).ok_or(SHORT)? as i32;
    let echoed = payload.get(4..).ok_or(SHORT)?;
    let echoed_len = u32_at(echoed, 0).ok_or(SHORT)? as usize;
    let ty = u16_at(echoed, 4).ok_or(SHORT)?;
    let seq = u32_at(echoed, 8).ok_or(SHORT)?;
    // ACKs and capped errors (NETLINK_CAP_ACK) echo only the header of the message; other
    // errors echo the whole message. Extended-ack attributes follow the echo.
    let echo = if error == 0 || flags & NLM_F_CAPPED != 0 {
        NLMSG_HDRLEN
    } else {
        echoed_len.next_multiple_of(4)
    };
    Ok(ErrorReply {
        error,
        ty,
        seq,
        tlvs: echoed.get(echo..).unwrap_or(&[]),
    })
}

/// The `NLMSGERR_ATTR_MSG` string among extended-ack attributes, if any.
fn ext_ack_msg(mut tlvs: &[u8]) -> Option<String> {
    while tlvs.len() >= 4 {
        let len = usize::from(u16_at(tlvs, 0)?);
        let ty = u16_at(tlvs, 2)? & 0x3fff;
        if len < 4 || len > tlvs.len() {
            return None;
        }
        if ty == NLMSGERR_ATTR_MSG {
            let text = &tlvs[4..len];
            let text = text.split(|&b| b == 0).next().unwrap_or(text);
            return Some(String::from_utf8_lossy(text).into_owned());
        }
        tlvs = &tlvs[len.next_multiple_of(4).min(tlvs.len())..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nlmsg(ty: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let len = (NLMSG_HDRLEN + payload.len()) as u32;
        let mut v = Vec::new();
        v.extend_from_slice(&len.to_ne_bytes());
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(&flags.to_ne_bytes());
        v.extend_from_slice(&seq.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
        v.extend_from_slice(payload);
        v.resize(v.len().next_multiple_of(4), 0);
        v
    }

    fn error_reply(error: i32, seq: u32, msg: Option<&str>) -> Vec<u8> {
        let mut payload = error.to_ne_bytes().to_vec();
        payload.extend(nlmsg(0x0a06, NLM_F_ACK, seq, &[]));
        let mut flags = NLM_F_CAPPED;
        if let Some(msg) = msg {
            flags |= NLM_F_ACK_TLVS;
            let mut attr = Vec::new();
            attr.extend_from_slice(&((4 + msg.len() + 1) as u16).to_ne_bytes());
            attr.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
            attr.extend_from_slice(msg.as_bytes());
            attr.push(0);
            attr.resize(attr.len().next_multiple_of(4), 0);
            payload.extend(attr);
        }
        nlmsg(NLMSG_ERROR, flags, seq, &payload)
    }

    #[test]
    fn parses_acks_errors_and_ext_ack() {
        let mut buf = error_reply(0, 3, None);
        buf.extend(error_reply(-2, 4, Some("no such chain")));
        let msgs: Vec<_> = messages(&buf)
            .collect::<Result<_, _>>()
            .expect("well-formed");
        assert_eq!(msgs.len(), 2);
        let ack = parse_error(msgs[0].flags, msgs[0].payload).expect("ack");
        assert_eq!((ack.error, ack.seq), (0, 3));
        let err = parse_error(msgs[1].flags, msgs[1].payload).expect("error");
        assert_eq!((err.error, err.seq, err.ty), (-2, 4, 0x0a06));
        assert_eq!(ext_ack_msg(err.tlvs).as_deref(), Some("no such chain"));
        assert_eq!(MsgKind::from_type(err.ty), MsgKind::NewRule);
    }

    #[test]
    fn rejects_truncated_messages() {
        let mut buf = nlmsg(NLMSG_ERROR, 0, 1, &[0; 4]);
        buf[0] = 200; // claims more than there is
        assert!(matches!(
            messages(&buf).next(),
            Some(Err(Error::Malformed(_)))
        ));
        assert!(parse_error(0, &[0, 0]).is_err());
    }

    #[test]
    fn rejection_display_names_seq_and_errno() {
        let r = Rejection {
            seq: 7,
            kind: MsgKind::NewRule,
            errno: Errno::ENOENT,
            ext_ack: None,
        };
        let text = Error::Rejected {
            first: r.clone(),
            all: vec![r],
        }
        .to_string();
        assert!(text.contains("seq 7"), "{text}");
        assert!(text.contains("NewRule"), "{text}");
        assert!(text.contains("ENOENT"), "{text}");
    }
}
