//! The nftables datapath: programs the kernel over netlink (`nftnl`/`mnl`), never via `nft`.
//!
//! This crate currently holds the netlink foundation the backend is built on:
//!
//! * [`types`]: data types, registers and the byte layout of concatenated keys and map data;
//! * [`expr`]: the nftables expressions `nftnl` lacks (explicit registers, `numgen`, map
//!   lookups, `dnat` from registers, `fib`, `reject`, `dynset`);
//! * [`set`]: named sets, verdict maps and concatenated data maps, and their elements;
//! * [`netlink`]: a socket bound to a network namespace that applies one batch as one
//!   transaction and reports per-message errors.
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
pub mod ir;
pub mod names;
pub mod netlink;
pub mod plan;
pub mod render;
pub mod types;

pub use ffi::{expr, rule, set};
