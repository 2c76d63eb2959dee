//! [`SyncObserver`]: a hook told about every sync, for metrics, health checks and tests.

use std::sync::Arc;
use std::time::Duration;

use crate::datapath::{SyncMode, SyncReport};
use crate::error::Error;

/// Why a sync failed, in a form that can be cloned and kept: the error itself, shared.
#[derive(Clone, Debug)]
pub struct SyncFailure {
    /// The error's message.
    pub message: String,
    /// Whether the error was retryable (see [`Error::is_retryable`]).
    pub retryable: bool,
    /// The error, with its sources.
    pub error: Arc<Error>,
}

impl From<Error> for SyncFailure {
    fn from(err: Error) -> Self {
        SyncFailure {
            message: err.to_string(),
            retryable: err.is_retryable(),
            error: Arc::new(err),
        }
    }
}

/// Two failures are equal when they say the same (errors cannot be compared).
impl PartialEq for SyncFailure {
    fn eq(&self, other: &Self) -> bool {
        self.message == other.message && self.retryable == other.retryable
    }
}

impl Eq for SyncFailure {}

/// What one call to [`Datapath::sync`](crate::Datapath::sync) did. Skipped syncs (an empty
/// delta on a partial sync) are not reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncOutcome {
    /// The mode the datapath was asked for.
    pub mode: SyncMode,
    /// When the sync started, by tokio's clock.
    pub started: tokio::time::Instant,
    /// How long the sync took, by tokio's clock.
    pub duration: Duration,
    /// How many service ports the delta named as changed.
    pub changed: usize,
    /// How many service ports the delta named as deleted.
    pub deleted: usize,
    /// The datapath's report, or why it failed.
    pub result: Result<SyncReport, SyncFailure>,
    /// For a successful sync, the time from the arrival of the oldest change it programmed
    /// (when the runner took it from the channel: [`RunnerStatus::pending_since`]) to the
    /// sync's end, failed attempts included; `None` if it failed or no change was waiting.
    ///
    /// [`RunnerStatus::pending_since`]: super::RunnerStatus::pending_since
    pub latency: Option<Duration>,
    /// Failed syncs in a row, this one included (0 after a success).
    pub consecutive_failures: u32,
    /// Time from the end of this sync until the next one is due if no event arrives: the
    /// retry after a failure, else the next periodic full sync (or the coalesced sync of
    /// changes that arrived during this one).
    pub next_attempt_in: Duration,
}

impl SyncOutcome {
    /// Whether the sync succeeded.
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }
}

/// Told about every sync the runner makes, after it ends, from the runner's task.
///
/// Any `FnMut(&SyncOutcome) + Send` closure is an observer.
pub trait SyncObserver: Send {
    /// Called once per call to the datapath, in order.
    fn on_sync(&mut self, outcome: &SyncOutcome);
}

impl<F> SyncObserver for F
where
    F: FnMut(&SyncOutcome) + Send,
{
    fn on_sync(&mut self, outcome: &SyncOutcome) {
        self(outcome)
    }
}
