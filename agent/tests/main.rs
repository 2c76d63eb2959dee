//! The agent's integration tests, in one binary.

mod bad_source;
mod binary;
mod cli;
mod common;
mod conntrack;
mod e2e_iptables;
mod e2e_nftables;
mod kube_source;
mod kube_watch;
mod nft_owner;
mod race;
mod source;
mod switch;
mod sync;
