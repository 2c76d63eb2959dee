//! The pure planner and the matcher: which entries a sync's delta makes stale.

use std::collections::BTreeSet;

use proxy_core::model::Protocol;
use svcproxy::conntrack::{Entry, Frontend, KnownFrontends, Matcher, NodePorts, Plan, Work, plan};

use super::fixture::{Cluster, Svc, entry, ep, gone, ip, sa, terminating, udp};

const CLIENT: &str = "10.244.1.9";
const A: &str = "10.244.0.2";
const B: &str = "10.244.0.3";

/// The plan for the last delta of `cluster`, with no earlier frontends known.
fn plan_for(cluster: &Cluster, delta: &proxy_core::Delta, node_ports: &NodePorts) -> Plan {
    let mut known = KnownFrontends::default();
    known.seed(cluster.state());
    plan(
        cluster.state(),
        &Work::from_delta(delta),
        &known,
        node_ports,
    )
}

/// Which of `entries` the plan finds stale.
fn stale(plan: &Plan, entries: &[Entry]) -> Vec<Entry> {
    let m = Matcher::new(plan);
    entries.iter().filter(|e| m.is_stale(e)).cloned().collect()
}

/// The "dns" service: UDP 53 on a cluster IP, a node port, an external IP and an LB IP.
fn dns(eps: Vec<super::fixture::Ep>) -> Svc {
    let mut svc = Svc::udp("dns", "10.96.0.10").eps(eps);
    svc.node_port = Some(30053);
    svc.external_ips = vec!["203.0.113.10"];
    svc.lb_ips = vec!["198.51.100.10"];
    svc
}

/// An entry from the client's port 40000 to `dst`, DNATed to `ep` port 5353.
fn to(dst: (&str, u16), ep_ip: &str) -> Entry {
    udp(sa(CLIENT, 40000), sa(dst.0, dst.1), sa(ep_ip, 5353))
}

#[test]
fn a_removed_endpoint_is_stale_on_every_frontend_and_the_others_are_kept() {
    let mut cluster = Cluster::default();
    cluster.set(&[dns(vec![ep(A), ep(B)])]);
    let delta = cluster.set(&[dns(vec![ep(B)])]);
    let plan = plan_for(&cluster, &delta, &NodePorts::Primary);
    let frontends: BTreeSet<Frontend> = plan.filters.iter().map(|f| f.frontend).collect();
    assert_eq!(
        frontends,
        BTreeSet::from([
            Frontend::Addr(sa("10.96.0.10", 53)),
            Frontend::Addr(sa("203.0.113.10", 53)),
            Frontend::Addr(sa("198.51.100.10", 53)),
            Frontend::NodePort(30053),
        ])
    );
    let cluster_ip = to(("10.96.0.10", 53), A);
    let external = to(("203.0.113.10", 53), A);
    let lb = to(("198.51.100.10", 53), A);
    let node_port = to(("192.168.50.1", 30053), A);
    let kept: Vec<Entry> = [
        to(("10.96.0.10", 53), B),
        to(("203.0.113.10", 53), B),
        to(("192.168.50.1", 30053), B),
        // A node port on an address that does not serve node ports (Primary: node IPs only).
        to(("10.0.0.99", 30053), A),
        // Another port of the same IP.
        to(("10.96.0.10", 54), A),
    ]
    .into();
    let mut all = vec![
        cluster_ip.clone(),
        external.clone(),
        lb.clone(),
        node_port.clone(),
    ];
    all.extend(kept);
    assert_eq!(
        stale(&plan, &all),
        vec![cluster_ip, external, lb, node_port]
    );
}

#[test]
fn node_ports_on_every_address_with_a_zero_cidr() {
    let mut cluster = Cluster::default();
    cluster.set(&[dns(vec![ep(A), ep(B)])]);
    let delta = cluster.set(&[dns(vec![ep(B)])]);
    let all_v4 = NodePorts::Cidrs(vec!["0.0.0.0/0".parse().expect("cidr")]);
    let plan = plan_for(&cluster, &delta, &all_v4);
    let elsewhere = to(("10.0.0.99", 30053), A);
    assert_eq!(
        stale(&plan, std::slice::from_ref(&elsewhere)),
        vec![elsewhere]
    );
    // The primary node IP is not in that list's family for IPv6; an IPv6 node port is not
    // served at all, so nothing of IPv6 is dumped for it.
    assert_eq!(plan.families(), [proxy_core::model::IpFamily::V4].into());
}

