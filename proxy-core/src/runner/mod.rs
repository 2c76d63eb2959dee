//! The sync runner: drives a [`Datapath`] from a [`ChangeTracker`] at a bounded frequency.
//!
//! Sources (a manifest-file watcher, an API watcher) send [`SourceEvent`]s down a
//! `tokio::sync::mpsc` channel. [`SyncRunner::run`] feeds each event into the tracker at once
//! and calls [`Datapath::sync`] according to these rules (the role of upstream kube-proxy's
//! `BoundedFrequencyRunner`, with a growing backoff on failure):
//!
//! - **Readiness.** Nothing is synced before the initial lists are complete: a
//!   [`SourceEvent::Reset`] (every kind at once), or a [`SourceEvent::Resync`] (or
//!   [`SourceEvent::RelistEnd`]) of each kind
//!   the runner waits for (Services and EndpointSlices by default, see
//!   [`SyncRunner::with_initial_lists`]; the Node optionally, for a bounded time).
//!   `Apply`/`Delete` events before that are recorded, not lost. The first sync starts right
//!   after and is [`SyncMode::Full`].
//! - **Minimum period.** A sync never starts sooner than
//!   [`min_sync_period`](RunnerConfig::min_sync_period) after the *start* of the previous
//!   call to the datapath. Changes are due at that instant; all events received until then
//!   (including those already queued in the channel when it fires) are coalesced into one sync.
//! - **Skipping.** A partial sync whose delta is empty (the changes cancelled out, or an
//!   update changed nothing) does not call the datapath, is not reported to the observer, and
//!   does not count as a sync for the minimum period.
//! - **Periodic full sync.** With no failure pending, a full sync is due
//!   [`sync_period`](RunnerConfig::sync_period) after the start of the previous full sync,
//!   whether or not anything changed (repairs drift in the kernel). A sync of changes that
//!   starts when the periodic one is due is itself full.
//! - **Failure.** The delta of a failed sync is kept and merged into the next one (so the
//!   retry's delta names everything since the last success), and every sync until a success
//!   is full. A retryable error ([`Error::is_retryable`]) is retried
//!   [`initial_backoff`](RunnerConfig::initial_backoff) after the *end* of the failed sync,
//!   the delay doubling on each further failure up to
//!   [`max_backoff`](RunnerConfig::max_backoff); a success resets it. A fatal error is
//!   retried `sync_period` after the end of the failed sync. Retries still respect the
//!   minimum period. While a retry is pending, new events do not bring it forward: the retry
//!   is full and includes them anyway, and a failing datapath is not hammered at event pace.
//! - **Shutdown.** When the `shutdown` future completes the runner returns at once (a sync in
//!   progress is finished first, never cut short). When the event channel closes, the runner
//!   makes one final sync if anything is owed (pending changes, a pending retry, or the first
//!   sync), no sooner than the minimum period allows and without retrying it, then returns.
//!   Either way it hands back the datapath, e.g. so that the caller can clean up.
//!
//! On a multi-threaded runtime each call to the datapath runs where blocking is allowed
//! (`tokio::task::block_in_place`): a backend may block in `sync` without stalling the
//! runtime's other tasks.
//!
//! Conversion warnings are logged by the tracker with `tracing::warn!`. Each call to the
//! datapath is logged (backend, mode, duration, result: full syncs at `info`, partial ones at
//! `debug`, retryable failures at `warn`, fatal ones at `error`; a successful one with
//! `latency_us`, the time from the arrival of the oldest change it programmed to its end) and
//! reported to the [`SyncObserver`], if any, as a [`SyncOutcome`]. After each successful
//! call, the [`AfterSync`] hook, if any, gets the state and the delta (conntrack cleanup). The
//! runner publishes its [`RunnerStatus`] on a watch channel ([`SyncRunner::status`]). All
//! timing uses tokio's clock, so tests can pause and advance it.
//!
//! [`Error::is_retryable`]: crate::Error::is_retryable

mod config;
mod hook;
mod observer;
mod readiness;
mod schedule;
mod status;

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep_until};
use tracing::{debug, error, info, warn};

use crate::datapath::{Datapath, SyncMode, SyncReport};
use crate::error::{Error, ObjectKind};
use crate::object::KubeObject;
use crate::state::Delta;
use crate::tracker::ChangeTracker;

