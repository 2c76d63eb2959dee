//! The crate's only FFI module: everything that calls `libnftnl` (via `nftnl-sys`) or raw
//! socket syscalls lives under here, so that `unsafe` is allowed in exactly one place.
//!
//! * [`expr`]: nftables expressions that `nftnl` 0.9.4 lacks or hard-wires to register 1.
//! * [`set`]: named sets and maps (verdict and concatenated data), their elements.
//! * [`rule`]: rule messages `nftnl` lacks (flushing a whole table's rules).
//! * [`table`]: table messages with or without the flags attribute (owner, persist).
//! * `sock`: the netlink socket primitives [`crate::netlink`] builds on.
//!
//! Every `unsafe` block carries a `SAFETY` comment. The pattern throughout is: allocate a
//! libnftnl object, set attributes (libnftnl copies strings and byte buffers), serialize it into
//! a buffer the caller guarantees is large enough, free it.
#![allow(unsafe_code)]

pub mod expr;
pub mod rule;
pub mod set;
pub(crate) mod sock;
pub mod table;
