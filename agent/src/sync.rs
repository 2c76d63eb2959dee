//! Driving a datapath from the source through proxy-core's [`SyncRunner`]: once (`sync`), or
//! until shutdown (`run`). Both take the datapath as a parameter, so tests drive them with
//! [`proxy_core::FakeDatapath`].

use std::future::Future;
use std::sync::{Arc, Mutex};

use proxy_core::runner::{RunnerConfig, SourceEvent, SyncOutcome, SyncRunner};
use proxy_core::tracker::ChangeTracker;
use proxy_core::{Datapath, ProxyState, SyncReport};
use tokio::sync::{Notify, mpsc};

use crate::cli::SourceSpec;
use crate::config::{ProxyConfig, RunConfig};
use crate::error::Error;
use crate::source::FileSource;

/// How many source events may wait for the runner.
const EVENT_QUEUE: usize = 16;

/// The source a configuration names.
fn source(config: &ProxyConfig) -> FileSource {
    match &config.source {
        SourceSpec::File(path) => FileSource::new(path).allow_empty(config.allow_empty_source),
    }
}

/// Reads the source once and makes one full sync of `datapath`. Fails if the source cannot
/// be read or the sync fails; a failed sync is not retried.
pub async fn run_once<D: Datapath>(config: &ProxyConfig, datapath: D) -> Result<SyncReport, Error> {
    let objects = source(config).read().await?;
    let (tx, rx) = mpsc::channel(1);
    // The receiver is alive: this cannot fail.
    let _ = tx.send(SourceEvent::Reset(objects)).await;
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
    SyncRunner::new(datapath, tracker, RunnerConfig::default())
        .with_observer(observer)
        .run(rx, done.notified())
        .await;
    drop(tx);
    let outcome = outcome.lock().ok().and_then(|mut slot| slot.take());
    match outcome {
        Some(SyncOutcome {
            result: Ok(report), ..
        }) => Ok(report),
        Some(SyncOutcome {
            result: Err(failure),
            ..
        }) => Err(Error::Sync(failure.message)),
        None => Err(Error::Sync("the datapath was never called".to_owned())),
    }
}

/// Syncs `datapath` from the source until `shutdown` completes: the source is watched and
/// re-read on change, the runner times the syncs as `config.runner` says. Returns the datapath;
/// the rules it programmed stay in place.
pub async fn run_until<D, S>(config: &RunConfig, datapath: D, shutdown: S) -> D
where
    D: Datapath,
    S: Future<Output = ()>,
{
    let (tx, rx) = mpsc::channel(EVENT_QUEUE);
    let watcher = tokio::spawn(source(&config.proxy).watch(tx));
    let tracker = ChangeTracker::new(config.proxy.node_info());
    let datapath = SyncRunner::new(datapath, tracker, config.runner)
        .run(rx, shutdown)
        .await;
    // The runner dropped the receiver: the watcher stops at once.
    if let Err(err) = watcher.await
        && err.is_panic()
    {
        std::panic::resume_unwind(err.into_panic());
    }
    datapath
}

/// The state the source describes, as a backend would be asked to program it (for `dump`).
pub async fn planned_state(config: &ProxyConfig) -> Result<ProxyState, Error> {
    let objects = source(config).read().await?;
    let mut tracker = ChangeTracker::new(config.node_info());
    tracker.reset_owned(objects);
    tracker.take_delta();
    Ok(tracker.state().clone())
}
