//! Measures a conntrack cleanup against a large table, in a throwaway network namespace (root):
//! `cargo run --release -p svcproxy --example conntrack_scale -- [ENTRIES] [SERVICES] [STALE]`.
//!
//! The table gets ENTRIES UDP entries spread over SERVICES UDP services (two endpoints each,
//! half the entries DNATed to each); then one endpoint of STALE services leaves, and the
//! cleaner runs once for that delta. Prints how long the dump, the matching and the deletions
//! took, and how many entries went.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use proxy_core::model::{Endpoint, NodeInfo, Protocol, ServicePort, ServicePortName};
use proxy_core::{Delta, ProxyState, StaleEndpoint};
use svcproxy::conntrack::{Cleaner, NetlinkConntrack, NodePorts};
use testkit::Netns;
use tokio::time::Instant;

fn arg(n: usize, default: usize) -> usize {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn vip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 96, (i / 256) as u8, (i % 256) as u8)
}

fn endpoint(i: usize, second: bool) -> Ipv4Addr {
    Ipv4Addr::new(
        10,
        244,
        (i / 128) as u8,
        (2 * (i % 128) + usize::from(second)) as u8,
    )
}

fn name(i: usize) -> ServicePortName {
    ServicePortName::new("bench", format!("svc-{i}"), "dns", Protocol::Udp)
}

/// The state of `services` UDP services with two endpoints, the first one gone for `stale`.
fn state(services: usize, stale: usize) -> ProxyState {
    let mut state = ProxyState {
        node: NodeInfo::new("node-a"),
        ..ProxyState::default()
    };
    for i in 0..services {
        let svc = ServicePort::new(name(i), IpAddr::V4(vip(i)), 53);
        state.services.insert(name(i), svc);
        let mut eps = vec![Endpoint::new(endpoint(i, true).into(), 5353)];
        if i >= stale {
            eps.insert(0, Endpoint::new(endpoint(i, false).into(), 5353));
        }
        state.endpoints.insert(name(i), eps);
    }
    state
}

/// `conntrack -R` input: `entries` UDP entries over `services` services.
fn table(entries: usize, services: usize) -> String {
    let mut out = String::new();
    for j in 0..entries {
        let i = j % services;
        let client = Ipv4Addr::new(10, 1, (j / 60_000) as u8, 1);
        let sport = 1024 + j % 60_000;
        let ep = endpoint(i, j / services % 2 == 1);
        let _ = writeln!(
            out,
            "-A -t 300 -u UNSET -s {client} -d {} -r {ep} -q {client} -p udp --sport {sport} \
             --dport 53 --reply-port-src 5353 --reply-port-dst {sport}",
            vip(i)
        );
    }
    out
}

/// A `/proc/self/status` figure in KiB (0 if unreadable).
fn rss_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim_start_matches(':')
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

fn main() {
    if !testkit::root_or_skip("conntrack_scale") {
        return;
    }
    let (entries, services, stale) = (arg(1, 100_000), arg(2, 1000), arg(3, 100));
    let ns = Netns::new("ct-scale").expect("namespace");
    let file = std::env::temp_dir().join(format!("ct-scale-{}.txt", std::process::id()));
    std::fs::write(&file, table(entries, services)).expect("write the table");
    // The table text is freed; the peak below is the cleanup's (the text's was smaller).
    let loaded = ns.exec_ok("conntrack", [std::ffi::OsStr::new("-R"), file.as_os_str()]);
    let _ = std::fs::remove_file(&file);
    loaded.expect("conntrack -R");

    let delta = Delta {
        changed: (0..stale).map(name).collect(),
        stale_endpoints: (0..stale)
            .map(|i| StaleEndpoint {
                service_port: name(i),
                addr: SocketAddr::new(endpoint(i, false).into(), 5353),
            })
            .collect::<BTreeSet<_>>(),
        ..Delta::default()
    };
    let state = state(services, stale);
    let table = NetlinkConntrack::open(Some(ns.path())).expect("ctnetlink");
    let cleaner = Cleaner::new(table, NodePorts::Primary);
    let rss_before = rss_kib("VmRSS");
    let started = Instant::now();
    let report = cleaner.cleanup_blocking(&state, &delta).expect("cleanup");
    let took = started.elapsed();
    println!(
        "{entries} entries, {services} services, {stale} with a stale endpoint: scanned {}, \
         deleted {} (gone {}) in {:.1} ms; RSS {} KiB before, peak {} KiB",
        report.scanned,
        report.deleted,
        report.gone,
        took.as_secs_f64() * 1000.0,
        rss_before,
        rss_kib("VmHWM")
    );
}
