//! The agent's integration tests, in one binary.

mod binary;
mod cli;
mod common;
mod e2e_iptables;
mod e2e_nftables;
mod nft_owner;
mod source;
mod switch;
mod sync;
