//! The runner with a live source: per-kind relists, readiness over several kinds and the Node,
//! the published status, and the hook after each successful sync (paused clock, as in
//! `runner`).

use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use proxy_core::runner::{AfterSync, HookFuture, RunnerConfig, SourceEvent};
use proxy_core::state::{Delta, ProxyState};
use proxy_core::{Error, KubeObject, ObjectKind, SyncMode};

use crate::runner::{Harness, ms, port, secs, service};

/// An EndpointSlice of service `default/<svc>` with one ready endpoint `ip`:8080.
fn slice(svc: &str, ip: &str) -> KubeObject {
    let slice: EndpointSlice = serde_json::from_value(serde_json::json!({
        "metadata": {"name": format!("{svc}-1"), "namespace": "default",
                     "labels": {"kubernetes.io/service-name": svc}},
        "addressType": "IPv4",
        "ports": [{"port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": [ip], "conditions": {"ready": true}}]
    }))
    .expect("valid EndpointSlice");
    slice.into()
}

/// The Node `node-1` with a zone label.
fn node(zone: &str) -> KubeObject {
    let node: Node = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "node-1", "labels": {"topology.kubernetes.io/zone": zone}}
    }))
    .expect("valid Node");
    node.into()
}

fn resync(kind: ObjectKind, objects: Vec<KubeObject>) -> SourceEvent {
    SourceEvent::Resync { kind, objects }
}

/// How many endpoints service `name` has in the last synced state.
fn endpoints(h: &Harness, name: &str) -> usize {
    h.fake
        .last_state()
        .map_or(0, |s| s.endpoints_of(&port(name)).len())
}

