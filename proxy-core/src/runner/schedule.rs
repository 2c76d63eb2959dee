//! The runner's clock arithmetic, kept free of I/O so each rule is one small function.

use std::time::Duration;

use tokio::time::Instant;

use super::config::RunnerConfig;
use crate::datapath::SyncMode;

/// When the next sync is due and which mode it takes, from what happened so far.
#[derive(Debug)]
pub(super) struct Schedule {
    config: RunnerConfig,
    /// Whether the first `Reset` arrived (nothing is synced before).
    ready: bool,
    /// The start of the previous call to the datapath.
    last_start: Option<Instant>,
    /// The start of the previous full call to the datapath.
    last_full_start: Option<Instant>,
    /// When to retry, while the previous call failed.
    retry_at: Option<Instant>,
    /// The delay after the next retryable failure.
    backoff: Duration,
    /// Failed calls in a row.
    failures: u32,
}

impl Schedule {
    /// A schedule waiting for the first `Reset`.
    pub(super) fn new(config: RunnerConfig) -> Self {
        Schedule {
            backoff: config.initial_backoff,
            config,
            ready: false,
            last_start: None,
            last_full_start: None,
            retry_at: None,
            failures: 0,
        }
    }

    /// Records that the initial list is complete: syncing may begin.
    pub(super) fn mark_ready(&mut self) {
        self.ready = true;
    }

    /// Whether syncing may begin.
    pub(super) fn is_ready(&self) -> bool {
        self.ready
    }

    /// Failed calls in a row.
    pub(super) fn failures(&self) -> u32 {
        self.failures
    }

    /// The earliest a call may start: `min_sync_period` after the start of the previous one.
    pub(super) fn earliest(&self, now: Instant) -> Instant {
        self.last_start
            .map_or(now, |last| last + self.config.min_sync_period)
    }

    /// When the next sync is due, given whether the tracker has `pending` changes; `None`
    /// before the first `Reset`.
    pub(super) fn next_due(&self, now: Instant, pending: bool) -> Option<Instant> {
        if !self.ready {
            return None;
        }
        let Some(last) = self.last_start else {
            return Some(now);
        };
        let due = match self.retry_at {
            Some(retry) => retry,
            None if pending => last,
            None => self.full_due(last),
        };
        Some(due.max(self.earliest(now)))
    }

    /// When the periodic full sync is due.
    fn full_due(&self, last_start: Instant) -> Instant {
        self.last_full_start.unwrap_or(last_start) + self.config.sync_period
    }

    /// Whether anything is owed to the datapath: the first sync, a retry, or `pending` changes.
    pub(super) fn has_work(&self, pending: bool) -> bool {
        self.ready && (self.last_start.is_none() || self.retry_at.is_some() || pending)
    }

    /// The mode of a sync starting at `now`: full for the first sync, a retry, or when the
    /// periodic full sync is due.
    pub(super) fn mode(&self, now: Instant) -> SyncMode {
        match self.last_start {
            None => SyncMode::Full,
            Some(_) if self.retry_at.is_some() => SyncMode::Full,
            Some(last) if now >= self.full_due(last) => SyncMode::Full,
            Some(_) => SyncMode::Partial,
        }
    }

    /// Records that a call to the datapath started at `at`.
    pub(super) fn started(&mut self, at: Instant, mode: SyncMode) {
        self.last_start = Some(at);
        if mode == SyncMode::Full {
            self.last_full_start = Some(at);
        }
    }

    /// Records that the call succeeded: no retry, and the backoff starts over.
    pub(super) fn succeeded(&mut self) {
        self.retry_at = None;
        self.backoff = self.config.initial_backoff;
        self.failures = 0;
    }

    /// Records that the call failed, ending at `end`, and schedules the retry: after the
    /// current backoff (which then doubles, up to the maximum) if `retryable`, else after
    /// `sync_period`.
    pub(super) fn failed(&mut self, end: Instant, retryable: bool) {
        let delay = if retryable {
            self.next_backoff()
        } else {
            self.config.sync_period
        };
        self.retry_at = Some(end + delay);
        self.failures = self.failures.saturating_add(1);
    }

    /// The current backoff, doubling the one after it.
    fn next_backoff(&mut self) -> Duration {
        let delay = self.backoff;
        self.backoff = delay.saturating_mul(2).min(self.config.max_backoff);
        delay
    }
}
