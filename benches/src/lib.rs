//! svcproxy's benches: what a sync costs at scale, measured side by side with kube-proxy's
//! nftables ruleset loaded by `nft -f`, each in a fresh network namespace.
//!
//! # Running
//!
//! The benches program the kernel, so they need root (`CAP_NET_ADMIN`, `CAP_SYS_ADMIN`),
//! `iproute2` and `nft`; without root they print why and exit successfully. Every measurement
//! programs its own throwaway namespace (`testkit::Netns`); the host's namespace is never
//! touched and no namespace outlives the run.
//!
//! ```text
//! cargo bench -p benches --bench sync                   # everything, ~12 minutes on 2 vCPUs
//! cargo bench -p benches --bench sync -- add_service    # one group
//! cargo bench -p benches --bench sync -- 'full_sync/svcproxy'
//! cargo bench -p benches --bench sync -- change_endpoint/svcproxy/44k
//! SVCPROXY_BENCH_NFT_10K_LOADS=5 cargo bench -p benches --bench sync -- full_sync
//! ```
//!
//! The arguments after `--` are criterion's (a regular expression over
//! `group/function/parameter`). Results land in `target/criterion/` as usual. The run ends
//! with a summary ([`summary`]): medians side by side, the svcproxy vs `nft -f` ratios and
//! issue 3's targets, met or missed.
//!
//! # What `benches/sync.rs` measures
//!
//! * `full_sync/svcproxy/{1k,5k,10k,44k}_x5`: a cold [`proxy_core::SyncMode::Full`] sync of
//!   `N` services x 5 endpoints into a fresh namespace (namespace and datapath set up outside
//!   the timing);
//! * `full_sync/nft_f_kube_proxy_shape/{1k,5k,10k}_x5`: `ip netns exec NS nft -f FILE` of
//!   kube-proxy's ruleset for the same cluster ([`kube_proxy::render`]) into a fresh
//!   namespace. The load is superlinear in the kernel (one anonymous verdict map per service,
//!   each bound by a walk of the whole transaction). 1k and 5k run under criterion (10
//!   samples of one load, plus a warm-up load). 10k, at 40 to 100 s per load, is loaded 3
//!   times (`SVCPROXY_BENCH_NFT_10K_LOADS`) outside criterion's sampler, in the same run, and
//!   printed as min/median/max where criterion prints its estimate; it follows criterion's
//!   filter, and `cargo test --benches` skips it;
//! * `add_service/svcproxy/{1k,10k,44k}`: after a full sync at that size (outside the timing,
//!   once per size), one [`proxy_core::SyncMode::Partial`] sync adding one service with 5
//!   endpoints; it is removed again after each iteration, outside the timing;
//! * `change_endpoint/svcproxy/{1k,10k,44k}`: likewise, one partial sync moving one endpoint
//!   of one service to another address (and back, the next iteration).
//!
//! `benches/large_batch.rs` (`cargo bench -p benches --bench large_batch`, not criterion)
//! compares two ways of sending a full sync of more than 1024 pages in one `sendmsg` on 60k
//! services x 20 endpoints: time and heap bytes copied (see `backend_nft::gather`).
//!
//! `benches/agent_api.rs` (`cargo bench -p benches --bench agent_api`, not criterion) measures
//! the real `svcproxy run --source kube` process against the fake API server in another
//! process: start to first sync, memory, and endpoint-change latency ([`agent_api`]; see
//! `benches/README.md`).
//!
//! The cluster ([`cluster::Cluster`]) is generated from indices: cluster IPs from
//! `10.96.0.0/12`, endpoints from `10.244.0.0/14`, TCP port 80 -> 8080, an IPv4-only node.

pub mod agent_api;
pub mod cli;
pub mod cluster;
pub mod iptables_rig;
pub mod iptables_summary;
pub mod kube_proxy;
pub mod objects;
pub mod rig;
pub mod summary;
