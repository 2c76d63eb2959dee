//! Tests of `proxy_core::runner`.
//!
//! Every test runs on tokio's paused clock: time only moves when every task is idle, straight
//! to the next timer, so the runner's timers fire at exact instants and no test really sleeps.
//! Checks are made between timer instants (e.g. at +500 ms), never on one.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use proxy_core::model::{NodeInfo, Protocol, ServicePortName};
use proxy_core::runner::{RunnerConfig, RunnerStatus, SourceEvent, SyncOutcome, SyncRunner};
use proxy_core::tracker::ChangeTracker;
use proxy_core::{Datapath, Error, FakeDatapath, KubeObject, SyncMode};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};

/// `n` milliseconds.
pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `n` seconds.
pub(crate) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The defaults: 1 s minimum period, 30 s full resync, backoff 1 s .. 30 s.
fn default_config() -> RunnerConfig {
    RunnerConfig::default()
}

/// A ClusterIP Service `default/<name>` with one unnamed TCP port 80.
pub(crate) fn service(name: &str, cluster_ip: &str) -> KubeObject {
    let svc: Service = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": { "name": name, "namespace": "default" },
        "spec": {
            "type": "ClusterIP",
            "clusterIP": cluster_ip,
            "clusterIPs": [cluster_ip],
            "ports": [{ "port": 80, "protocol": "TCP" }],
        },
    }))
    .expect("valid Service");
    svc.into()
}

/// The service port of [`service`] `name`.
pub(crate) fn port(name: &str) -> ServicePortName {
    ServicePortName::new("default", name, "", Protocol::Tcp)
}

/// A runner on a [`FakeDatapath`], spawned, with handles to feed, observe and stop it.
pub(crate) struct Harness {
    /// Shares its record with the runner's datapath.
    pub(crate) fake: FakeDatapath,
    /// Feeds the runner; dropped to close the channel.
    tx: Option<mpsc::Sender<SourceEvent>>,
    /// Fires the shutdown future.
    stop: Option<oneshot::Sender<()>>,
    /// The runner's task; yields the datapath back.
    task: JoinHandle<FakeDatapath>,
    /// Every outcome the observer saw.
    outcomes: Arc<Mutex<Vec<SyncOutcome>>>,
    /// Time zero of the test.
    pub(crate) t0: Instant,
    /// The runner's published status.
    pub(crate) status: watch::Receiver<RunnerStatus>,
}

impl Harness {
    /// Spawns a runner with `config` at time zero.
    pub(crate) fn start(config: RunnerConfig) -> Self {
        Self::start_with(config, |runner| runner)
    }

    /// Spawns a runner with `config`, as `build` finishes it, at time zero.
    pub(crate) fn start_with(
        config: RunnerConfig,
        build: impl FnOnce(SyncRunner<FakeDatapath>) -> SyncRunner<FakeDatapath>,
    ) -> Self {
        let fake = FakeDatapath::new();
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&outcomes);
        let runner = SyncRunner::new(
            fake.clone(),
            ChangeTracker::new(NodeInfo::new("node-1")),
            config,
        )
        .with_observer(move |o: &SyncOutcome| seen.lock().expect("lock").push(o.clone()));
        let runner = build(runner);
        let status = runner.status();
        let (tx, rx) = mpsc::channel(1024);
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let task = tokio::spawn(runner.run(rx, shutdown));
        Harness {
            fake,
            tx: Some(tx),
            stop: Some(stop),
            task,
            outcomes,
            t0: Instant::now(),
            status,
        }
    }

    /// Sends `event` to the runner.
    pub(crate) async fn send(&self, event: SourceEvent) {
        let tx = self.tx.as_ref().expect("channel still open");
        tx.send(event).await.expect("runner alive");
    }

    /// Sends the initial list.
    pub(crate) async fn reset(&self, objs: Vec<KubeObject>) {
        self.send(SourceEvent::Reset(objs)).await;
    }

    /// Lets the clock run to `offset` after time zero (every timer up to it fires).
    pub(crate) async fn until(&self, offset: Duration) {
        sleep_until(self.t0 + offset).await;
    }

    /// The offsets from time zero at which the datapath was called.
    pub(crate) fn times(&self) -> Vec<Duration> {
        let syncs = self.fake.syncs();
        syncs.iter().map(|(_, _, at)| *at - self.t0).collect()
    }

    /// The modes the datapath was asked for.
    pub(crate) fn modes(&self) -> Vec<SyncMode> {
        self.fake.syncs().iter().map(|(mode, _, _)| *mode).collect()
    }

    /// The outcomes reported so far.
    pub(crate) fn outcomes(&self) -> Vec<SyncOutcome> {
        self.outcomes.lock().expect("lock").clone()
    }

    /// Fires the shutdown future and waits for the datapath.
    pub(crate) async fn shutdown(mut self) -> FakeDatapath {
        let stop = self.stop.take().expect("not stopped yet");
        stop.send(()).expect("runner alive");
        self.task.await.expect("runner did not panic")
    }

    /// Closes the event channel and waits for the datapath.
    pub(crate) async fn close(mut self) -> FakeDatapath {
        self.tx = None;
        self.task.await.expect("runner did not panic")
    }
}