pub use config::RunnerConfig;
pub use hook::{AfterSync, HookFuture};
pub use observer::{SyncFailure, SyncObserver, SyncOutcome};
use readiness::Readiness;
use schedule::Schedule;
pub use status::{LastSync, RunnerStatus};

/// What a source sends the runner.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceEvent {
    /// An object was added or updated.
    Apply(KubeObject),
    /// An object was deleted.
    Delete(KubeObject),
    /// A full relist of every kind (a re-read file): objects not listed are deleted.
    Reset(Vec<KubeObject>),
    /// A relist of one kind begins (its initial list, or a relist after the watch expired):
    /// its objects follow as `Apply`s (watch updates may interleave), then `RelistEnd`.
    RelistBegin(ObjectKind),
    /// The relist of one kind is complete: objects of that kind not applied since its
    /// `RelistBegin` are deleted; other kinds are untouched.
    RelistEnd(ObjectKind),
    /// A complete list of one kind at once: `RelistBegin`, an `Apply` each, `RelistEnd`.
    Resync {
        /// The kind listed.
        kind: ObjectKind,
        /// Every object of that kind.
        objects: Vec<KubeObject>,
    },
}

/// Drives a [`Datapath`] from [`SourceEvent`]s, at a bounded frequency (see the
/// [module documentation](self) for the exact timing).
///
/// ```
/// use proxy_core::FakeDatapath;
/// use proxy_core::model::NodeInfo;
/// use proxy_core::runner::{RunnerConfig, SourceEvent, SyncRunner};
/// use proxy_core::tracker::ChangeTracker;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let fake = FakeDatapath::new();
/// let tracker = ChangeTracker::new(NodeInfo::new("node-a"));
/// let runner = SyncRunner::new(fake.clone(), tracker, RunnerConfig::default())
///     .with_observer(|outcome: &proxy_core::runner::SyncOutcome| println!("{outcome:?}"));
///
/// let (tx, rx) = tokio::sync::mpsc::channel(64);
/// tx.send(SourceEvent::Reset(Vec::new())).await.unwrap();
/// drop(tx); // the channel closes: one final sync, then `run` returns
/// let _datapath = runner.run(rx, std::future::pending()).await;
/// assert_eq!(fake.syncs().len(), 1);
/// # });
/// ```
pub struct SyncRunner<D: Datapath> {
    datapath: D,
    tracker: ChangeTracker,
    schedule: Schedule,
    /// The delta of the last failed sync, merged into the next one.
    carried: Option<Delta>,
    observer: Option<Box<dyn SyncObserver>>,
    after_sync: Option<Box<dyn AfterSync>>,
    readiness: Readiness,
    status: watch::Sender<RunnerStatus>,
}

impl<D: Datapath> SyncRunner<D> {
    /// A runner that programs `datapath` from `tracker`, timed by `config` (normalized, see
    /// [`RunnerConfig::normalized`]).
    pub fn new(datapath: D, tracker: ChangeTracker, config: RunnerConfig) -> Self {
        SyncRunner {
            datapath,
            tracker,
            schedule: Schedule::new(config.normalized()),
            carried: None,
            observer: None,
            after_sync: None,
            readiness: Readiness::new(
                BTreeSet::from([ObjectKind::Service, ObjectKind::EndpointSlice]),
                None,
            ),
            status: watch::Sender::new(RunnerStatus::default()),
        }
    }

    /// Waits for the initial lists of `kinds` before the first sync (default: Services and
    /// EndpointSlices), then, with `node_wait`, for the Node's list at most that long.
    pub fn with_initial_lists(
        mut self,
        kinds: impl IntoIterator<Item = ObjectKind>,
        node_wait: Option<Duration>,
    ) -> Self {
        self.readiness = Readiness::new(kinds.into_iter().collect(), node_wait);
        self
    }

    /// Calls `hook` after each successful sync.
    pub fn with_after_sync(mut self, hook: impl AfterSync + 'static) -> Self {
        self.after_sync = Some(Box::new(hook));
        self
    }

    /// The runner's status, updated on every event and sync.
    pub fn status(&self) -> watch::Receiver<RunnerStatus> {
        self.status.subscribe()
    }

