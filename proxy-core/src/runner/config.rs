//! [`RunnerConfig`]: the sync runner's timing knobs.

use std::time::Duration;

/// The shortest `sync_period` the runner accepts, so that a zero period cannot spin.
const MIN_SYNC_PERIOD_FLOOR: Duration = Duration::from_millis(1);

/// The sync runner's timing: how often it may sync, how often it must, and how it retries.
///
/// See the [module documentation](crate::runner) for exactly how each value is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunnerConfig {
    /// The least time between the starts of two syncs; changes arriving sooner are coalesced
    /// into the next sync (kube-proxy's `--iptables-min-sync-period`). Default 1 s.
    pub min_sync_period: Duration,
    /// The most time between the starts of two full syncs: the periodic repair of drift
    /// (kube-proxy's `--iptables-sync-period`), and the retry delay after a fatal failure.
    /// Default 30 s.
    pub sync_period: Duration,
    /// The retry delay after the first of a run of retryable failures. Default 1 s.
    pub initial_backoff: Duration,
    /// The retry delay never grows beyond this. Default 30 s.
    pub max_backoff: Duration,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            min_sync_period: Duration::from_secs(1),
            sync_period: Duration::from_secs(30),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl RunnerConfig {
    /// This configuration made consistent: `sync_period` at least `min_sync_period` (and at
    /// least 1 ms), `max_backoff` at least `initial_backoff`.
    pub fn normalized(self) -> Self {
        RunnerConfig {
            sync_period: self
                .sync_period
                .max(self.min_sync_period)
                .max(MIN_SYNC_PERIOD_FLOOR),
            max_backoff: self.max_backoff.max(self.initial_backoff),
            ..self
        }
    }
}