#[test]
fn tcp_entries_are_never_touched() {
    let mut svc = Svc::udp("dns", "10.96.0.10").eps([ep(A), ep(B)]);
    svc.protocols = vec!["UDP", "TCP"];
    let mut cluster = Cluster::default();
    cluster.set(std::slice::from_ref(&svc));
    let delta = cluster.set(&[svc.eps([ep(B)])]);
    let plan = plan_for(&cluster, &delta, &NodePorts::Primary);
    assert!(
        plan.filters.iter().all(|f| f.protocol == Protocol::Udp),
        "{plan:?}"
    );
    let u = to(("10.96.0.10", 53), A);
    let t = entry(
        Protocol::Tcp,
        sa(CLIENT, 40000),
        sa("10.96.0.10", 53),
        sa(A, 5353),
    );
    assert_eq!(stale(&plan, &[u.clone(), t]), vec![u]);
}

#[test]
fn a_tcp_only_change_plans_nothing() {
    let mut svc = Svc::udp("web", "10.96.0.20").eps([ep(A), ep(B)]);
    svc.protocols = vec!["TCP"];
    let mut cluster = Cluster::default();
    cluster.set(std::slice::from_ref(&svc));
    let delta = cluster.set(&[svc.eps([ep(B)])]);
    assert!(!delta.changed.is_empty());
    assert!(plan_for(&cluster, &delta, &NodePorts::Primary).is_empty());
}

#[test]
fn a_terminating_endpoint_that_still_serves_keeps_its_entries_until_it_stops() {
    let mut cluster = Cluster::default();
    cluster.set(&[dns(vec![ep(A), ep(B)])]);
    let delta = cluster.set(&[dns(vec![terminating(A), ep(B)])]);
    assert!(delta.stale_endpoints.is_empty(), "{delta:?}");
    let plan = plan_for(&cluster, &delta, &NodePorts::Primary);
    let to_a = to(("10.96.0.10", 53), A);
    assert!(stale(&plan, std::slice::from_ref(&to_a)).is_empty());

    let delta = cluster.set(&[dns(vec![gone(A), ep(B)])]);
    assert_eq!(delta.stale_endpoints.len(), 1, "{delta:?}");
    let plan = plan_for(&cluster, &delta, &NodePorts::Primary);
    assert_eq!(stale(&plan, std::slice::from_ref(&to_a)), vec![to_a]);
}

#[test]
fn a_first_endpoint_clears_the_entries_made_while_there_was_none() {
    let mut cluster = Cluster::default();
    cluster.set(&[dns(vec![])]);
    let delta = cluster.set(&[dns(vec![ep(A)])]);
    assert_eq!(delta.newly_active.len(), 1);
    let plan = plan_for(&cluster, &delta, &NodePorts::Primary);
    // Not translated: the reply would come from the service IP itself.
    let blackholed = udp(
        sa(CLIENT, 40000),
        sa("10.96.0.10", 53),
        sa("10.96.0.10", 53),
    );
    let node_port = udp(
        sa(CLIENT, 40001),
        sa("192.168.50.1", 30053),
        sa("192.168.50.1", 30053),
    );
    let fine = to(("10.96.0.10", 53), A);
    assert_eq!(
        stale(&plan, &[blackholed.clone(), node_port.clone(), fine]),
        vec![blackholed, node_port]
    );
}

#[test]
fn scaling_to_zero_clears_every_entry_of_the_service() {
    let mut cluster = Cluster::default();
    cluster.set(&[dns(vec![ep(A), ep(B)])]);
    let delta = cluster.set(&[dns(vec![])]);
    let plan = plan_for(&cluster, &delta, &NodePorts::Primary);
    let entries = [to(("10.96.0.10", 53), A), to(("198.51.100.10", 53), B)];
    assert_eq!(stale(&plan, &entries), entries.to_vec());
}

