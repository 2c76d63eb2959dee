//! kube-rs's `watcher` against the fake: initial list (paged and streaming), live changes,
//! relist after 410, resumption after dropped connections.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::runtime::watcher;
use testkit::fake_api::{FakeApi, Kind, Options, Pause};

use super::{Mirror, UPSTREAM_SELECTOR, client, fake_api, node, ports, service};

fn expected(entries: &[(&str, i32)]) -> BTreeMap<String, i32> {
    entries.iter().map(|(k, p)| (k.to_string(), *p)).collect()
}

#[tokio::test]
async fn watcher_lists_in_pages_then_follows_changes() {
    let api = fake_api();
    for i in 0..7 {
        api.create(&service("ns", &format!("s{i}"), 80, &[]))
            .expect("create");
    }
    let config = watcher::Config::default()
        .page_size(3)
        .labels(UPSTREAM_SELECTOR);
    let mut mirror = Mirror::start(Api::<Service>::all(client(&api)), config);
    mirror
        .wait_for("the initial list", |m| m.init_dones == 1)
        .await;
    assert_eq!(mirror.objects.len(), 7);
    assert_eq!(
        api.requests(Kind::Service).pages,
        3,
        "7 objects in pages of 3"
    );
    api.update(&service("ns", "s0", 81, &[])).expect("update");
    api.delete::<Service>("ns", "s1").expect("delete");
    api.create(&service("ns", "new", 82, &[])).expect("create");
    api.create(&service(
        "ns",
        "headless",
        83,
        &[("service.kubernetes.io/headless", "")],
    ))
    .expect("create");
    mirror
        .wait_for("three live events", |m| m.live_events == 3)
        .await;
    assert_eq!(ports(&mirror).get("ns/s0"), Some(&81));
    assert!(!mirror.objects.contains_key("ns/s1"));
    assert!(mirror.objects.contains_key("ns/new"));
    assert!(
        !mirror.objects.contains_key("ns/headless"),
        "filtered server-side"
    );
}

#[tokio::test]
async fn compaction_during_an_outage_makes_the_watcher_relist() {
    let api = fake_api();
    api.create(&service("ns", "a", 80, &[])).expect("create");
    api.create(&service("ns", "b", 80, &[])).expect("create");
    let mut mirror = Mirror::start(
        Api::<Service>::all(client(&api)),
        watcher::Config::default(),
    );
    mirror
        .wait_for("the initial list", |m| m.init_dones == 1)
        .await;
    // Cut the watch and hold the reconnection while the cluster moves on and etcd compacts.
    api.pause(Pause::Hang);
    api.drop_watches();
    api.delete::<Service>("ns", "a").expect("delete");
    api.update(&service("ns", "b", 81, &[])).expect("update");
    api.create(&service("ns", "c", 82, &[])).expect("create");
    api.compact_all();
    api.unpause();
    // The resumed watch gets 410 -> a fresh list: Init, InitApply..., InitDone again.
    mirror.wait_for("the relist", |m| m.init_dones == 2).await;
    assert_eq!(mirror.inits, 2);
    assert!(
        mirror
            .errors
            .iter()
            .any(|e| e.contains("410") || e.contains("Expired")),
        "{:?}",
        mirror.errors
    );
    assert_eq!(
        ports(&mirror),
        expected(&[("ns/b", 81), ("ns/c", 82)]),
        "a deleted meanwhile"
    );
    assert_eq!(api.requests(Kind::Service).lists, 2);
    // And it follows on from the relist.
    api.create(&service("ns", "d", 83, &[])).expect("create");
    mirror
        .wait_for("d", |m| m.objects.contains_key("ns/d"))
        .await;
}

#[tokio::test]
async fn dropped_watch_connections_resume_without_losing_or_repeating_a_change() {
    let api = fake_api();
    api.create(&service("ns", "a", 80, &[])).expect("create");
    let mut mirror = Mirror::start(
        Api::<Service>::all(client(&api)),
        watcher::Config::default(),
    );
    mirror
        .wait_for("the initial list", |m| m.init_dones == 1)
        .await;
    // kube-rs sends the watch request after InitDone: have it open before cutting it.
    super::eventually("the first watch", || {
        api.requests(Kind::Service).watches == 1
    })
    .await;
    for round in 1..=5 {
        api.pause(Pause::Hang);
        api.drop_watches();
        // Changes made while the watcher is cut off come from the log when it resumes.
        api.update(&service("ns", "a", 80 + round, &[]))
            .expect("update");
        api.create(&service("ns", &format!("r{round}"), 80, &[]))
            .expect("create");
        api.unpause();
        let want = round as usize * 2;
        mirror
            .wait_for("the round's changes", |m| m.live_events >= want)
            .await;
        assert_eq!(mirror.live_events, want, "no change repeated");
    }
    assert_eq!(mirror.objects.len(), 6);
    assert_eq!(ports(&mirror).get("ns/a"), Some(&85));
    assert_eq!(
        mirror.inits, 1,
        "resumed from the last version, never relisted"
    );
    assert_eq!(api.requests(Kind::Service).lists, 1);
    let requests = api.requests(Kind::Service);
    assert!(requests.watches >= 6, "{requests:?} {:?}", mirror.errors);
}

