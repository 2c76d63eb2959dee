//! Sending a full sync of more than 1024 pages: the two ways of fitting it into the kernel's
//! 1024 iovecs per `sendmsg`, measured on the cluster that used to fail (60,000 services x 20
//! endpoints, ~80 MB, ~1,350 pages), each in a fresh network namespace:
//!
//! * `in place + tail`: the first 1,023 pages sent where they are, the rest copied into one
//!   buffer (what [`backend_nft::netlink::Socket`] does);
//! * `one buffer`: the whole batch copied into one buffer, one iovec.
//!
//! For each, over [`RUNS`] runs: the time of `Socket::apply` (gathering, `sendmsg`, the
//! kernel's work, the replies), of the kernel's part alone and of what comes before the
//! `sendmsg` (scanning the messages, gathering the pages), the bytes copied, and the peak
//! of the process's heap during the apply above what it held before (counted by a wrapper
//! around the system allocator: resident-set figures would hide the copy in memory the
//! allocator reuses after planning).
//!
//! ```text
//! cargo bench -p benches --bench large_batch
//! ```
//!
//! Not a criterion bench: one apply takes seconds and the question is memory as much as time.
//! `cargo test --benches` (`--test`) runs one small apply of each kind instead.

#![allow(unsafe_code)] // only the counting allocator below

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use backend_nft::encode::{self, Encoded, Schema};
use backend_nft::netlink::{Sent, Socket};
use backend_nft::plan::{self, Config, NodePortAddresses};
use benches::cli::Args;
use proxy_core::ProxyState;
use proxy_core::model::{Endpoint, NodeInfo, Protocol, ServicePort, ServicePortName};
use testkit::Netns;
use tokio::time::Instant;

/// Runs per strategy.
const RUNS: usize = 3;

/// The strategies: a name and the most iovecs it may use.
const STRATEGIES: [(&str, usize); 2] = [("in place + tail", 1024), ("one buffer", 1)];

/// `services` TCP services of `endpoints` endpoints each (cluster IPs from `10.96.0.10`,
/// endpoints from `10.112.0.0/12`), on an IPv4 node.
fn cluster(services: u32, endpoints: u32) -> (ProxyState, Config) {
    let nth = |base: Ipv4Addr, n: u32| IpAddr::V4(Ipv4Addr::from(u32::from(base) + n));
    let node_ip = IpAddr::V4(Ipv4Addr::new(192, 168, 50, 1));
    let mut state = ProxyState {
        node: NodeInfo {
            ips: vec![node_ip],
            ..NodeInfo::new("node-a")
        },
        ..ProxyState::default()
    };
    for i in 0..services {
        let name = ServicePortName::new(
            format!("ns-{}", i / 1000),
            format!("svc-{i}"),
            "http",
            Protocol::Tcp,
        );
        let ip = nth(Ipv4Addr::new(10, 96, 0, 10), i);
        let mut eps: Vec<Endpoint> = (0..endpoints)
            .map(|j| Endpoint::new(nth(Ipv4Addr::new(10, 112, 0, 0), i * endpoints + j), 8080))
            .collect();
        eps.sort();
        state
            .services
            .insert(name.clone(), ServicePort::new(name.clone(), ip, 80));
        state.endpoints.insert(name, eps);
    }
    let config = Config {
        node_ips: vec![node_ip],
        cluster_cidrs: vec!["10.112.0.0/12".parse().expect("cidr")],
        service_cidrs: vec!["10.96.0.0/12".parse().expect("cidr")],
        nodeport_addresses: NodePortAddresses::Primary,
        masquerade_all: false,
        ..Config::default()
    };
    (state, config)
}

/// The system allocator, counting the bytes allocated now and their peak.
struct Counting;

/// Bytes allocated now.
static CURRENT: AtomicUsize = AtomicUsize::new(0);
/// The most bytes allocated at once since the last [`reset_peak`].
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to `System`; the counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as `System::alloc`.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as `System::dealloc`.
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as `System::realloc`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
            let now = CURRENT.fetch_add(new_size, Ordering::Relaxed) + new_size;
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Starts a new peak at the bytes allocated now, which it returns.
fn reset_peak() -> usize {
    let now = CURRENT.load(Ordering::Relaxed);
    PEAK.store(now, Ordering::Relaxed);
    now
}

/// One apply of `batch` into a fresh namespace with at most `max_iovecs` iovecs: what was
/// sent, the apply's wall time and the most heap bytes it held on top of what was there.
fn apply_once(batch: &Encoded, max_iovecs: usize) -> (Sent, Duration, usize) {
    let ns = Netns::new("svcproxy-bench-batch").expect("namespace");
    let mut socket = Socket::open_in(ns.path()).expect("socket");
    socket.set_max_iovecs(max_iovecs);
    let before = reset_peak();
    let start = Instant::now();
    let sent = socket.apply(batch.batch()).expect("applied");
    let took = start.elapsed();
    let rise = PEAK.load(Ordering::Relaxed).saturating_sub(before);
    // Empty the namespace now, outside the timing, rather than in its teardown.
    ns.exec_ok("nft", ["delete", "table", "ip", "svcproxy"])
        .expect("delete the table");
    (sent, took, rise)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    if !testkit::is_root() {
        eprintln!("skipping the large_batch bench: it needs root to create network namespaces");
        return;
    }
    let args = Args::from_env();
    if args.list {
        println!("large_batch: bench");
        return;
    }
    let (services, endpoints, runs) = if args.test {
        (1_000, 20, 1)
    } else {
        (60_000, 20, RUNS)
    };
    let (state, config) = cluster(services, endpoints);
    let tx = plan::full_transaction(&state, &config);
    drop(state);
    let batch = encode::encode(&tx, &Schema::new(), 0).expect("encodes");
    drop(tx);
    println!(
        "{services} services x {endpoints} endpoints: {} bytes, {} messages",
        batch.bytes(),
        batch.messages()
    );
    for (name, max) in STRATEGIES {
        let mut times = Vec::new();
        let mut kernel = Vec::new();
        let mut ours = Vec::new();
        let mut rises = Vec::new();
        let mut last = Sent::default();
        for _ in 0..runs {
            let (sent, took, rise) = apply_once(&batch, max);
            times.push(took);
            kernel.push(sent.kernel);
            ours.push(took.saturating_sub(sent.kernel));
            rises.push(rise);
            last = sent;
        }
        println!(
            "{name:>16}: {} pages as {} iovecs, {:.1} MB copied; apply median {:?} (kernel \
             {:?}, before the sendmsg {:?}); heap peak above the batch {:.1} MB",
            last.pages,
            last.iovecs,
            last.copied as f64 / 1e6,
            median(times),
            median(kernel),
            median(ours),
            rises.iter().copied().max().unwrap_or(0) as f64 / 1e6,
        );
    }
}
