//! Protecting our tables from other processes: the `owner` and `persist` table flags.
//!
//! A table created with `NFT_TABLE_F_OWNER` (Linux 5.12) belongs to the netlink socket that
//! created it: any other socket's change to it, `nft delete table` or `nft add element`
//! included, is refused with `EPERM`, and `nft flush ruleset` skips it. Reading it (`nft
//! list`) works as before. Without `NFT_TABLE_F_PERSIST` (Linux 6.9) the kernel deletes an
//! owned table when its socket closes, which would remove every service when `svcproxy sync`
//! exits; with it, the table stays, *orphaned* (owner flag cleared), and any process may
//! change it, adopt it (a `NEWTABLE` with both flags makes the sender the owner) or delete it.
//!
//! So svcproxy uses both flags or none ([`TableFlags::Auto`]): both where the kernel takes
//! them, found out once per datapath by [`probe`]; none on older kernels (`EOPNOTSUPP` for an
//! unknown flag since 5.12, `EINVAL` before), logged, where a full sync repairs a flushed
//! table instead. [`TableFlags::None`] forces the old behaviour.
//!
//! Consequences, handled in [`crate::encode`] and [`crate::datapath`]:
//!
//! * `svcproxy run` keeps one datapath, hence one socket, for its lifetime, so it stays the
//!   owner; a second writer in the namespace meanwhile gets `EPERM`;
//! * a `NEWTABLE` carrying flags on an existing table asks the kernel to change them, and it
//!   refuses to drop `owner` or to toggle `persist` (`EOPNOTSUPP`). The `add table` that
//!   precedes a `delete table` (delete-if-exists: the fresh sync of a new datapath, cleanup)
//!   therefore carries no flags attribute: it leaves any existing table as it is. Only the
//!   `add table` that creates our table for good carries the flags;
//! * a new process (`sync`, `cleanup`, the next `run`) meets an orphaned table and deletes it
//!   in that same transaction (a fresh sync recreates it, owned by the new socket). A table
//!   still owned by a live process is refused (`EPERM`) and left alone.

use std::ffi::CStr;

use nftnl::{Batch, MsgType, ProtoFamily};
use nix::errno::Errno;

use crate::netlink::{self, MsgKind, Socket};
use crate::table::TableMsg;

/// `NFT_TABLE_F_OWNER`: only the creating netlink socket may change the table.
pub const NFT_TABLE_F_OWNER: u32 = 0x2;
/// `NFT_TABLE_F_PERSIST`: an owned table outlives its owner's socket (orphaned).
pub const NFT_TABLE_F_PERSIST: u32 = 0x4;
/// The flags svcproxy's tables get where the kernel supports them.
pub const PROTECTED: u32 = NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST;

/// The table [`probe`] creates and deletes in one transaction (never committed alone).
const PROBE_TABLE: &CStr = c"svcproxy-flags-probe";

/// Which flags svcproxy creates its tables with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TableFlags {
    /// `owner` + `persist` where the kernel has both (Linux 6.9+), none otherwise.
    #[default]
    Auto,
    /// No flags, as on kernels before 6.9: `nft flush ruleset` removes our tables, the next
    /// full sync restores them.
    None,
}

/// Whether the kernel takes `owner` + `persist` table flags: one batch adding a probe table
/// with both and deleting it again, so nothing is left behind either way.
pub fn probe(socket: &mut Socket) -> Result<bool, netlink::Error> {
    let table = TableMsg::new(PROBE_TABLE, ProtoFamily::Ipv4);
    let mut batch = Batch::new();
    batch.add(&table.clone().flags(Some(PROTECTED)), MsgType::Add);
    batch.add(&table, MsgType::Del);
    match socket.apply(&batch.finalize()) {
        Ok(_) => Ok(true),
        Err(netlink::Error::Rejected { first, .. })
            if first.kind == MsgKind::NewTable
                && matches!(first.errno, Errno::EOPNOTSUPP | Errno::EINVAL) =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// The `NFT_TABLE_F_*` bits to create tables with, for `flags` and what [`probe`] found.
pub fn bits(flags: TableFlags, supported: bool) -> u32 {
    match flags {
        TableFlags::Auto if supported => PROTECTED,
        TableFlags::Auto | TableFlags::None => 0,
    }
}

/// `flags` (`NFT_TABLE_F_*` bits) as `nft` spells them (`owner,persist`), for logs.
pub fn describe(flags: u32) -> String {
    let names: Vec<&str> = [
        (NFT_TABLE_F_OWNER, "owner"),
        (NFT_TABLE_F_PERSIST, "persist"),
    ]
    .into_iter()
    .filter(|(bit, _)| flags & bit != 0)
    .map(|(_, name)| name)
    .collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_flags_or_none() {
        assert_eq!(bits(TableFlags::Auto, true), PROTECTED);
        assert_eq!(
            bits(TableFlags::Auto, false),
            0,
            "never owner without persist"
        );
        assert_eq!(bits(TableFlags::None, true), 0);
        assert_eq!(describe(PROTECTED), "owner,persist");
        assert_eq!(describe(0), "none");
    }
}
