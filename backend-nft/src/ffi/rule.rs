//! Rule messages `nftnl` cannot build: flushing the rules of a whole table.

use std::ffi::{CStr, CString, c_char, c_void};
use std::ptr::NonNull;

use nftnl::{MsgType, NlMsg, ProtoFamily};
use nftnl_sys as sys;

/// Deletes every rule of a table, or of one chain (`NFT_MSG_DELRULE` without a handle). A
/// table-wide flush succeeds whatever chains exist; a chain flush needs the chain.
#[derive(Debug, Clone, Eq, PartialEq, Hash)]
pub struct FlushRules {
    table: CString,
    family: ProtoFamily,
    chain: Option<CString>,
}

impl FlushRules {
    /// Flush every chain of `table`.
    pub fn table(table: &CStr, family: ProtoFamily) -> Self {
        FlushRules {
            table: table.to_owned(),
            family,
            chain: None,
        }
    }

    /// Flush one chain of `table`.
    pub fn chain(table: &CStr, family: ProtoFamily, chain: &CStr) -> Self {
        FlushRules {
            chain: Some(chain.to_owned()),
            ..Self::table(table, family)
        }
    }
}

/// Owns a freshly allocated `nftnl_rule`, freed on drop.
struct RawRule(NonNull<sys::nftnl_rule>);

impl Drop for RawRule {
    fn drop(&mut self) {
        // SAFETY: we own the rule.
        unsafe { sys::nftnl_rule_free(self.0.as_ptr()) };
    }
}

// SAFETY: a flush message holds the table name, the family and at most a chain name.
unsafe impl NlMsg for FlushRules {
    unsafe fn write(&self, buf: *mut c_void, seq: u32, _msg_type: MsgType) {
        // SAFETY: plain allocation, checked for NULL below.
        let Some(rule) = NonNull::new(unsafe { sys::nftnl_rule_alloc() }) else {
            std::process::abort()
        };
        let rule = RawRule(rule);
        // SAFETY: `rule` is live; libnftnl strdup()s the strings; `buf` is large enough per
        // this trait's contract.
        unsafe {
            sys::nftnl_rule_set_u32(
                rule.0.as_ptr(),
                sys::NFTNL_RULE_FAMILY as u16,
                self.family as u32,
            );
            sys::nftnl_rule_set_str(
                rule.0.as_ptr(),
                sys::NFTNL_RULE_TABLE as u16,
                self.table.as_ptr(),
            );
            if let Some(chain) = &self.chain {
                sys::nftnl_rule_set_str(
                    rule.0.as_ptr(),
                    sys::NFTNL_RULE_CHAIN as u16,
                    chain.as_ptr(),
                );
            }
            let hdr = sys::nftnl_nlmsg_build_hdr(
                buf.cast::<c_char>(),
                libc::NFT_MSG_DELRULE as u16,
                self.family as u16,
                libc::NLM_F_ACK as u16,
                seq,
            );
            sys::nftnl_rule_nlmsg_build_payload(hdr, rule.0.as_ptr());
        }
    }
}