    /// Publishes the status on `sender` (made before the runner, e.g. by an agent that hands
    /// out receivers early).
    pub fn with_status_sender(mut self, sender: watch::Sender<RunnerStatus>) -> Self {
        self.status = sender;
        self
    }

    /// Reports every sync to `observer`.
    pub fn with_observer(mut self, observer: impl SyncObserver + 'static) -> Self {
        self.observer = Some(Box::new(observer));
        self
    }

    /// Runs until `shutdown` completes or `events` closes, then returns the datapath.
    pub async fn run<S>(mut self, mut events: mpsc::Receiver<SourceEvent>, shutdown: S) -> D
    where
        S: Future<Output = ()>,
    {
        let mut shutdown = std::pin::pin!(shutdown);
        info!(backend = self.datapath.name(), "sync runner started");
        loop {
            let now = Instant::now();
            self.check_ready(now);
            let due = self.schedule.next_due(now, self.tracker.has_pending());
            let wake = due.or(self.readiness.deadline());
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                () = sleep_until_some(wake) => {
                    if due.is_some() {
                        self.drain(&mut events);
                        self.sync().await;
                    }
                }
                event = events.recv() => match event {
                    Some(event) => self.handle(event),
                    None => {
                        self.finish(shutdown.as_mut()).await;
                        break;
                    }
                },
            }
        }
        info!(backend = self.datapath.name(), "sync runner stopped");
        self.datapath
    }

    /// Feeds the events already queued into the tracker, so they join the sync about to start.
    fn drain(&mut self, events: &mut mpsc::Receiver<SourceEvent>) {
        while let Ok(event) = events.try_recv() {
            self.handle(event);
        }
    }

    /// Feeds one event into the tracker (which logs what conversion dropped).
    fn handle(&mut self, event: SourceEvent) {
        match event {
            SourceEvent::Apply(obj) => {
                self.tracker.apply(&obj);
            }
            SourceEvent::Delete(obj) => self.tracker.delete(&obj),
            SourceEvent::Reset(objs) => {
                self.tracker.reset_owned(objs);
                self.readiness.listed([
                    ObjectKind::Service,
                    ObjectKind::EndpointSlice,
                    ObjectKind::Node,
                ]);
            }
            SourceEvent::RelistBegin(kind) => self.tracker.begin_relist(kind),
            SourceEvent::RelistEnd(kind) => {
                self.tracker.end_relist(kind);
                self.readiness.listed([kind]);
            }
            SourceEvent::Resync { kind, objects } => {
                self.tracker.resync(kind, objects);
                self.readiness.listed([kind]);
            }
        }
        let pending = self.tracker.has_pending();
        self.status.send_if_modified(|status| {
            let mark = pending && status.pending_since.is_none();
            if mark {
                status.pending_since = Some(Instant::now());
            }
            mark
        });
    }

    /// Marks the schedule ready once the initial lists are in.
    fn check_ready(&mut self, now: Instant) {
        if !self.schedule.is_ready() && self.readiness.check(now) {
            self.schedule.mark_ready();
            self.status.send_modify(|status| status.ready = true);
        }
    }

    /// The last sync after the event channel closed, if anything is owed; ends early on
    /// `shutdown`.
    async fn finish<S: Future<Output = ()>>(&mut self, shutdown: Pin<&mut S>) {
        if !self.schedule.has_work(self.tracker.has_pending()) {
            if !self.schedule.is_ready() {
                debug!("event channel closed before the initial list: nothing synced");
            }
            return;
        }
        let at = self.schedule.earliest(Instant::now());
        tokio::select! {
            biased;
            () = shutdown => {}
            () = sleep_until(at) => self.sync().await,
        }
    }

    /// Takes the delta and calls the datapath, unless the sync is partial and nothing changed.
    async fn sync(&mut self) {
        let started = Instant::now();
        let mode = self.schedule.mode(started);
        let mut delta = self.carried.take().unwrap_or_default();
        delta.merge(self.tracker.take_delta());
        if mode == SyncMode::Partial && delta.is_empty() {
            debug!(
                backend = self.datapath.name(),
                "nothing changed: sync skipped"
            );
            // The changes cancelled out: nothing is owed any more.
            let pending = self.tracker.has_pending();
            self.status
                .send_if_modified(|status| !pending && status.pending_since.take().is_some());
            return;
        }
        let pending_since = self.status.borrow().pending_since;
        self.schedule.started(started, mode);
        let result = off_runtime(self.datapath.sync(self.tracker.state(), &delta, mode)).await;
        let ended = Instant::now();
        if let (Ok(_), Some(hook)) = (&result, &mut self.after_sync) {
            hook.after_sync(self.tracker.state(), &delta).await;
        }
        let mut outcome = self.settle(started, ended, mode, delta, result);
        if outcome.is_ok() {
            outcome.latency = pending_since.map(|t| ended.saturating_duration_since(t));
        }
        self.publish(&outcome, ended);
        self.log(&outcome);
        if let Some(observer) = &mut self.observer {
            observer.on_sync(&outcome);
        }
    }

    /// Updates the schedule with a sync's result and describes the sync.
    fn settle(
        &mut self,
        started: Instant,
        ended: Instant,
        mode: SyncMode,
        delta: Delta,
        result: Result<SyncReport, Error>,
    ) -> SyncOutcome {
        let (changed, deleted) = (delta.changed.len(), delta.deleted.len());
        let result = match result {
            Ok(report) => {
                self.schedule.succeeded();
                Ok(report)
            }
            Err(err) => {
                self.schedule.failed(ended, err.is_retryable());
                self.carried = Some(delta);
                Err(SyncFailure::from(err))
            }
        };
        let next_attempt_in = self
            .schedule
            .next_due(ended, self.tracker.has_pending())
            .map_or_else(Default::default, |due| due.saturating_duration_since(ended));
        SyncOutcome {
            mode,
            started,
            duration: ended.saturating_duration_since(started),
            changed,
            deleted,
            result,
            latency: None,
            consecutive_failures: self.schedule.failures(),
            next_attempt_in,
        }
    }

    /// Publishes a sync's effect on the status.
    fn publish(&self, outcome: &SyncOutcome, ended: Instant) {
        let pending = self.tracker.has_pending();
        self.status.send_modify(|status| {
            status.consecutive_failures = outcome.consecutive_failures;
            if outcome.is_ok() {
                status.last_success = Some(LastSync {
                    at: ended,
                    mode: outcome.mode,
                    duration: outcome.duration,
                });
                status.pending_since = pending.then(Instant::now);
            }
        });
    }

    /// Logs one sync.
    fn log(&self, o: &SyncOutcome) {
        let backend = self.datapath.name();
        // Event-to-commit latency in microseconds; absent when no change was waiting.
        let latency_us = o
            .latency
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        match &o.result {
            Ok(report) if o.mode == SyncMode::Full => info!(
                backend, mode = ?o.mode, duration = ?o.duration, changed = o.changed,
                deleted = o.deleted, added = report.objects_added,
                removed = report.objects_removed, latency_us, "datapath synced"
            ),
            Ok(report) => debug!(
                backend, mode = ?o.mode, duration = ?o.duration, changed = o.changed,
                deleted = o.deleted, added = report.objects_added,
                removed = report.objects_removed, latency_us, "datapath synced"
            ),
            Err(failure) if failure.retryable => warn!(
                backend, mode = ?o.mode, duration = ?o.duration, error = %failure.message,
                failures = o.consecutive_failures, retry_in = ?o.next_attempt_in,
                "datapath sync failed"
            ),
            Err(failure) => error!(
                backend, mode = ?o.mode, duration = ?o.duration, error = %failure.message,
                failures = o.consecutive_failures, retry_in = ?o.next_attempt_in,
                "datapath sync failed with a fatal error"
            ),
        }
    }
}

/// Runs a datapath call so that its blocking work (netlink round trips, restore processes,
/// seconds at 10k services) cannot stall the runtime's other tasks (watchers, HTTP servers):
/// on a multi-threaded runtime the worker first hands its other tasks to the other workers
/// (`block_in_place`); elsewhere (tests on one thread) the call is awaited as it is.
async fn off_runtime<F: Future>(call: F) -> F::Output {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| handle.block_on(call))
        }
        _ => call.await,
    }
}

/// Sleeps until `due`, or forever if there is none.
async fn sleep_until_some(due: Option<Instant>) {
    match due {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}
