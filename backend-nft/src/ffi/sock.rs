//! Raw netlink socket primitives: a NETLINK_NETFILTER socket and the few syscalls it needs
//! (scatter-gather send of a whole batch, socket options, non-blocking receive).
//!
//! The socket is opened close-on-exec: a child process (`nft`, `iptables-restore`) must not
//! inherit it, or the socket would outlive svcproxy's own close, and with it the kernel's
//! record of svcproxy owning its tables (see `crate::owner`).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// `SO_SNDBUFFORCE` (asm-generic; x86, arm, riscv, powerpc).
const SO_SNDBUFFORCE: libc::c_int = 32;
/// `SO_RCVBUFFORCE` (asm-generic).
const SO_RCVBUFFORCE: libc::c_int = 33;
/// `NETLINK_CAP_ACK`: error replies carry only the header of the failing message.
const NETLINK_CAP_ACK: libc::c_int = 10;
/// `NETLINK_EXT_ACK`: error replies may carry an extended-ack message.
const NETLINK_EXT_ACK: libc::c_int = 11;

/// An open NETLINK_NETFILTER socket, bound to the network namespace it was created in.
pub(crate) struct RawSocket {
    fd: OwnedFd,
    portid: u32,
}

impl RawSocket {
    /// Opens and binds (port id chosen by the kernel) a close-on-exec socket in the calling
    /// thread's network namespace.
    pub(crate) fn open() -> io::Result<Self> {
        // SAFETY: a plain syscall; the result is checked.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_NETFILTER,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened and is owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let portid = bind(&fd)?;
        let raw = RawSocket { fd, portid };
        raw.set_opt(libc::SOL_NETLINK, NETLINK_CAP_ACK, 1)?;
        // Extended acks are a nicety; old kernels may refuse the option.
        let _ = raw.set_opt(libc::SOL_NETLINK, NETLINK_EXT_ACK, 1);
        Ok(raw)
    }

    /// The socket's netlink port id (the owner id of tables it creates with the owner flag).
    pub(crate) fn portid(&self) -> u32 {
        self.portid
    }

    fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    fn set_opt(&self, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
        // SAFETY: the fd is open for the life of `self`; we pass a pointer to a live c_int
        // and its exact size.
        let rc = unsafe {
            libc::setsockopt(
                self.fd(),
                level,
                name,
                (&raw const value).cast::<libc::c_void>(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Sets the send or receive buffer size, forcing past `net.core.[rw]mem_max` when
    /// permitted (CAP_NET_ADMIN, which programming nftables needs anyway).
    pub(crate) fn set_buffer(&self, receive: bool, bytes: usize) -> io::Result<()> {
        let bytes = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX / 2);
        let (force, plain) = if receive {
            (SO_RCVBUFFORCE, libc::SO_RCVBUF)
        } else {
            (SO_SNDBUFFORCE, libc::SO_SNDBUF)
        };
        self.set_opt(libc::SOL_SOCKET, force, bytes)
            .or_else(|_| self.set_opt(libc::SOL_SOCKET, plain, bytes))
    }

    /// Sends `parts` as ONE datagram to the kernel (sendmsg with an iovec per part), which is
    /// what makes a multi-page nftnl batch one transaction. The kernel takes at most
    /// `UIO_MAXIOV` parts (`EMSGSIZE` beyond): see `crate::gather`.
    pub(crate) fn send_parts(&self, parts: &[&[u8]]) -> io::Result<usize> {
        let mut iov: Vec<libc::iovec> = parts
            .iter()
            .map(|p| libc::iovec {
                iov_base: p.as_ptr().cast_mut().cast::<libc::c_void>(),
                iov_len: p.len(),
            })
            .collect();
        // SAFETY: an all-zero sockaddr_nl is valid; we then fill the family (pid 0 = kernel).
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: an all-zero msghdr is valid (no name, no iovecs, no control data).
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = (&raw mut addr).cast::<libc::c_void>();
        msg.msg_namelen = size_of::<libc::sockaddr_nl>() as libc::socklen_t;
        msg.msg_iov = iov.as_mut_ptr();
        msg.msg_iovlen = iov.len() as _;
        // SAFETY: `msg` points at `addr` and `iov`, both alive across the call; each iovec
        // describes a live borrowed slice the kernel only reads.
        let rc = unsafe { libc::sendmsg(self.fd(), &msg, 0) };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(rc as usize)
        }
    }

    /// Receives one datagram without blocking; `WouldBlock` when the queue is empty.
    pub(crate) fn recv_nonblocking(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: the buffer is live and writable for its full length.
        let rc = unsafe {
            libc::recv(
                self.fd(),
                buf.as_mut_ptr().cast::<libc::c_void>(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(rc as usize)
        }
    }
}

/// Binds `fd` with port id 0 (the kernel assigns one) and returns the assigned port id.
fn bind(fd: &OwnedFd) -> io::Result<u32> {
    // SAFETY: an all-zero sockaddr_nl is valid; we then fill the family.
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    let mut len = size_of::<libc::sockaddr_nl>() as libc::socklen_t;
    // SAFETY: `addr` is a live sockaddr_nl and `len` its exact size.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&raw const addr).cast::<libc::sockaddr>(),
            len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel writes at most `len` bytes into `addr` and updates `len`.
    let rc = unsafe {
        libc::getsockname(
            fd.as_raw_fd(),
            (&raw mut addr).cast::<libc::sockaddr>(),
            &raw mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(addr.nl_pid)
}
