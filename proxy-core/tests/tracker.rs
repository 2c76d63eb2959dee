//! Tests of `proxy_core::tracker`: event sequences and the deltas they produce.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use proxy_core::model::{NodeInfo, Protocol, ServicePortName};
use proxy_core::tracker::ChangeTracker;
use proxy_core::{Delta, KubeObject, ObjectKind, StaleEndpoint};
use serde_json::{Value, json};

const NODE: &str = "node-a";

fn from_json<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("test fixture is a valid object")
}

/// A ClusterIP service `ns/name` with one port per `(name, port, protocol)`.
fn service(name: &str, ip: &str, ports: &[(&str, i32, &str)]) -> KubeObject {
    let ports: Vec<Value> = ports
        .iter()
        .map(|(n, p, proto)| json!({"name": n, "port": p, "protocol": proto}))
        .collect();
    KubeObject::from(from_json::<Service>(json!({
        "metadata": {"namespace": "ns", "name": name},
        "spec": {"clusterIP": ip, "ports": ports}
    })))
}

/// An IPv4 EndpointSlice `ns/slice` of service `svc` with one port and `(ip, node, serving)`
/// endpoints.
fn slice(
    slice: &str,
    svc: &str,
    port: (&str, i32, &str),
    eps: &[(&str, &str, bool)],
) -> KubeObject {
    let endpoints: Vec<Value> = eps
        .iter()
        .map(|(ip, node, serving)| {
            json!({"addresses": [ip], "nodeName": node,
                   "conditions": {"ready": serving, "serving": serving}})
        })
        .collect();
    KubeObject::from(from_json::<EndpointSlice>(json!({
        "metadata": {"namespace": "ns", "name": slice,
                     "labels": {"kubernetes.io/service-name": svc}},
        "addressType": "IPv4",
        "ports": [{"name": port.0, "port": port.1, "protocol": port.2}],
        "endpoints": endpoints
    })))
}

fn spn(svc: &str, port: &str, protocol: Protocol) -> ServicePortName {
    ServicePortName::new("ns", svc, port, protocol)
}

