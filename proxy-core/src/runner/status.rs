//! [`RunnerStatus`]: what the runner publishes for health checks, metrics and tests.

use std::time::Duration;

use tokio::time::Instant;

use crate::datapath::SyncMode;

/// The runner's state as of its last event or sync, published on a `tokio::sync::watch`
/// channel ([`SyncRunner::status`](super::SyncRunner::status)). Times are tokio's clock.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunnerStatus {
    /// Whether the initial lists are in and syncing has begun.
    pub ready: bool,
    /// Since when changes have been waiting for a successful sync (`None`: everything received
    /// is programmed).
    pub pending_since: Option<Instant>,
    /// The last successful sync, if any.
    pub last_success: Option<LastSync>,
    /// Failed syncs in a row (0 after a success).
    pub consecutive_failures: u32,
}

/// One successful sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastSync {
    /// When it ended.
    pub at: Instant,
    /// Its mode.
    pub mode: SyncMode,
    /// How long the datapath took.
    pub duration: Duration,
}