use SyncMode::{Full, Partial};

#[tokio::test(start_paused = true)]
async fn no_sync_before_the_initial_list() {
    let h = Harness::start(default_config());
    h.send(SourceEvent::Apply(service("a", "10.96.0.10"))).await;
    h.send(SourceEvent::Apply(service("b", "10.96.0.11"))).await;
    h.until(secs(100)).await;
    assert!(h.fake.syncs().is_empty(), "synced before the first Reset");
    assert!(h.outcomes().is_empty());

    h.reset(vec![service("a", "10.96.0.10")]).await;
    h.until(secs(100) + ms(1)).await;
    assert_eq!(h.times(), [secs(100)]);
    assert_eq!(h.modes(), [Full]);
}

#[tokio::test(start_paused = true)]
async fn first_sync_is_full_right_after_the_initial_list() {
    let h = Harness::start(default_config());
    h.until(secs(5)).await;
    h.reset(vec![service("a", "10.96.0.10"), service("b", "10.96.0.11")])
        .await;
    h.until(secs(5) + ms(500)).await;

    let syncs = h.fake.syncs();
    assert_eq!(h.times(), [secs(5)]);
    assert_eq!(syncs[0].0, Full);
    assert_eq!(syncs[0].1.changed, [port("a"), port("b")].into());
    let state = h.fake.last_state().expect("a sync");
    assert_eq!(state.services.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_burst_within_the_minimum_period_is_one_partial_sync() {
    let h = Harness::start(default_config());
    h.reset(Vec::new()).await;
    let names: Vec<String> = (0..10).map(|i| format!("svc-{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        h.until(ms(50 + 80 * i as u64)).await;
        h.send(SourceEvent::Apply(service(
            name,
            &format!("10.96.0.{}", 10 + i),
        )))
        .await;
    }
    h.until(secs(3)).await;

    let syncs = h.fake.syncs();
    assert_eq!(h.times(), [secs(0), secs(1)]);
    assert_eq!(h.modes(), [Full, Partial]);
    let expected = names.iter().map(|n| port(n)).collect();
    assert_eq!(syncs[1].1.changed, expected);
}

#[tokio::test(start_paused = true)]
async fn a_burst_after_idling_is_one_sync() {
    let h = Harness::start(default_config());
    h.reset(Vec::new()).await;
    h.until(secs(10)).await;
    // Queued before the runner gets to run: it drains them all into the first sync.
    h.send(SourceEvent::Apply(service("a", "10.96.0.10"))).await;
    h.send(SourceEvent::Apply(service("b", "10.96.0.11"))).await;
    h.send(SourceEvent::Apply(service("c", "10.96.0.12"))).await;
    h.until(secs(12)).await;

    let syncs = h.fake.syncs();
    assert_eq!(h.times(), [secs(0), secs(10)]);
    assert_eq!(syncs[1].1.changed, [port("a"), port("b"), port("c")].into());
}

#[tokio::test(start_paused = true)]
async fn a_change_right_after_a_sync_waits_for_the_minimum_period() {
    let h = Harness::start(default_config());
    h.reset(Vec::new()).await;
    // Long after the previous sync: synced at once.
    h.until(ms(1500)).await;
    h.send(SourceEvent::Apply(service("a", "10.96.0.10"))).await;
    // Right after that sync: held until 1 s after its start.
    h.until(ms(1510)).await;
    h.send(SourceEvent::Apply(service("b", "10.96.0.11"))).await;
    h.until(ms(2400)).await;
    assert_eq!(h.times(), [ms(0), ms(1500)]);

    h.until(ms(3000)).await;
    let syncs = h.fake.syncs();
    assert_eq!(h.times(), [ms(0), ms(1500), ms(2500)]);
    assert_eq!(h.modes(), [Full, Partial, Partial]);
    assert_eq!(syncs[2].1.changed, [port("b")].into());
}

#[tokio::test(start_paused = true)]
async fn full_sync_every_sync_period_without_events() {
    let h = Harness::start(default_config());
    h.reset(vec![service("a", "10.96.0.10")]).await;
    h.until(secs(95)).await;

    let syncs = h.fake.syncs();
    assert_eq!(h.times(), [secs(0), secs(30), secs(60), secs(90)]);
    assert_eq!(h.modes(), [Full; 4]);
    assert!(syncs[1..].iter().all(|(_, delta, _)| delta.is_empty()));
    let state = h.fake.last_state().expect("a sync");
    assert_eq!(state.services.len(), 1, "full syncs carry the whole state");
}

#[tokio::test(start_paused = true)]
async fn partial_syncs_do_not_postpone_the_periodic_full_sync() {
    let h = Harness::start(default_config());
    h.reset(Vec::new()).await;
    h.until(secs(10)).await;
    h.send(SourceEvent::Apply(service("a", "10.96.0.10"))).await;
    h.until(secs(45)).await;

    assert_eq!(h.times(), [secs(0), secs(10), secs(30)]);
    assert_eq!(h.modes(), [Full, Partial, Full]);
}

#[tokio::test(start_paused = true)]
async fn the_periodic_full_sync_respects_the_minimum_period_and_takes_pending_changes() {
    let h = Harness::start(default_config());
    h.reset(Vec::new()).await;
    h.until(ms(29_500)).await;
    h.send(SourceEvent::Apply(service("a", "10.96.0.10"))).await;
    h.until(ms(29_800)).await;
    h.send(SourceEvent::Apply(service("b", "10.96.0.11"))).await;
    // The periodic full sync was due at 30 s; it waits 1 s after the partial one at 29.5 s, and
    // also carries the change that arrived in between.
    h.until(secs(40)).await;
    let syncs = h.fake.syncs();
    assert_eq!(h.times(), [ms(0), ms(29_500), ms(30_500)]);
    assert_eq!(h.modes(), [Full, Partial, Full]);
    assert_eq!(syncs[2].1.changed, [port("b")].into());
}

#[tokio::test(start_paused = true)]
async fn an_update_that_changes_nothing_calls_no_datapath() {
    let h = Harness::start(default_config());
    h.reset(vec![service("a", "10.96.0.10")]).await;
    h.until(secs(2)).await;
    h.send(SourceEvent::Apply(service("a", "10.96.0.10"))).await;
    h.until(secs(5)).await;
    // Added then deleted before the next sync: the changes cancel out.
    h.send(SourceEvent::Apply(service("b", "10.96.0.11"))).await;
    h.send(SourceEvent::Delete(service("b", "10.96.0.11")))
        .await;
    h.until(secs(29)).await;

    assert_eq!(h.times(), [secs(0)]);
    assert_eq!(h.outcomes().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_skipped_sync_does_not_delay_the_next_change() {
    let h = Harness::start(default_config());
    h.reset(vec![service("a", "10.96.0.10")]).await;
    h.until(secs(2)).await;
    h.send(SourceEvent::Apply(service("a", "10.96.0.10"))).await;
    h.until(ms(2500)).await;
    h.send(SourceEvent::Apply(service("b", "10.96.0.11"))).await;
    h.until(secs(3)).await;
    assert_eq!(h.times(), [ms(0), ms(2500)]);
}

/// `--min-sync-period 0` (kube-proxy accepts it): each change is synced as soon as it arrives,
/// events already queued join that sync, and an idle runner sleeps until the periodic full
/// sync (with a busy loop the paused clock could not advance and this test would hang).
#[tokio::test(start_paused = true)]
async fn a_zero_minimum_period_syncs_each_change_at_once_and_idles_between() {
    let h = Harness::start(RunnerConfig {
        min_sync_period: Duration::ZERO,
        ..default_config()
    });
    h.reset(Vec::new()).await;
    for (i, at) in [10, 20, 25].into_iter().enumerate() {
        h.until(ms(at)).await;
        h.send(SourceEvent::Apply(service(
            &format!("s{i}"),
            &format!("10.96.0.{}", 10 + i),
        )))
        .await;
    }
    h.until(ms(40)).await;
    h.send(SourceEvent::Apply(service("t1", "10.96.1.1"))).await;
    h.send(SourceEvent::Apply(service("t2", "10.96.1.2"))).await;
    h.until(secs(29)).await;
    assert_eq!(h.times(), [ms(0), ms(10), ms(20), ms(25), ms(40)]);
    assert_eq!(h.modes(), [Full, Partial, Partial, Partial, Partial]);
    let syncs = h.fake.syncs();
    assert_eq!(syncs[4].1.changed, [port("t1"), port("t2")].into());

    h.until(secs(61)).await;
    assert_eq!(
        h.times()[5..],
        [secs(30), secs(60)],
        "only the periodic syncs"
    );
    assert_eq!(h.modes()[5..], [Full, Full]);
}

#[tokio::test(start_paused = true)]
async fn failures_are_retried_full_with_a_growing_backoff() {
    let config = RunnerConfig {
        initial_backoff: secs(2),
        max_backoff: secs(8),
        sync_period: secs(300),
        ..RunnerConfig::default()
    };
    let h = Harness::start(config);
    for _ in 0..5 {
        h.fake.fail_next(Error::retryable("fake", "busy"));
    }
    h.reset(vec![service("a", "10.96.0.10")]).await;
    h.until(secs(60)).await;

    // Fails at 0, 2, 6, 14, 22; succeeds at 30.
    assert_eq!(h.times(), [0, 2, 6, 14, 22, 30].map(secs));
    assert_eq!(h.modes(), [Full; 6]);
    let gaps: Vec<Duration> = h.times().windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(gaps, [2, 4, 8, 8, 8].map(secs));
}

#[tokio::test(start_paused = true)]
async fn a_failed_partial_sync_is_retried_full_with_its_delta() {
    let h = Harness::start(default_config());
    h.reset(Vec::new()).await;
    h.until(secs(5)).await;
    h.fake.fail_next(Error::retryable("fake", "busy"));
    h.send(SourceEvent::Apply(service("a", "10.96.0.10"))).await;
    h.until(ms(5500)).await;
    h.send(SourceEvent::Apply(service("b", "10.96.0.11"))).await;
    h.until(secs(10)).await;

    let syncs = h.fake.syncs();
    assert_eq!(h.times(), [secs(0), secs(5), secs(6)]);
    assert_eq!(h.modes(), [Full, Partial, Full]);
    assert_eq!(syncs[1].1.changed, [port("a")].into());
    // The retry names what the failed sync did not get to program, plus what came since.
    assert_eq!(syncs[2].1.changed, [port("a"), port("b")].into());
    let state = h.fake.last_state().expect("a sync");
    assert_eq!(state.services.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_success_resets_the_backoff() {
    let config = RunnerConfig {
        initial_backoff: secs(2),
        max_backoff: secs(60),
        sync_period: secs(300),
        ..RunnerConfig::default()
    };
    let h = Harness::start(config);
    h.fake.fail_next(Error::retryable("fake", "busy"));
    h.fake.fail_next(Error::retryable("fake", "busy"));
    h.reset(Vec::new()).await;
    // Fails at 0 and 2, succeeds at 6.
    h.until(secs(20)).await;
    h.fake.fail_next(Error::retryable("fake", "busy"));
    h.send(SourceEvent::Apply(service("a", "10.96.0.10"))).await;
    h.until(secs(30)).await;

    // Fails at 20, retried after the initial backoff again, not after 8 s.
    assert_eq!(h.times(), [0, 2, 6, 20, 22].map(secs));
    assert_eq!(h.modes(), [Full, Full, Full, Partial, Full]);
}

#[tokio::test(start_paused = true)]
async fn a_fatal_error_is_retried_at_the_sync_period() {
    let h = Harness::start(default_config());
    h.fake.fail_next(Error::fatal("fake", "no kernel support"));
    h.fake.fail_next(Error::fatal("fake", "no kernel support"));
    h.reset(vec![service("a", "10.96.0.10")]).await;
    h.until(secs(29)).await;
    assert_eq!(h.times(), [secs(0)]);

    h.until(secs(61)).await;
    assert_eq!(h.times(), [secs(0), secs(30), secs(60)]);
    assert_eq!(h.modes(), [Full; 3]);
}

#[tokio::test(start_paused = true)]
async fn events_do_not_bring_a_pending_retry_forward() {
    let h = Harness::start(default_config());
    h.fake.fail_next(Error::fatal("fake", "no kernel support"));
    h.reset(Vec::new()).await;
    h.until(secs(5)).await;
    h.send(SourceEvent::Apply(service("a", "10.96.0.10"))).await;
    h.until(secs(31)).await;

    let syncs = h.fake.syncs();
    assert_eq!(h.times(), [secs(0), secs(30)]);
    assert_eq!(syncs[1].0, Full);
    assert_eq!(syncs[1].1.changed, [port("a")].into());
}

#[tokio::test(start_paused = true)]
async fn the_observer_sees_one_outcome_per_sync() {
    let h = Harness::start(default_config());
    h.reset(vec![service("a", "10.96.0.10")]).await;
    h.until(secs(2)).await;
    h.send(SourceEvent::Apply(service("b", "10.96.0.11"))).await;
    h.until(secs(4)).await;
    h.fake.fail_next(Error::retryable("fake", "busy"));
    h.send(SourceEvent::Delete(service("a", "10.96.0.10")))
        .await;
    h.until(secs(6)).await;
    // A no-op: not a sync, not reported.
    h.send(SourceEvent::Apply(service("b", "10.96.0.11"))).await;
    h.until(secs(10)).await;

    let outcomes = h.outcomes();
    assert_eq!(outcomes.len(), h.fake.syncs().len());
    let summary: Vec<(SyncMode, bool, usize, usize, u32)> = outcomes
        .iter()
        .map(|o| {
            (
                o.mode,
                o.is_ok(),
                o.changed,
                o.deleted,
                o.consecutive_failures,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (Full, true, 1, 0, 0),
            (Partial, true, 1, 0, 0),
            (Partial, false, 0, 1, 1),
            (Full, true, 0, 1, 0),
        ]
    );
    let starts: Vec<Duration> = outcomes.iter().map(|o| o.started - h.t0).collect();
    assert_eq!(starts, [0, 2, 4, 5].map(secs));

    let failure = outcomes[2].result.as_ref().expect_err("third sync failed");
    assert!(failure.retryable);
    assert!(failure.message.contains("busy"), "{}", failure.message);
    assert_eq!(outcomes[2].next_attempt_in, secs(1));
    let report = outcomes[1].result.as_ref().expect("second sync succeeded");
    assert_eq!(report.objects_added, 1);
    // After a success with nothing pending, the next sync is the periodic full one.
    assert_eq!(outcomes[3].next_attempt_in, secs(30));
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_at_once_and_returns_the_datapath() {
    let h = Harness::start(default_config());
    h.reset(Vec::new()).await;
    h.until(ms(100)).await;
    h.send(SourceEvent::Apply(service("a", "10.96.0.10"))).await;
    h.until(ms(200)).await;
    let t0 = h.t0;
    let seen = h.fake.clone();

    let mut datapath = h.shutdown().await;
    assert_eq!(
        Instant::now() - t0,
        ms(200),
        "shutdown did not wait for the pending sync"
    );
    assert_eq!(seen.syncs().len(), 1, "the pending change was not synced");
    datapath.cleanup().await.expect("fake cleanup");
    assert_eq!(seen.calls().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn closing_the_channel_flushes_pending_changes_then_returns() {
    let h = Harness::start(default_config());
    h.reset(Vec::new()).await;
    h.until(ms(100)).await;
    h.send(SourceEvent::Apply(service("a", "10.96.0.10"))).await;
    let t0 = h.t0;
    let seen = h.fake.clone();

    let _datapath = h.close().await;
    assert_eq!(
        Instant::now() - t0,
        secs(1),
        "the final sync respects the minimum period"
    );
    let syncs = seen.syncs();
    assert_eq!(syncs.len(), 2);
    assert_eq!(syncs[1].0, Partial);
    assert_eq!(syncs[1].1.changed, [port("a")].into());
}

#[tokio::test(start_paused = true)]
async fn closing_the_channel_with_nothing_pending_returns_at_once() {
    let h = Harness::start(default_config());
    h.reset(Vec::new()).await;
    h.until(secs(3)).await;
    let (t0, seen) = (h.t0, h.fake.clone());
    let _datapath = h.close().await;
    assert_eq!(Instant::now() - t0, secs(3));
    assert_eq!(seen.syncs().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn closing_the_channel_before_the_initial_list_syncs_nothing() {
    let h = Harness::start(default_config());
    h.send(SourceEvent::Apply(service("a", "10.96.0.10"))).await;
    let seen = h.fake.clone();
    let _datapath = h.close().await;
    assert!(seen.syncs().is_empty());
}

#[test]
fn config_is_normalized() {
    let config = RunnerConfig {
        min_sync_period: secs(10),
        sync_period: secs(5),
        initial_backoff: secs(4),
        max_backoff: secs(1),
    }
    .normalized();
    assert_eq!(config.sync_period, secs(10));
    assert_eq!(config.max_backoff, secs(4));
    assert_eq!(
        RunnerConfig::default().normalized(),
        RunnerConfig::default()
    );
}