fn names<const N: usize>(list: [ServicePortName; N]) -> BTreeSet<ServicePortName> {
    BTreeSet::from(list)
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

fn endpoint_addrs(tracker: &ChangeTracker, name: &ServicePortName) -> Vec<SocketAddr> {
    tracker
        .state()
        .endpoints_of(name)
        .iter()
        .map(|e| e.addr())
        .collect()
}

fn tracker() -> ChangeTracker {
    ChangeTracker::new(NodeInfo::new(NODE))
}

#[test]
fn adding_a_service_reports_each_of_its_ports_as_changed() {
    let mut t = tracker();
    assert!(
        t.apply(&service(
            "web",
            "10.96.0.10",
            &[("http", 80, "TCP"), ("dns", 53, "UDP")]
        ))
        .is_empty()
    );
    assert!(t.has_pending());
    let delta = t.take_delta();
    assert_eq!(
        delta.changed,
        names([
            spn("web", "http", Protocol::Tcp),
            spn("web", "dns", Protocol::Udp)
        ])
    );
    assert!(delta.deleted.is_empty());
    assert_eq!(t.state().services.len(), 2);
    assert!(!t.has_pending());
    assert!(t.take_delta().is_empty());
}

#[test]
fn updating_a_service_reports_only_that_service() {
    let mut t = tracker();
    t.apply(&service("web", "10.96.0.10", &[("http", 80, "TCP")]));
    t.apply(&service("db", "10.96.0.11", &[("sql", 5432, "TCP")]));
    t.take_delta();
    t.apply(&service("web", "10.96.0.10", &[("http", 8080, "TCP")]));
    let delta = t.take_delta();
    assert_eq!(delta.changed, names([spn("web", "http", Protocol::Tcp)]));
    assert_eq!(
        t.state().services[&spn("web", "http", Protocol::Tcp)].port,
        8080
    );
}

#[test]
fn an_update_that_changes_nothing_yields_an_empty_delta() {
    let mut t = tracker();
    let svc = service("web", "10.96.0.10", &[("http", 80, "TCP")]);
    let eps = slice(
        "web-1",
        "web",
        ("http", 8080, "TCP"),
        &[("10.0.0.1", "node-b", true)],
    );
    t.apply(&svc);
    t.apply(&eps);
    t.take_delta();
    t.apply(&svc);
    t.apply(&eps);
    t.apply(&svc);
    assert!(!t.has_pending());
    assert!(t.take_delta().is_empty());
}

#[test]
fn an_update_reverted_before_the_sync_yields_an_empty_delta() {
    let mut t = tracker();
    t.apply(&service("web", "10.96.0.10", &[("http", 80, "TCP")]));
    t.take_delta();
    t.apply(&service("web", "10.96.0.10", &[("http", 81, "TCP")]));
    assert!(t.has_pending());
    t.apply(&service("web", "10.96.0.10", &[("http", 80, "TCP")]));
    assert!(!t.has_pending());
    assert!(t.take_delta().is_empty());
}

#[test]
fn deleting_a_service_reports_its_ports_deleted_and_udp_cluster_ips() {
    let mut t = tracker();
    let svc = service(
        "dns",
        "10.96.0.53",
        &[("dns", 53, "UDP"), ("dns-tcp", 53, "TCP")],
    );
    t.apply(&svc);
    t.take_delta();
    t.delete(&svc);
    let delta = t.take_delta();
    assert!(delta.changed.is_empty());
    assert_eq!(
        delta.deleted,
        names([
            spn("dns", "dns", Protocol::Udp),
            spn("dns", "dns-tcp", Protocol::Tcp)
        ])
    );
    let ip: IpAddr = "10.96.0.53".parse().expect("ip");
    assert_eq!(delta.deleted_udp_cluster_ips, BTreeSet::from([ip]));
    assert!(t.state().services.is_empty());
}

#[test]
fn removing_one_port_of_a_service_deletes_only_that_port() {
    let mut t = tracker();
    t.apply(&service(
        "web",
        "10.96.0.10",
        &[("http", 80, "TCP"), ("https", 443, "TCP")],
    ));
    t.take_delta();
    t.apply(&service("web", "10.96.0.10", &[("https", 443, "TCP")]));
    let delta = t.take_delta();
    assert_eq!(delta.deleted, names([spn("web", "http", Protocol::Tcp)]));
    assert!(delta.changed.is_empty());
    assert!(delta.deleted_udp_cluster_ips.is_empty());
}

#[test]
fn adding_then_deleting_between_syncs_yields_an_empty_delta() {
    let mut t = tracker();
    let svc = service("web", "10.96.0.10", &[("http", 80, "TCP")]);
    t.apply(&svc);
    t.delete(&svc);
    assert!(t.take_delta().is_empty());
}

#[test]
fn a_re_added_service_is_reported_as_changed_again() {
    let mut t = tracker();
    let svc = service("web", "10.96.0.10", &[("http", 80, "TCP")]);
    t.apply(&svc);
    t.take_delta();
    t.delete(&svc);
    assert_eq!(t.take_delta().deleted.len(), 1);
    t.apply(&svc);
    let delta = t.take_delta();
    assert_eq!(delta.changed, names([spn("web", "http", Protocol::Tcp)]));
    assert!(delta.deleted.is_empty());
}

#[test]
fn endpoints_of_several_slices_are_merged_per_service_port() {
    let mut t = tracker();
    t.apply(&service("web", "10.96.0.10", &[("http", 80, "TCP")]));
    t.apply(&slice(
        "web-1",
        "web",
        ("http", 8080, "TCP"),
        &[("10.0.0.2", "node-b", true)],
    ));
    t.apply(&slice(
        "web-2",
        "web",
        ("http", 8080, "TCP"),
        &[("10.0.0.1", NODE, true)],
    ));
    let delta = t.take_delta();
    let name = spn("web", "http", Protocol::Tcp);
    assert_eq!(delta.changed, names([name.clone()]));
    assert_eq!(
        endpoint_addrs(&t, &name),
        vec![addr("10.0.0.1:8080"), addr("10.0.0.2:8080")]
    );
    let local: Vec<bool> = t
        .state()
        .endpoints_of(&name)
        .iter()
        .map(|e| e.is_local)
        .collect();
    assert_eq!(local, vec![true, false]);
}

#[test]
fn an_endpoint_listed_by_two_slices_counts_once_and_local_wins() {
    let mut t = tracker();
    t.apply(&service("web", "10.96.0.10", &[("http", 80, "TCP")]));
    t.apply(&slice(
        "web-1",
        "web",
        ("http", 8080, "TCP"),
        &[("10.0.0.1", "node-b", true)],
    ));
    t.apply(&slice(
        "web-2",
        "web",
        ("http", 8080, "TCP"),
        &[("10.0.0.1", NODE, true)],
    ));
    t.take_delta();
    let name = spn("web", "http", Protocol::Tcp);
    let eps = t.state().endpoints_of(&name);
    assert_eq!(eps.len(), 1);
    assert!(
        eps[0].is_local,
        "the local listing of a duplicated endpoint wins"
    );
    // Deleting one of the two slices keeps the endpoint.
    t.delete(&slice("web-2", "web", ("http", 8080, "TCP"), &[]));
    let delta = t.take_delta();
    assert_eq!(endpoint_addrs(&t, &name), vec![addr("10.0.0.1:8080")]);
    assert_eq!(delta.changed, names([name.clone()]), "locality changed");
    assert!(!t.state().endpoints_of(&name)[0].is_local);
}

#[test]
fn endpoint_changes_report_the_service_port_as_changed() {
    let mut t = tracker();
    t.apply(&service("web", "10.96.0.10", &[("http", 80, "TCP")]));
    t.apply(&service("db", "10.96.0.11", &[("sql", 5432, "TCP")]));
    t.apply(&slice(
        "web-1",
        "web",
        ("http", 8080, "TCP"),
        &[("10.0.0.1", "node-b", true)],
    ));
    t.take_delta();
    t.apply(&slice(
        "web-1",
        "web",
        ("http", 8080, "TCP"),
        &[("10.0.0.1", "node-b", true), ("10.0.0.2", "node-b", true)],
    ));
    let delta = t.take_delta();
    assert_eq!(delta.changed, names([spn("web", "http", Protocol::Tcp)]));
    assert!(
        delta.stale_endpoints.is_empty(),
        "TCP endpoints never go stale"
    );
}

#[test]
fn endpoints_without_a_service_are_kept_but_not_reported() {
    let mut t = tracker();
    t.apply(&slice(
        "web-1",
        "web",
        ("http", 8080, "TCP"),
        &[("10.0.0.1", "node-b", true)],
    ));
    let delta = t.take_delta();
    assert!(delta.changed.is_empty());
    let name = spn("web", "http", Protocol::Tcp);
    assert_eq!(endpoint_addrs(&t, &name), vec![addr("10.0.0.1:8080")]);
    // When the service arrives, the port is reported with its endpoints already known.
    t.apply(&service("web", "10.96.0.10", &[("http", 80, "TCP")]));
    assert_eq!(t.take_delta().changed, names([name]));
}

#[test]
fn a_slice_moving_to_another_service_leaves_the_first_one() {
    let mut t = tracker();
    t.apply(&service("a", "10.96.0.10", &[("http", 80, "TCP")]));
    t.apply(&service("b", "10.96.0.11", &[("http", 80, "TCP")]));
    t.apply(&slice(
        "s-1",
        "a",
        ("http", 8080, "TCP"),
        &[("10.0.0.1", "node-b", true)],
    ));
    t.take_delta();
    t.apply(&slice(
        "s-1",
        "b",
        ("http", 8080, "TCP"),
        &[("10.0.0.1", "node-b", true)],
    ));
    let delta = t.take_delta();
    let (a, b) = (
        spn("a", "http", Protocol::Tcp),
        spn("b", "http", Protocol::Tcp),
    );
    assert_eq!(delta.changed, names([a.clone(), b.clone()]));
    assert!(endpoint_addrs(&t, &a).is_empty());
    assert_eq!(endpoint_addrs(&t, &b), vec![addr("10.0.0.1:8080")]);
}

#[test]
fn a_removed_udp_endpoint_is_reported_stale() {
    let mut t = tracker();
    t.apply(&service("dns", "10.96.0.53", &[("dns", 53, "UDP")]));
    t.apply(&slice(
        "dns-1",
        "dns",
        ("dns", 5353, "UDP"),
        &[("10.0.0.1", "node-b", true), ("10.0.0.2", "node-b", true)],
    ));
    t.take_delta();
    t.apply(&slice(
        "dns-1",
        "dns",
        ("dns", 5353, "UDP"),
        &[("10.0.0.2", "node-b", true)],
    ));
    let delta = t.take_delta();
    let name = spn("dns", "dns", Protocol::Udp);
    assert_eq!(
        delta.stale_endpoints,
        BTreeSet::from([StaleEndpoint {
            service_port: name.clone(),
            addr: addr("10.0.0.1:5353")
        }])
    );
    assert!(delta.newly_active.is_empty());
}

#[test]
fn a_udp_endpoint_that_stops_serving_is_reported_stale() {
    let mut t = tracker();
    t.apply(&service("dns", "10.96.0.53", &[("dns", 53, "UDP")]));
    t.apply(&slice(
        "dns-1",
        "dns",
        ("dns", 5353, "UDP"),
        &[("10.0.0.1", "node-b", true)],
    ));
    t.take_delta();
    t.apply(&slice(
        "dns-1",
        "dns",
        ("dns", 5353, "UDP"),
        &[("10.0.0.1", "node-b", false)],
    ));
    let delta = t.take_delta();
    assert_eq!(delta.stale_endpoints.len(), 1);
    assert_eq!(delta.changed, names([spn("dns", "dns", Protocol::Udp)]));
}

#[test]
fn a_sctp_endpoint_removed_with_its_slice_is_reported_stale() {
    let mut t = tracker();
    let s = slice(
        "sig-1",
        "sig",
        ("sig", 3868, "SCTP"),
        &[("10.0.0.7", "node-b", true)],
    );
    t.apply(&service("sig", "10.96.0.70", &[("sig", 3868, "SCTP")]));
    t.apply(&s);
    t.take_delta();
    t.delete(&s);
    let delta = t.take_delta();
    assert_eq!(
        delta
            .stale_endpoints
            .iter()
            .map(|s| s.addr)
            .collect::<Vec<_>>(),
        vec![addr("10.0.0.7:3868")]
    );
}

#[test]
fn a_udp_port_gaining_its_first_serving_endpoint_is_newly_active() {
    let mut t = tracker();
    t.apply(&service("dns", "10.96.0.53", &[("dns", 53, "UDP")]));
    t.take_delta();
    t.apply(&slice(
        "dns-1",
        "dns",
        ("dns", 5353, "UDP"),
        &[("10.0.0.1", "node-b", true)],
    ));
    let delta = t.take_delta();
    assert_eq!(
        delta.newly_active,
        names([spn("dns", "dns", Protocol::Udp)])
    );
    assert!(delta.stale_endpoints.is_empty());
}

#[test]
fn a_non_serving_udp_endpoint_removed_is_not_stale() {
    let mut t = tracker();
    t.apply(&service("dns", "10.96.0.53", &[("dns", 53, "UDP")]));
    t.apply(&slice(
        "dns-1",
        "dns",
        ("dns", 5353, "UDP"),
        &[("10.0.0.1", "node-b", false)],
    ));
    t.take_delta();
    t.apply(&slice("dns-1", "dns", ("dns", 5353, "UDP"), &[]));
    let delta = t.take_delta();
    assert!(
        delta.stale_endpoints.is_empty(),
        "no traffic was ever sent to it"
    );
}

#[test]
fn reset_deletes_what_the_new_list_lacks_and_keeps_the_rest() {
    let mut t = tracker();
    let web = service("web", "10.96.0.10", &[("http", 80, "TCP")]);
    let db = service("db", "10.96.0.11", &[("sql", 5432, "TCP")]);
    let web_eps = slice(
        "web-1",
        "web",
        ("http", 8080, "TCP"),
        &[("10.0.0.1", "node-b", true)],
    );
    t.reset(&[web.clone(), db, web_eps.clone()]);
    assert_eq!(t.take_delta().changed.len(), 2);
    t.reset(&[web, web_eps]);
    let delta = t.take_delta();
    assert_eq!(delta.deleted, names([spn("db", "sql", Protocol::Tcp)]));
    assert!(delta.changed.is_empty());
    assert_eq!(t.state().endpoints.len(), 1);
    t.reset(&[]);
    let delta = t.take_delta();
    assert_eq!(delta.deleted, names([spn("web", "http", Protocol::Tcp)]));
    assert!(t.state().endpoints.is_empty() && t.state().services.is_empty());
}

fn node(name: &str, zone: &str, ip: &str) -> KubeObject {
    KubeObject::from(from_json::<Node>(json!({
        "metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": zone}},
        "status": {"addresses": [{"type": "InternalIP", "address": ip}]}
    })))
}

