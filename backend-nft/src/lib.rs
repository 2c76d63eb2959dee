//! The nftables datapath: programs the kernel over netlink (`nftnl`), never via `nft`.
//!
//! This crate currently holds the netlink foundation the backend is built on:
//!
//! * [`types`]: data types, registers and the byte layout of concatenated keys and map data;
//! * [`expr`]: the nftables expressions `nftnl` lacks (explicit registers, `numgen`, map
//!   lookups, `dnat` from registers, `fib`, `reject`, `dynset`);
//! * [`set`]: named sets, verdict maps and concatenated data maps, and their elements;
//!   [`table`]: table messages with or without flags;
//! * [`netlink`]: a socket bound to a network namespace that applies one batch as one
//!   transaction and reports per-message errors; [`gather`] lays a batch of any size out as
//!   the iovecs of that one `sendmsg`;
//! * [`owner`]: the `owner` and `persist` table flags that keep other processes off our tables.
//!
//! With the `testing` feature, [`check`] tells whether a planned ruleset is valid and routes
//! every service as it must (for tests, property tests and fuzz targets).
//!
//! All `unsafe` code (libnftnl calls and raw socket syscalls) is confined to the private
//! `ffi` module.

#[cfg(feature = "testing")]
pub mod check;
pub mod datapath;
pub mod encode;
mod ffi;
pub mod gather;
pub mod ir;
pub mod names;
pub mod netlink;
pub mod owner;
pub mod plan;
pub mod render;
pub mod types;

pub use ffi::{expr, rule, set, table};
