//! The agent benchmark (`benches/agent_api.rs`): the real `svcproxy run --source kube
//! --backend nftables` process against the fake API server running in another process, each
//! agent programming a network namespace of its own.
//!
//! - [`api`]: the fake API server's process (the `fake_cluster_api` binary) and its handle;
//! - [`agent`]: the agent's process, its log and its memory;
//! - [`log`]: the agent's log lines (`datapath synced ... latency_us=`);
//! - [`run`]: one size: starts, memory, endpoint changes;
//! - [`report`]: the tables and the targets.

pub mod agent;
pub mod api;
pub mod log;
pub mod report;
pub mod run;