#[test]
fn a_change_of_our_node_marks_every_service_port_changed() {
    let mut t = tracker();
    t.apply(&service("web", "10.96.0.10", &[("http", 80, "TCP")]));
    t.apply(&service("db", "10.96.0.11", &[("sql", 5432, "TCP")]));
    t.take_delta();
    t.apply(&node(NODE, "zone-a", "192.168.0.2"));
    let delta = t.take_delta();
    assert!(delta.node_changed);
    assert_eq!(delta.changed.len(), 2);
    assert_eq!(t.state().node.zone(), Some("zone-a"));
    assert_eq!(
        t.state().node.ips,
        vec!["192.168.0.2".parse::<IpAddr>().expect("ip")]
    );
    // The same node again, and another node, change nothing.
    t.apply(&node(NODE, "zone-a", "192.168.0.2"));
    t.apply(&node("node-b", "zone-b", "192.168.0.3"));
    assert!(t.take_delta().is_empty());
}

#[test]
fn deleting_our_node_keeps_what_was_known_and_marks_it_deleting() {
    let mut t = tracker();
    t.apply(&service("web", "10.96.0.10", &[("http", 80, "TCP")]));
    let ours = node(NODE, "zone-a", "192.168.0.2");
    t.apply(&ours);
    t.take_delta();
    assert!(!t.state().node.deleting);
    // Another node's deletion changes nothing; ours keeps the zone and IPs, marked deleting.
    t.delete(&node("node-b", "zone-b", "192.168.0.3"));
    assert!(t.take_delta().is_empty());
    t.delete(&ours);
    let delta = t.take_delta();
    assert!(delta.node_changed);
    let known = &t.state().node;
    assert!(known.deleting);
    assert_eq!(known.zone(), Some("zone-a"));
    assert_eq!(
        known.ips,
        vec!["192.168.0.2".parse::<IpAddr>().expect("ip")]
    );
    // A relist without it keeps it deleting; its return clears the mark.
    t.begin_relist(ObjectKind::Node);
    t.end_relist(ObjectKind::Node);
    assert!(t.take_delta().is_empty());
    t.apply(&ours);
    t.take_delta();
    assert!(!t.state().node.deleting);
}

#[test]
fn configured_node_ips_win_over_the_node_object() {
    let ip: IpAddr = "192.168.0.9".parse().expect("ip");
    let mut t = ChangeTracker::new(NodeInfo {
        ips: vec![ip],
        ..NodeInfo::new(NODE)
    });
    t.apply(&node(NODE, "zone-a", "192.168.0.2"));
    t.take_delta();
    assert_eq!(t.state().node.ips, vec![ip]);
    assert_eq!(t.state().node.zone(), Some("zone-a"));
}

#[test]
fn delta_merge_keeps_the_latest_verdict_per_port() {
    let (a, b) = (spn("a", "p", Protocol::Tcp), spn("b", "p", Protocol::Tcp));
    let mut first = Delta {
        changed: names([a.clone()]),
        deleted: names([b.clone()]),
        ..Delta::default()
    };
    first.merge(Delta {
        changed: names([b.clone()]),
        deleted: names([a.clone()]),
        node_changed: true,
        ..Delta::default()
    });
    assert_eq!(first.changed, names([b]));
    assert_eq!(first.deleted, names([a]));
    assert!(first.node_changed);
}