#[tokio::test(start_paused = true)]
async fn the_first_sync_waits_for_services_and_endpoint_slices() {
    let h = Harness::start(RunnerConfig::default());
    h.send(resync(
        ObjectKind::Service,
        vec![service("a", "10.96.0.10")],
    ))
    .await;
    h.until(secs(5)).await;
    assert!(h.times().is_empty(), "no sync with only Services listed");
    assert!(!h.status.borrow().ready);
    h.send(resync(
        ObjectKind::EndpointSlice,
        vec![slice("a", "10.0.0.1")],
    ))
    .await;
    h.until(secs(5) + ms(500)).await;
    assert_eq!(h.times(), [secs(5)]);
    assert_eq!(h.modes(), [SyncMode::Full]);
    assert_eq!(endpoints(&h, "a"), 1);
    assert!(h.status.borrow().ready);
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_relist_of_services_alone_does_not_disturb_endpoints() {
    let h = Harness::start(RunnerConfig::default());
    h.send(resync(
        ObjectKind::Service,
        vec![service("a", "10.96.0.10"), service("b", "10.96.0.11")],
    ))
    .await;
    h.send(resync(
        ObjectKind::EndpointSlice,
        vec![slice("a", "10.0.0.1"), slice("b", "10.0.0.2")],
    ))
    .await;
    h.until(ms(500)).await;
    // The Service watch expired and relisted: `b` was deleted meanwhile.
    h.send(resync(
        ObjectKind::Service,
        vec![service("a", "10.96.0.10")],
    ))
    .await;
    h.until(secs(2)).await;
    let state = h.fake.last_state().expect("synced");
    assert!(state.services.contains_key(&port("a")));
    assert!(
        !state.services.contains_key(&port("b")),
        "the vanished service is deleted"
    );
    assert_eq!(endpoints(&h, "a"), 1, "the slices are untouched");
    assert_eq!(h.modes(), [SyncMode::Full, SyncMode::Partial]);
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_first_sync_waits_a_bounded_time_for_the_node() {
    let h = Harness::start_with(RunnerConfig::default(), |r| {
        r.with_initial_lists(
            [ObjectKind::Service, ObjectKind::EndpointSlice],
            Some(secs(10)),
        )
    });
    h.send(resync(ObjectKind::Service, vec![])).await;
    h.send(resync(ObjectKind::EndpointSlice, vec![])).await;
    h.until(secs(9)).await;
    assert!(h.times().is_empty(), "waiting for the Node");
    h.until(secs(11)).await;
    assert_eq!(h.times(), [secs(10)], "synced without it after the wait");

    let h = Harness::start_with(RunnerConfig::default(), |r| {
        r.with_initial_lists(
            [ObjectKind::Service, ObjectKind::EndpointSlice],
            Some(secs(10)),
        )
    });
    h.send(resync(ObjectKind::Service, vec![])).await;
    h.send(resync(ObjectKind::EndpointSlice, vec![])).await;
    h.until(secs(3)).await;
    h.send(resync(ObjectKind::Node, vec![node("zone-a")])).await;
    h.until(secs(4)).await;
    assert_eq!(h.times(), [secs(3)], "synced as soon as the Node came");
    let zone = h
        .fake
        .last_state()
        .and_then(|s| s.node.zone().map(str::to_owned));
    assert_eq!(zone.as_deref(), Some("zone-a"));
}

#[tokio::test(start_paused = true)]
async fn the_status_tracks_pending_changes_successes_and_failures() {
    let h = Harness::start(RunnerConfig::default());
    h.reset(vec![service("a", "10.96.0.10")]).await;
    h.until(ms(500)).await;
    {
        let status = h.status.borrow();
        assert!(status.ready);
        assert_eq!(status.pending_since, None);
        assert_eq!(
            status.last_success.map(|s| (s.at - h.t0, s.mode)),
            Some((ms(0), SyncMode::Full))
        );
    }
    h.fake.fail_next(Error::retryable("fake", "busy"));
    h.send(SourceEvent::Apply(service("b", "10.96.0.11"))).await;
    h.until(ms(600)).await;
    assert_eq!(
        h.status.borrow().pending_since.map(|t| t - h.t0),
        Some(ms(500))
    );
    h.until(secs(1) + ms(500)).await;
    {
        let status = h.status.borrow();
        assert_eq!(status.consecutive_failures, 1);
        assert_eq!(
            status.pending_since.map(|t| t - h.t0),
            Some(ms(500)),
            "still owed"
        );
    }
    h.until(secs(3)).await;
    let status = h.status.borrow().clone();
    assert_eq!(status.consecutive_failures, 0);
    assert_eq!(status.pending_since, None);
    assert_eq!(status.last_success.map(|s| s.at - h.t0), Some(secs(2)));
}

#[tokio::test(start_paused = true)]
async fn each_sync_reports_the_latency_of_its_oldest_change() {
    let h = Harness::start(RunnerConfig::default());
    h.fake.set_sync_time(ms(20));
    // The initial list arrives at 0 and is synced from 0 to 20 ms.
    h.reset(vec![service("a", "10.96.0.10")]).await;
    // Two changes wait for the minimum period: synced together from 1000 to 1020 ms.
    h.until(ms(300)).await;
    h.send(SourceEvent::Apply(service("b", "10.96.0.11"))).await;
    h.until(ms(700)).await;
    h.send(SourceEvent::Apply(service("c", "10.96.0.12"))).await;
    // A change at 2 s whose sync fails: the (full) retry from 3020 to 3040 ms programs it.
    h.until(ms(2000)).await;
    h.fake.fail_next(Error::retryable("fake", "busy"));
    h.send(SourceEvent::Apply(service("d", "10.96.0.13"))).await;
    // Changes that cancel out: nothing is owed, and the next change's clock starts afresh.
    h.until(secs(5)).await;
    h.send(SourceEvent::Apply(service("e", "10.96.0.14"))).await;
    h.send(SourceEvent::Delete(service("e", "10.96.0.14")))
        .await;
    h.until(secs(6)).await;
    assert_eq!(h.status.borrow().pending_since, None, "nothing owed");
    h.send(SourceEvent::Apply(service("f", "10.96.0.15"))).await;
    // The periodic full sync at 33.02 s programs no change.
    h.until(secs(34)).await;
    let seen: Vec<_> = h
        .outcomes()
        .iter()
        .map(|o| (o.started - h.t0, o.latency))
        .collect();
    assert_eq!(
        seen,
        [
            (ms(0), Some(ms(20))),
            (ms(1000), Some(ms(720))),
            (ms(2000), None),
            (ms(3020), Some(ms(1040))),
            (ms(6000), Some(ms(20))),
            (ms(33_020), None),
        ]
    );
    h.shutdown().await;
}

/// Records every delta it is given.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Delta>>>);

impl AfterSync for Recorder {
    fn after_sync<'a>(&'a mut self, _state: &'a ProxyState, delta: &'a Delta) -> HookFuture<'a> {
        let seen = Arc::clone(&self.0);
        let delta = delta.clone();
        Box::pin(async move {
            if let Ok(mut seen) = seen.lock() {
                seen.push(delta);
            }
        })
    }
}

