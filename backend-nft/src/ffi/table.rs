//! Table messages with control over the table flags attribute, which `nftnl` 0.9.4's `Table`
//! always sends as 0.
//!
//! The kernel treats `NFTA_TABLE_FLAGS` on an existing table as a request to change its flags
//! (and refuses to drop `owner` or to toggle `persist`), so a message that only makes sure the
//! table exists must leave the attribute out: [`TableMsg::flags`] `None`.

use std::ffi::{CStr, CString, c_char, c_void};
use std::ptr::NonNull;

use nftnl::{MsgType, NlMsg, ProtoFamily};
use nftnl_sys as sys;

/// `NEWTABLE` (`MsgType::Add`) or `DELTABLE` (`MsgType::Del`) of one table.
#[derive(Debug, Clone, Eq, PartialEq, Hash)]
pub struct TableMsg {
    name: CString,
    family: ProtoFamily,
    flags: Option<u32>,
}

impl TableMsg {
    /// The table `name` of `family`, without a flags attribute.
    pub fn new(name: &CStr, family: ProtoFamily) -> Self {
        TableMsg {
            name: name.to_owned(),
            family,
            flags: None,
        }
    }

    /// The same message carrying `NFTA_TABLE_FLAGS` = `flags` (`NFT_TABLE_F_*`), or none.
    pub fn flags(self, flags: Option<u32>) -> Self {
        TableMsg { flags, ..self }
    }
}

/// Owns a freshly allocated `nftnl_table`, freed on drop.
struct RawTable(NonNull<sys::nftnl_table>);

impl Drop for RawTable {
    fn drop(&mut self) {
        // SAFETY: we own the table.
        unsafe { sys::nftnl_table_free(self.0.as_ptr()) };
    }
}

// SAFETY: a table message holds a name, a family and optional flags.
unsafe impl NlMsg for TableMsg {
    unsafe fn write(&self, buf: *mut c_void, seq: u32, msg_type: MsgType) {
        // SAFETY: plain allocation, checked for NULL below.
        let Some(table) = NonNull::new(unsafe { sys::nftnl_table_alloc() }) else {
            std::process::abort()
        };
        let table = RawTable(table);
        let ty = match msg_type {
            MsgType::Add => libc::NFT_MSG_NEWTABLE,
            MsgType::Del => libc::NFT_MSG_DELTABLE,
        };
        // SAFETY: `table` is live; libnftnl strdup()s the name; an unset attribute is left
        // out of the payload; `buf` is large enough per this trait's contract.
        unsafe {
            let t = table.0.as_ptr();
            sys::nftnl_table_set_u32(t, sys::NFTNL_TABLE_FAMILY as u16, self.family as u32);
            sys::nftnl_table_set_str(t, sys::NFTNL_TABLE_NAME as u16, self.name.as_ptr());
            if let Some(flags) = self.flags {
                sys::nftnl_table_set_u32(t, sys::NFTNL_TABLE_FLAGS as u16, flags);
            }
            let hdr = sys::nftnl_nlmsg_build_hdr(
                buf.cast::<c_char>(),
                ty as u16,
                self.family as u16,
                libc::NLM_F_ACK as u16,
                seq,
            );
            sys::nftnl_table_nlmsg_build_payload(hdr, t);
        }
    }
}
