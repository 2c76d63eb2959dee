//! Kernel tests of the iptables applier and datapath: every test builds its own throwaway
//! network namespace (deleted on drop, also on panic), runs the `iptables` tools inside it, and
//! observes the result with `iptables-save` run inside it. Every test runs for both variants,
//! `iptables-legacy` and `iptables-nft`. Skipped, with a message, when not root.

mod base_chains;
mod common;
mod datapath;
mod jumps;
mod runner;