#[test]
fn other_services_are_left_alone() {
    let other = Svc::udp("other", "10.96.0.11").eps([ep(B)]);
    let mut cluster = Cluster::default();
    cluster.set(&[dns(vec![ep(A), ep(B)]), other.clone()]);
    let delta = cluster.set(&[dns(vec![ep(B)]), other]);
    let plan = plan_for(&cluster, &delta, &NodePorts::Primary);
    // DNATed to A, but through the other service (which never had A): not ours to judge.
    let via_other = to(("10.96.0.11", 53), A);
    assert!(stale(&plan, &[via_other]).is_empty());
}

#[test]
fn a_deleted_service_uses_its_known_frontends() {
    let mut cluster = Cluster::default();
    cluster.set(&[dns(vec![ep(A)])]);
    let mut known = KnownFrontends::default();
    known.seed(cluster.state());
    let delta = cluster.set(&[]);
    assert_eq!(delta.deleted.len(), 1);
    let plan = plan(
        cluster.state(),
        &Work::from_delta(&delta),
        &known,
        &NodePorts::Primary,
    );
    let entries = [to(("10.96.0.10", 53), A), to(("192.168.50.1", 30053), A)];
    assert_eq!(stale(&plan, &entries), entries.to_vec());
}

#[test]
fn a_deleted_service_never_seen_falls_back_to_its_cluster_ip() {
    let mut cluster = Cluster::default();
    cluster.set(&[dns(vec![ep(A)])]);
    let delta = cluster.set(&[]);
    let plan = plan(
        cluster.state(),
        &Work::from_delta(&delta),
        &KnownFrontends::default(),
        &NodePorts::Primary,
    );
    let udp_any_port = to(("10.96.0.10", 5300), A);
    let tcp = entry(
        Protocol::Tcp,
        sa(CLIENT, 40000),
        sa("10.96.0.10", 53),
        sa(A, 5353),
    );
    assert_eq!(
        stale(&plan, &[udp_any_port.clone(), tcp]),
        vec![udp_any_port]
    );
    assert!(
        plan.filters
            .iter()
            .all(|f| f.frontend == Frontend::AnyPort(ip("10.96.0.10")))
    );
}

#[test]
fn ipv6_services_plan_ipv6_frontends() {
    let svc = Svc::udp("dns6", "fd00:96::10").eps([ep("fd00:244::2"), ep("fd00:244::3")]);
    let mut cluster = Cluster::default();
    cluster.set(std::slice::from_ref(&svc));
    let delta = cluster.set(&[svc.eps([ep("fd00:244::3")])]);
    let plan = plan_for(&cluster, &delta, &NodePorts::Primary);
    assert_eq!(plan.families(), [proxy_core::model::IpFamily::V6].into());
    let e = udp(
        sa("fd00:244::9", 40000),
        sa("fd00:96::10", 53),
        sa("fd00:244::2", 5353),
    );
    assert_eq!(stale(&plan, std::slice::from_ref(&e)), vec![e]);
}

#[test]
fn sctp_is_cleaned_like_udp_and_only_sctp_entries_match() {
    let mut svc = Svc::udp("sig", "10.96.0.12").eps([ep(A), ep(B)]);
    svc.protocols = vec!["SCTP"];
    let mut cluster = Cluster::default();
    cluster.set(std::slice::from_ref(&svc));
    let delta = cluster.set(&[svc.eps([ep(B)])]);
    let plan = plan_for(&cluster, &delta, &NodePorts::Primary);
    assert!(
        plan.filters.iter().all(|f| f.protocol == Protocol::Sctp),
        "{plan:?}"
    );
    let sctp = entry(
        Protocol::Sctp,
        sa(CLIENT, 40000),
        sa("10.96.0.12", 53),
        sa(A, 5353),
    );
    let udp_same_frontend = to(("10.96.0.12", 53), A);
    assert_eq!(stale(&plan, &[sctp.clone(), udp_same_frontend]), vec![sctp]);
}
