//! Kernel tests of the netlink foundation: every test builds its own throwaway network
//! namespace (deleted on drop, also on panic), programs it over netlink from a socket bound
//! to that namespace, and reads the result back with `nft -j list` run inside the namespace
//! (`nft` only observes). Skipped, with a message, when not root.

#[path = "../common/nft_compat.rs"]
mod nft_compat;
#[path = "../common/scenarios.rs"]
#[allow(dead_code)]
mod scenarios;

mod datapath;
mod netlink;
mod nft;
mod owner;
mod scale;
mod shape;
mod traffic;
