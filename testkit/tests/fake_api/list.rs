//! Lists through kube-rs: pagination over a consistent snapshot, selectors, expiry.

use k8s_openapi::api::core::v1::{Node, Service};
use kube::api::ListParams;
use kube::{Api, ResourceExt};

use super::{UPSTREAM_SELECTOR, client, fake_api, node, service};

#[tokio::test]
async fn list_pages_read_one_snapshot_and_expire_after_compaction() {
    let api = fake_api();
    for i in 0..25 {
        api.create(&service("shop", &format!("svc-{i:02}"), 80, &[]))
            .expect("create");
    }
    let services: Api<Service> = Api::all(client(&api));
    let first = services
        .list(&ListParams::default().limit(10))
        .await
        .expect("page 1");
    assert_eq!(first.items.len(), 10);
    assert_eq!(first.metadata.resource_version.as_deref(), Some("25"));
    let token = first.metadata.continue_.clone().expect("a continue token");
    // Changed between pages: the next pages still show the first page's snapshot.
    api.create(&service("shop", "svc-10a", 80, &[]))
        .expect("create");
    api.delete::<Service>("shop", "svc-20").expect("delete");
    let mut names: Vec<String> = first.items.iter().map(|s| s.name_any()).collect();
    let mut next = Some(token.clone());
    let mut pages = 1;
    while let Some(token) = next {
        let page = services
            .list(&ListParams::default().limit(10).continue_token(&token))
            .await
            .expect("next page");
        assert_eq!(page.metadata.resource_version.as_deref(), Some("25"));
        names.extend(page.items.iter().map(|s| s.name_any()));
        next = page.metadata.continue_.filter(|t| !t.is_empty());
        pages += 1;
    }
    let expected: Vec<String> = (0..25).map(|i| format!("svc-{i:02}")).collect();
    assert_eq!((names, pages), (expected, 3));
    // Once compacted past the snapshot, the token has expired: 410, a relist is needed.
    api.compact_all();
    let expired = services
        .list(&ListParams::default().limit(10).continue_token(&token))
        .await
        .expect_err("an expired token");
    assert!(
        matches!(&expired, kube::Error::Api(s) if s.code == 410 && s.reason == "Expired"),
        "{expired:?}"
    );
    let fresh = services
        .list(&ListParams::default())
        .await
        .expect("a new list");
    assert_eq!(fresh.items.len(), 25, "svc-10a added, svc-20 deleted");
    assert_eq!(api.requests(testkit::fake_api::Kind::Service).lists, 2);
}

#[tokio::test]
async fn upstream_label_selector_skips_other_proxies_and_headless_services() {
    let api = fake_api();
    api.create(&service("a", "plain", 80, &[("app", "web")]))
        .expect("create");
    api.create(&service(
        "a",
        "headless",
        80,
        &[("service.kubernetes.io/headless", "")],
    ))
    .expect("create");
    api.create(&service(
        "b",
        "other-proxy",
        80,
        &[("service.kubernetes.io/service-proxy-name", "x")],
    ))
    .expect("create");
    api.create(&service("b", "plain", 80, &[])).expect("create");
    let all: Api<Service> = Api::all(client(&api));
    let listed = all
        .list(&ListParams::default().labels(UPSTREAM_SELECTOR))
        .await
        .expect("list");
    let names: Vec<String> = listed
        .items
        .iter()
        .map(|s| format!("{}/{}", s.namespace().unwrap_or_default(), s.name_any()))
        .collect();
    assert_eq!(names, ["a/plain", "b/plain"]);
    let in_b: Api<Service> = Api::namespaced(client(&api), "b");
    let listed = in_b
        .list(&ListParams::default().labels("app notin (web)"))
        .await
        .expect("list");
    assert_eq!(
        listed.items.len(),
        2,
        "notin also matches objects without the label"
    );
    let bad = all
        .list(&ListParams::default().labels("app in web"))
        .await
        .expect_err("400");
    assert!(
        matches!(&bad, kube::Error::Api(s) if s.code == 400),
        "{bad:?}"
    );
}

#[tokio::test]
async fn nodes_by_field_selector_and_get() {
    let api = fake_api();
    for name in ["node-a", "node-b"] {
        api.create(&node(name)).expect("create");
    }
    let nodes: Api<Node> = Api::all(client(&api));
    let mine = nodes
        .list(&ListParams::default().fields("metadata.name=node-b"))
        .await
        .expect("list");
    assert_eq!(mine.items.len(), 1);
    assert_eq!(mine.items[0].name_any(), "node-b");
    let got = nodes.get("node-a").await.expect("get");
    assert_eq!(got.resource_version().as_deref(), Some("1"));
    let missing = nodes.get("node-z").await.expect_err("404");
    assert!(
        matches!(&missing, kube::Error::Api(s) if s.code == 404),
        "{missing:?}"
    );
}

#[tokio::test]
async fn exact_resource_version_lists_the_past() {
    let api = fake_api();
    api.create(&service("ns", "a", 80, &[])).expect("create");
    let rv = api.update(&service("ns", "a", 81, &[])).expect("update");
    api.update(&service("ns", "a", 82, &[])).expect("update");
    let services: Api<Service> = Api::namespaced(client(&api), "ns");
    let then = services
        .list(
            &ListParams::default()
                .at(&(rv).to_string())
                .matching(kube::api::VersionMatch::Exact),
        )
        .await
        .expect("exact list");
    assert_eq!(super::port_of(&then.items[0]), 81);
    api.compact_all();
    let gone = services
        .list(
            &ListParams::default()
                .at(&rv.to_string())
                .matching(kube::api::VersionMatch::Exact),
        )
        .await
        .expect_err("410");
    assert!(
        matches!(&gone, kube::Error::Api(s) if s.code == 410),
        "{gone:?}"
    );
}