#[tokio::test(start_paused = true)]
async fn the_hook_sees_each_successful_sync_with_the_merged_delta() {
    let recorder = Recorder::default();
    let hook = recorder.clone();
    let h = Harness::start_with(RunnerConfig::default(), move |r| r.with_after_sync(hook));
    h.reset(vec![service("a", "10.96.0.10")]).await;
    h.until(ms(500)).await;
    h.fake.fail_next(Error::retryable("fake", "busy"));
    h.send(SourceEvent::Apply(service("b", "10.96.0.11"))).await;
    h.until(secs(1) + ms(500)).await;
    assert_eq!(
        recorder.0.lock().map(|d| d.len()).unwrap_or(0),
        1,
        "not after the failure"
    );
    h.send(SourceEvent::Apply(service("c", "10.96.0.12"))).await;
    h.until(secs(3)).await;
    let deltas = recorder.0.lock().map(|d| d.clone()).unwrap_or_default();
    assert_eq!(deltas.len(), 2);
    assert!(deltas[1].changed.contains(&port("b")) && deltas[1].changed.contains(&port("c")));
    h.shutdown().await;
}

/// A datapath whose sync blocks its thread for a while, as a large iptables restore does.
struct Blocking;

#[async_trait::async_trait]
impl proxy_core::Datapath for Blocking {
    fn name(&self) -> &str {
        "blocking"
    }

    async fn sync(
        &mut self,
        _state: &ProxyState,
        _delta: &Delta,
        _mode: SyncMode,
    ) -> proxy_core::Result<proxy_core::SyncReport> {
        std::thread::sleep(std::time::Duration::from_millis(400));
        Ok(proxy_core::SyncReport::default())
    }

    async fn cleanup(&mut self) -> proxy_core::Result<()> {
        Ok(())
    }
}

#[test]
fn a_blocking_sync_does_not_stall_other_tasks() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let ticks = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&ticks);
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(ms(5)).await;
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let runner = proxy_core::runner::SyncRunner::new(
            Blocking,
            proxy_core::tracker::ChangeTracker::new(proxy_core::model::NodeInfo::new("n")),
            RunnerConfig::default(),
        );
        let mut status = runner.status();
        let task = tokio::spawn(runner.run(rx, std::future::pending()));
        tx.send(SourceEvent::Reset(vec![]))
            .await
            .expect("runner alive");
        // While the sync blocks, the ticker (and this task) keep running on the other worker.
        status.changed().await.expect("status");
        let before = ticks.load(std::sync::atomic::Ordering::Relaxed);
        tokio::time::sleep(ms(200)).await;
        let during = ticks.load(std::sync::atomic::Ordering::Relaxed) - before;
        assert!(
            during >= 5,
            "only {during} ticks while the datapath blocked"
        );
        status
            .wait_for(|s| s.last_success.is_some())
            .await
            .expect("status");
        drop(tx);
        task.await.expect("runner");
        ticker.abort();
    });
}

#[tokio::test(start_paused = true)]
async fn a_streamed_relist_deletes_only_what_it_did_not_see_and_only_at_its_end() {
    let h = Harness::start(RunnerConfig::default());
    h.send(resync(
        ObjectKind::Service,
        vec![service("a", "10.96.0.10"), service("b", "10.96.0.11")],
    ))
    .await;
    h.send(resync(ObjectKind::EndpointSlice, vec![])).await;
    h.until(ms(500)).await;
    h.send(SourceEvent::RelistBegin(ObjectKind::Service)).await;
    h.send(SourceEvent::Apply(service("a", "10.96.0.10"))).await;
    h.until(secs(2)).await;
    let state = h.fake.last_state().expect("synced");
    assert!(
        state.services.contains_key(&port("b")),
        "nothing deleted mid-relist"
    );
    h.send(SourceEvent::Apply(service("c", "10.96.0.12"))).await;
    h.send(SourceEvent::RelistEnd(ObjectKind::Service)).await;
    h.until(secs(4)).await;
    let state = h.fake.last_state().expect("synced");
    let names: Vec<&str> = state
        .services
        .keys()
        .map(|k| k.service.name.as_str())
        .collect();
    assert_eq!(names, ["a", "c"]);
    h.shutdown().await;
}
