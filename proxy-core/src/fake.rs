//! `FakeDatapath`: an in-memory datapath that records every call, for tests of the layers above.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;

use crate::datapath::{Datapath, SyncMode, SyncReport};
use crate::error::{Error, Result};
use crate::state::{Delta, ProxyState};

/// One recorded call to [`FakeDatapath`].
#[derive(Clone, Debug, PartialEq)]
pub enum Call {
    /// A `sync`, with what it was given and when (by tokio's clock, so paused-clock tests can
    /// check timing).
    Sync {
        /// The state it was given.
        state: Box<ProxyState>,
        /// The delta it was given.
        delta: Delta,
        /// The mode it was asked for.
        mode: SyncMode,
        /// When it was called.
        at: tokio::time::Instant,
    },
    /// A `cleanup`.
    Cleanup,
}

#[derive(Debug, Default)]
struct Inner {
    calls: Vec<Call>,
    failures: VecDeque<Error>,
    sync_time: Duration,
}

/// An in-memory [`Datapath`] that records every call and fails on demand.
///
/// Clones share the same record, so a test keeps one clone and hands the other to the runner.
///
/// ```
/// use proxy_core::{Datapath, Delta, FakeDatapath, ProxyState, SyncMode};
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let mut fake = FakeDatapath::new();
/// let seen = fake.clone();
/// fake.fail_next(proxy_core::Error::retryable("fake", "busy"));
/// assert!(fake.sync(&ProxyState::default(), &Delta::default(), SyncMode::Full).await.is_err());
/// assert!(fake.sync(&ProxyState::default(), &Delta::default(), SyncMode::Full).await.is_ok());
/// assert_eq!(seen.syncs().len(), 2);
/// # });
/// ```
#[derive(Clone, Debug, Default)]
pub struct FakeDatapath {
    inner: Arc<Mutex<Inner>>,
}

impl FakeDatapath {
    /// A fake with no calls recorded and no failures scripted.
    pub fn new() -> Self {
        FakeDatapath::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock only happens in a failing test; keep going with the data.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes the next sync (after any already scripted) fail with `err`.
    pub fn fail_next(&self, err: Error) {
        self.lock().failures.push_back(err);
    }

    /// Makes every later sync take `time` on tokio's clock (default: none).
    pub fn set_sync_time(&self, time: Duration) {
        self.lock().sync_time = time;
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// Every sync so far as `(mode, delta, at)`.
    pub fn syncs(&self) -> Vec<(SyncMode, Delta, tokio::time::Instant)> {
        self.lock()
            .calls
            .iter()
            .filter_map(|c| match c {
                Call::Sync {
                    mode, delta, at, ..
                } => Some((*mode, delta.clone(), *at)),
                Call::Cleanup => None,
            })
            .collect()
    }

    /// The state given to the last sync, if any.
    pub fn last_state(&self) -> Option<ProxyState> {
        self.lock().calls.iter().rev().find_map(|c| match c {
            Call::Sync { state, .. } => Some((**state).clone()),
            Call::Cleanup => None,
        })
    }
}

#[async_trait]
impl Datapath for FakeDatapath {
    fn name(&self) -> &str {
        "fake"
    }

    async fn sync(
        &mut self,
        state: &ProxyState,
        delta: &Delta,
        mode: SyncMode,
    ) -> Result<SyncReport> {
        let (failure, sync_time) = {
            let mut inner = self.lock();
            inner.calls.push(Call::Sync {
                state: Box::new(state.clone()),
                delta: delta.clone(),
                mode,
                at: tokio::time::Instant::now(),
            });
            (inner.failures.pop_front(), inner.sync_time)
        };
        if !sync_time.is_zero() {
            tokio::time::sleep(sync_time).await;
        }
        match failure {
            Some(err) => Err(err),
            None => Ok(SyncReport {
                objects_added: delta.changed.len(),
                objects_removed: delta.deleted.len(),
                ..SyncReport::default()
            }),
        }
    }

    async fn cleanup(&mut self) -> Result<()> {
        self.lock().calls.push(Call::Cleanup);
        Ok(())
    }
}