#[tokio::test]
async fn streaming_list_ends_with_the_initial_events_bookmark() {
    let api = fake_api();
    for name in ["a", "b", "c"] {
        api.create(&service("ns", name, 80, &[])).expect("create");
    }
    let config = watcher::Config::default().streaming_lists();
    let mut mirror = Mirror::start(Api::<Service>::all(client(&api)), config);
    mirror
        .wait_for("the streamed initial list", |m| m.init_dones == 1)
        .await;
    assert_eq!(mirror.objects.len(), 3);
    assert_eq!(
        api.requests(Kind::Service).lists,
        0,
        "no list request at all"
    );
    api.delete::<Service>("ns", "b").expect("delete");
    mirror
        .wait_for("the deletion", |m| m.objects.len() == 2)
        .await;
}

#[tokio::test]
async fn a_server_without_streaming_lists_refuses_them() {
    let api = FakeApi::start_with(Options {
        streaming_lists: false,
        ..Options::default()
    })
    .expect("start");
    let config = watcher::Config::default().streaming_lists();
    let mut mirror = Mirror::start(Api::<Service>::all(client(&api)), config);
    mirror.wait_for("an error", |m| !m.errors.is_empty()).await;
    assert!(
        mirror.errors[0].contains("422") || mirror.errors[0].contains("WatchList"),
        "{:?}",
        mirror.errors
    );
    assert_eq!(mirror.init_dones, 0);
}

#[tokio::test]
async fn own_node_by_field_selector_including_its_deletion() {
    let api = fake_api();
    api.create(&node("node-a")).expect("create");
    api.create(&node("node-b")).expect("create");
    let config = watcher::Config::default().fields("metadata.name=node-a");
    let mut mirror = Mirror::start(Api::<Node>::all(client(&api)), config);
    mirror
        .wait_for("the initial list", |m| m.init_dones == 1)
        .await;
    assert_eq!(mirror.objects.keys().collect::<Vec<_>>(), ["/node-a"]);
    api.delete::<Node>("", "node-b").expect("delete");
    api.delete::<Node>("", "node-a").expect("delete");
    mirror
        .wait_for("node-a's deletion", |m| m.objects.is_empty())
        .await;
    assert_eq!(mirror.live_events, 1, "node-b was never seen");
}

/// An IPv4 EndpointSlice of Service `svc` with one endpoint per address.
fn slice(ns: &str, name: &str, svc: &str, addresses: &[&str]) -> EndpointSlice {
    EndpointSlice {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            labels: Some([("kubernetes.io/service-name".to_owned(), svc.to_owned())].into()),
            ..ObjectMeta::default()
        },
        address_type: "IPv4".into(),
        endpoints: Some(
            addresses
                .iter()
                .map(|a| Endpoint {
                    addresses: vec![a.to_string()],
                    ..Endpoint::default()
                })
                .collect(),
        ),
        ports: None,
    }
}

#[tokio::test]
async fn endpoint_slices_in_a_namespace_follow_their_changes() {
    let api = fake_api();
    api.create(&slice("shop", "web-1", "web", &["10.0.0.1"]))
        .expect("create");
    api.create(&slice("other", "db-1", "db", &["10.0.0.9"]))
        .expect("create");
    let slices: Api<EndpointSlice> = Api::namespaced(client(&api), "shop");
    let config = watcher::Config::default().labels(UPSTREAM_SELECTOR);
    let mut mirror = Mirror::start(slices, config);
    mirror
        .wait_for("the initial list", |m| m.init_dones == 1)
        .await;
    assert_eq!(mirror.objects.keys().collect::<Vec<_>>(), ["shop/web-1"]);
    api.update(&slice("shop", "web-1", "web", &["10.0.0.1", "10.0.0.2"]))
        .expect("update");
    api.create(&slice("shop", "web-2", "web", &["10.0.0.3"]))
        .expect("create");
    api.delete::<EndpointSlice>("other", "db-1")
        .expect("delete elsewhere");
    mirror
        .wait_for("two slices", |m| m.objects.len() == 2)
        .await;
    let addresses: Vec<String> = mirror.objects["shop/web-1"]
        .endpoints
        .iter()
        .flatten()
        .flat_map(|e| e.addresses.clone())
        .collect();
    assert_eq!(addresses, ["10.0.0.1", "10.0.0.2"]);
    assert_eq!(
        mirror.live_events, 2,
        "the other namespace's deletion is not seen"
    );
    assert_eq!(api.requests(Kind::EndpointSlice).lists, 1);
}
