//! The Cleaner over the in-memory FakeConntrack: one dump per family, exact deletions,
//! memory of deleted services, retries.

use proxy_core::model::IpFamily;
use svcproxy::conntrack::{Cleaner, Entry, FakeConntrack, NodePorts, Report};

use super::fixture::{Cluster, Svc, ep, sa, udp};

const A: &str = "10.244.0.2";
const B: &str = "10.244.0.3";

fn to(dst: &str, port: u16, ep_ip: &str, client_port: u16) -> Entry {
    udp(
        sa("10.244.1.9", client_port),
        sa(dst, port),
        sa(ep_ip, 5353),
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

#[test]
fn a_stale_endpoint_is_deleted_after_one_dump() {
    let mut cluster = Cluster::default();
    let svc = Svc::udp("dns", "10.96.0.10");
    let first = cluster.set(&[svc.clone().eps([ep(A), ep(B)])]);
    let (to_a, to_b) = (
        to("10.96.0.10", 53, A, 40000),
        to("10.96.0.10", 53, B, 40001),
    );
    let fake = FakeConntrack::new([to_a.clone(), to_b.clone()]);
    let cleaner = Cleaner::new(fake.clone(), NodePorts::Primary);
    let rt = runtime();

    // The first sync: every entry is DNATed to a serving endpoint; nothing goes.
    let report = rt
        .block_on(cleaner.cleanup(cluster.state(), &first))
        .expect("cleanup");
    assert_eq!((report.stale, report.deleted), (0, 0), "{report:?}");

    let delta = cluster.set(&[svc.eps([ep(B)])]);
    let report = rt
        .block_on(cleaner.cleanup(cluster.state(), &delta))
        .expect("cleanup");
    assert_eq!(
        report,
        Report {
            filters: 1,
            dumps: 1,
            scanned: 2,
            stale: 1,
            deleted: 1,
            gone: 0
        }
    );
    assert_eq!(fake.deleted(), vec![to_a]);
    assert_eq!(fake.entries(), vec![to_b]);
    assert_eq!(fake.dumps(), vec![IpFamily::V4, IpFamily::V4]);
}

#[test]
fn nothing_connectionless_touched_means_no_dump() {
    let mut cluster = Cluster::default();
    let mut web = Svc::udp("web", "10.96.0.20").eps([ep(A)]);
    web.protocols = vec!["TCP"];
    let fake = FakeConntrack::new([to("10.96.0.20", 53, A, 40000)]);
    let cleaner = Cleaner::new(fake.clone(), NodePorts::Primary);
    let delta = cluster.set(&[web]);
    let report = cleaner
        .cleanup_blocking(cluster.state(), &delta)
        .expect("cleanup");
    assert_eq!(report, Report::default());
    assert!(fake.dumps().is_empty());
    let report = cleaner
        .cleanup_blocking(cluster.state(), &proxy_core::Delta::default())
        .expect("cleanup");
    assert_eq!(report, Report::default());
    assert!(fake.dumps().is_empty());
}

#[test]
fn a_deleted_service_loses_its_node_port_entries_too() {
    let mut cluster = Cluster::default();
    let mut svc = Svc::udp("dns", "10.96.0.10").eps([ep(A)]);
    svc.node_port = Some(30053);
    let first = cluster.set(&[svc]);
    let via_node_port = to("192.168.50.1", 30053, A, 40000);
    let fake = FakeConntrack::new([via_node_port.clone()]);
    let cleaner = Cleaner::new(fake.clone(), NodePorts::Primary);
    cleaner
        .cleanup_blocking(cluster.state(), &first)
        .expect("cleanup");
    assert!(fake.deleted().is_empty());

    let delta = cluster.set(&[]);
    cleaner
        .cleanup_blocking(cluster.state(), &delta)
        .expect("cleanup");
    assert_eq!(fake.deleted(), vec![via_node_port]);
}

#[test]
fn a_failed_cleanup_is_redone_by_the_next_one() {
    let mut cluster = Cluster::default();
    let svc = Svc::udp("dns", "10.96.0.10");
    let first = cluster.set(&[svc.clone().eps([ep(A), ep(B)])]);
    let to_a = to("10.96.0.10", 53, A, 40000);
    let fake = FakeConntrack::new([to_a.clone()]);
    let cleaner = Cleaner::new(fake.clone(), NodePorts::Primary);
    cleaner
        .cleanup_blocking(cluster.state(), &first)
        .expect("cleanup");

    let delta = cluster.set(&[svc.eps([ep(B)])]);
    fake.fail_next_dump();
    let err = cleaner
        .cleanup_blocking(cluster.state(), &delta)
        .expect_err("injected");
    assert!(err.to_string().contains("ctnetlink"), "{err}");
    assert_eq!(
        fake.entries(),
        vec![to_a.clone()],
        "nothing flushed on failure"
    );

    // The next sync changed nothing, yet the stale entry goes.
    let report = cleaner
        .cleanup_blocking(cluster.state(), &proxy_core::Delta::default())
        .expect("retry");
    assert_eq!(report.deleted, 1);
    assert_eq!(fake.deleted(), vec![to_a]);
}
