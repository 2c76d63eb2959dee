//! The API source against the fake API server, without a datapath: how initial lists are
//! fetched (streamed where the server supports it, paginated where not) and what the runner
//! is sent.

use std::collections::BTreeSet;
use std::time::Duration;

use proxy_core::runner::SourceEvent;
use proxy_core::{KubeObject, ObjectKind, manifest};
use svcproxy::source::KubeSource;
use svcproxy::source::kube::client;
use testkit::e2e::manifest::{Ep, Svc, render};
use testkit::fake_api::{FakeApi, Kind, Options};
use tokio::sync::mpsc;

/// The services' names.
const NAMES: [&str; 5] = ["svc-a", "svc-b", "svc-c", "svc-d", "svc-e"];

/// A fake API server holding five services with one endpoint each and the Node `node-a`.
fn server(streaming_lists: bool) -> FakeApi {
    let api = FakeApi::start_with(Options {
        streaming_lists,
        ..Options::default()
    })
    .expect("fake API server");
    let services: Vec<Svc> = (0..NAMES.len())
        .map(|i| {
            let vip = format!("10.96.0.{}", i + 1).parse().expect("ip");
            Svc::new(NAMES[i], vip, "TCP", 80, 8080).endpoints([Ep {
                ip: format!("10.244.0.{}", i + 1).parse().expect("ip"),
                node: "node-a",
            }])
        })
        .collect();
    let (objects, errors) = manifest::parse(&render(&services));
    assert!(errors.is_empty(), "{errors:?}");
    for object in objects {
        match object {
            KubeObject::Service(s) => api.apply(s.as_ref()),
            KubeObject::EndpointSlice(s) => api.apply(s.as_ref()),
            KubeObject::Node(n) => api.apply(n.as_ref()),
        }
        .expect("apply");
    }
    api.apply_json(serde_json::json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "node-a"},
        "status": {"addresses": [{"type": "InternalIP", "address": "192.168.0.2"}]}
    }))
    .expect("node");
    api
}

/// Watches `api` until every kind's initial list is complete; returns the objects applied
/// per kind.
async fn initial_lists(api: &FakeApi) -> Vec<(ObjectKind, usize)> {
    let client = client(None, Some(&api.url())).await.expect("client");
    let (tx, mut rx) = mpsc::channel(1024);
    let task = tokio::spawn(KubeSource::new(client, "node-a").watch(tx));
    let (mut done, mut counts) = (BTreeSet::new(), Vec::new());
    let mut applied = std::collections::BTreeMap::new();
    while done.len() < 3 {
        let event = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("events within 20 s")
            .expect("the source runs");
        match event {
            SourceEvent::RelistBegin(kind) => drop(applied.insert(kind, 0)),
            SourceEvent::Apply(object) => *applied.entry(kind_of(&object)).or_insert(0) += 1,
            SourceEvent::RelistEnd(kind) => {
                done.insert(kind);
                counts.push((kind, applied.get(&kind).copied().unwrap_or(0)));
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
    task.abort();
    counts.sort();
    counts
}

/// The kind of `object`.
fn kind_of(object: &KubeObject) -> ObjectKind {
    match object {
        KubeObject::Service(_) => ObjectKind::Service,
        KubeObject::EndpointSlice(_) => ObjectKind::EndpointSlice,
        KubeObject::Node(_) => ObjectKind::Node,
    }
}

/// The objects each kind's initial list must hold.
fn expected(n: usize) -> Vec<(ObjectKind, usize)> {
    let mut want = vec![
        (ObjectKind::Service, n),
        (ObjectKind::EndpointSlice, n),
        (ObjectKind::Node, 1),
    ];
    want.sort();
    want
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_lists_are_streamed_where_the_server_supports_it() {
    let api = server(true);
    assert_eq!(initial_lists(&api).await, expected(5));
    for kind in [Kind::Service, Kind::EndpointSlice, Kind::Node] {
        let requests = api.requests(kind);
        assert_eq!(requests.lists, 0, "{kind:?} listed: {requests:?}");
        assert!(requests.watches >= 1, "{kind:?}: {requests:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_lists_are_paginated_where_the_server_refuses_streaming() {
    let api = server(false);
    assert_eq!(initial_lists(&api).await, expected(5));
    for kind in [Kind::Service, Kind::EndpointSlice, Kind::Node] {
        let requests = api.requests(kind);
        assert_eq!(requests.lists, 1, "{kind:?}: {requests:?}");
    }
}
