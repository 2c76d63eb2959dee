//! Raw watches through kube-rs's `Api::watch`: event types, order, selectors, bookmarks, 410.

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Service;
use kube::api::{WatchEvent, WatchParams};
use kube::{Api, ResourceExt};

use super::{PATIENCE, UPSTREAM_SELECTOR, client, fake_api, port_of, service};

/// The next event that is not a bookmark (or the bookmark itself if `bookmarks`).
async fn next<S>(stream: &mut S, bookmarks: bool) -> WatchEvent<Service>
where
    S: Stream<Item = kube::Result<WatchEvent<Service>>> + Unpin,
{
    loop {
        let event = tokio::time::timeout(PATIENCE, stream.next())
            .await
            .expect("an event in time")
            .expect("the stream goes on")
            .expect("a decodable event");
        if bookmarks || !matches!(event, WatchEvent::Bookmark(_)) {
            return event;
        }
    }
}

/// `(type, name, port, resourceVersion)` of an event.
fn describe(event: &WatchEvent<Service>) -> (&'static str, String, i32, String) {
    let (kind, svc) = match event {
        WatchEvent::Added(s) => ("ADDED", s),
        WatchEvent::Modified(s) => ("MODIFIED", s),
        WatchEvent::Deleted(s) => ("DELETED", s),
        other => panic!("unexpected {other:?}"),
    };
    (
        kind,
        svc.name_any(),
        port_of(svc),
        svc.resource_version().unwrap_or_default(),
    )
}

#[tokio::test]
async fn watch_reports_create_update_delete_in_order() {
    let api = fake_api();
    let rv = api
        .create(&service("ns", "before", 80, &[]))
        .expect("create");
    let services: Api<Service> = Api::namespaced(client(&api), "ns");
    let mut stream = services
        .watch(&WatchParams::default(), &rv.to_string())
        .await
        .expect("watch")
        .boxed();
    api.create(&service("ns", "web", 80, &[])).expect("create");
    api.create(&service("other-ns", "elsewhere", 80, &[]))
        .expect("create");
    api.update(&service("ns", "web", 8080, &[]))
        .expect("update");
    api.delete::<Service>("ns", "web").expect("delete");
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(describe(&next(&mut stream, false).await));
    }
    assert_eq!(
        seen,
        [
            ("ADDED", "web".into(), 80, "2".into()),
            ("MODIFIED", "web".into(), 8080, "4".into()),
            ("DELETED", "web".into(), 8080, "5".into()),
        ]
    );
}

#[tokio::test]
async fn watch_from_zero_starts_with_the_current_objects() {
    let api = fake_api();
    api.create(&service("ns", "a", 80, &[])).expect("create");
    api.create(&service("ns", "b", 80, &[])).expect("create");
    let services: Api<Service> = Api::all(client(&api));
    let mut stream = services
        .watch(&WatchParams::default(), "0")
        .await
        .expect("watch")
        .boxed();
    let first = [
        describe(&next(&mut stream, false).await),
        describe(&next(&mut stream, false).await),
    ];
    assert_eq!(
        first.map(|e| (e.0, e.1)),
        [("ADDED", "a".into()), ("ADDED", "b".into())]
    );
    api.create(&service("ns", "c", 80, &[])).expect("create");
    assert_eq!(describe(&next(&mut stream, false).await).1, "c");
}

#[tokio::test]
async fn selector_watch_turns_label_changes_into_added_and_deleted() {
    let api = fake_api();
    let rv = api.create(&service("ns", "web", 80, &[])).expect("create");
    let services: Api<Service> = Api::all(client(&api));
    let params = WatchParams::default().labels(UPSTREAM_SELECTOR);
    let mut stream = services
        .watch(&params, &rv.to_string())
        .await
        .expect("watch")
        .boxed();
    // Another proxy takes it over: it leaves the selection.
    let owned = [("service.kubernetes.io/service-proxy-name", "other")];
    let gone_at = api
        .update(&service("ns", "web", 81, &owned))
        .expect("update");
    api.update(&service("ns", "web", 82, &owned))
        .expect("update, unseen");
    api.update(&service("ns", "web", 83, &[])).expect("update");
    let deleted = describe(&next(&mut stream, false).await);
    // Its last selected content, at the version of the change that deselected it.
    assert_eq!(deleted, ("DELETED", "web".into(), 80, gone_at.to_string()));
    let back = describe(&next(&mut stream, false).await);
    assert_eq!((back.0, back.2), ("ADDED", 83));
}

#[tokio::test]
async fn bookmarks_arrive_and_carry_the_latest_version() {
    let api = fake_api();
    let rv = api.create(&service("ns", "a", 80, &[])).expect("create");
    let services: Api<Service> = Api::all(client(&api));
    let mut stream = services
        .watch(&WatchParams::default(), &rv.to_string())
        .await
        .expect("watch")
        .boxed();
    // A change in another kind moves the version without an event for this watch.
    let latest = api.create(&super::node("n")).expect("create");
    // Bookmarks come every 100 ms; one may predate the change.
    loop {
        match next(&mut stream, true).await {
            WatchEvent::Bookmark(b) if b.metadata.resource_version == latest.to_string() => break,
            WatchEvent::Bookmark(b) => assert_eq!(b.metadata.resource_version, rv.to_string()),
            other => panic!("expected a bookmark, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn watch_from_a_compacted_version_gets_a_410_error_event() {
    let api = fake_api();
    let rv = api.create(&service("ns", "a", 80, &[])).expect("create");
    api.update(&service("ns", "a", 81, &[])).expect("update");
    api.compact_all();
    let services: Api<Service> = Api::all(client(&api));
    let mut stream = services
        .watch(&WatchParams::default(), &rv.to_string())
        .await
        .expect("watch")
        .boxed();
    match next(&mut stream, false).await {
        WatchEvent::Error(status) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
        }
        other => panic!("expected a 410 ERROR, got {other:?}"),
    }
    let end = tokio::time::timeout(PATIENCE, stream.next())
        .await
        .expect("the end in time");
    assert!(end.is_none(), "the stream ends after the error");
}

#[tokio::test]
async fn watch_timeout_ends_the_stream_cleanly() {
    let api = fake_api();
    let services: Api<Service> = Api::all(client(&api));
    let params = WatchParams::default().timeout(1).disable_bookmarks();
    let started = tokio::time::Instant::now();
    let mut stream = services.watch(&params, "0").await.expect("watch").boxed();
    let end = tokio::time::timeout(PATIENCE, stream.next())
        .await
        .expect("the end in time");
    assert!(end.is_none(), "no error, just the end: {end:?}");
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
}
