//! Driving a datapath from the source through proxy-core's [`SyncRunner`]: once (`sync`), or
//! until shutdown (`run`). Both take the datapath as a parameter, so tests drive them with
//! [`proxy_core::FakeDatapath`].

use std::future::Future;
use std::sync::{Arc, Mutex};

use proxy_core::runner::{
    AfterSync, HookFuture, RunnerConfig, SourceEvent, SyncOutcome, SyncRunner,
};
use proxy_core::tracker::ChangeTracker;
use proxy_core::{Datapath, Delta, ProxyState, SyncReport};
use tokio::sync::{Notify, mpsc};

use crate::agent::{Agent, Opened, stop};
use crate::config::{ProxyConfig, RunConfig};
use crate::error::Error;
use crate::source::kube;

/// How many source events may wait for the runner.
const EVENT_QUEUE: usize = 1024;

/// Opens the source a configuration names.
async fn open(config: &ProxyConfig) -> Result<Opened, Error> {
    Opened::open(&config.source, &config.node_name, config.allow_empty_source).await
}

/// Reads the source once (a file: now, failing on an unusable read; the API server: until
/// its initial lists are in) and makes one full sync of `datapath`. Fails if the source
/// cannot be read or the sync fails; a failed sync is not retried.
pub async fn run_once<D: Datapath>(config: &ProxyConfig, datapath: D) -> Result<SyncReport, Error> {
    run_once_with(config, datapath, None::<NoHook>).await
}

/// No after-sync hook.
struct NoHook;

impl AfterSync for NoHook {
    fn after_sync<'a>(&'a mut self, _: &'a ProxyState, _: &'a Delta) -> HookFuture<'a> {
        Box::pin(async {})
    }
}

/// [`run_once`], with `hook` after the sync if it succeeds (conntrack cleanup).
pub async fn run_once_with<D: Datapath, H: AfterSync + 'static>(
    config: &ProxyConfig,
    datapath: D,
    hook: Option<H>,
) -> Result<SyncReport, Error> {
    let source = open(config).await?;
    let (tx, rx) = mpsc::channel(EVENT_QUEUE);
    let task = match &source {
        Opened::File(file) => {
            let objects = file.read().await?;
            // The receiver is alive: this cannot fail.
            let _ = tx.send(SourceEvent::Reset(objects)).await;
            None
        }
        Opened::Kube(_) => Some(source.clone().spawn(tx.clone())),
    };
    // The runner stops as soon as its first sync is reported (the channel stays open, or it
    // would make a last attempt after a failure).
    let outcome = Arc::new(Mutex::new(None::<SyncOutcome>));
    let done = Arc::new(Notify::new());
    let observer = {
        let (outcome, done) = (Arc::clone(&outcome), Arc::clone(&done));
        move |o: &SyncOutcome| {
            if let Ok(mut slot) = outcome.lock() {
                slot.get_or_insert_with(|| o.clone());
            }
            done.notify_one();
        }
    };
    let tracker = ChangeTracker::new(config.node_info());
    let mut runner = SyncRunner::new(datapath, tracker, RunnerConfig::default());
    if let Some(hook) = hook {
        runner = runner.with_after_sync(hook);
    }
    source
        .runner(runner)
        .with_observer(observer)
        .run(rx, done.notified())
        .await;
    drop(tx);
    if let Some(task) = task {
        stop(task).await;
    }
    let outcome = outcome.lock().ok().and_then(|mut slot| slot.take());
    match outcome {
        Some(SyncOutcome {
            result: Ok(report), ..
        }) => Ok(report),
        Some(SyncOutcome {
            result: Err(failure),
            ..
        }) => Err(Error::Sync(failure.error)),
        None => Err(Error::NeverSynced),
    }
}

/// Syncs `datapath` from the source until `shutdown` completes: the source is watched (a
/// file re-read on change, the API server's watches followed), the runner times the syncs as
/// `config.runner` says. Returns the datapath; the rules it programmed stay in place. Fails
/// only if the source cannot be opened.
pub async fn run_until<D, S>(config: &RunConfig, datapath: D, shutdown: S) -> Result<D, Error>
where
    D: Datapath,
    S: Future<Output = ()>,
{
    agent(config).run(datapath, shutdown).await
}

/// The agent a `run` configuration describes.
pub fn agent(config: &RunConfig) -> Agent {
    let proxy = &config.proxy;
    Agent::new(proxy.source.clone(), proxy.node_name.clone())
        .node_ips(proxy.node_ips.clone())
        .runner_config(config.runner)
        .allow_empty_source(proxy.allow_empty_source)
}

/// The state the source describes, as a backend would be asked to program it (for `dump`):
/// a file read once, or the API server's initial lists.
pub async fn planned_state(config: &ProxyConfig) -> Result<ProxyState, Error> {
    let mut tracker = ChangeTracker::new(config.node_info());
    match open(config).await? {
        Opened::File(file) => {
            tracker.reset_owned(file.read().await?);
        }
        kube @ Opened::Kube(_) => {
            let (tx, mut rx) = mpsc::channel(EVENT_QUEUE);
            let task = kube.spawn(tx);
            let mut listed = std::collections::BTreeSet::new();
            while listed.len() < kube::REQUIRED_KINDS.len() {
                match rx.recv().await {
                    Some(SourceEvent::RelistBegin(kind)) => tracker.begin_relist(kind),
                    Some(SourceEvent::RelistEnd(kind)) => {
                        tracker.end_relist(kind);
                        listed.extend(kube::REQUIRED_KINDS.into_iter().filter(|k| *k == kind));
                    }
                    Some(SourceEvent::Apply(object)) => drop(tracker.apply(&object)),
                    Some(SourceEvent::Delete(object)) => tracker.delete(&object),
                    Some(_) => {}
                    None => break,
                }
            }
            stop(task).await;
        }
    }
    tracker.take_delta();
    Ok(tracker.state().clone())
}
