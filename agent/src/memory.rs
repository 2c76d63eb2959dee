//! Giving back what a full sync freed. A full sync builds the next ruleset and its record
//! beside the current ones, then frees the old; glibc keeps freed heap pages resident, so
//! without this the agent's RSS would stay at the peak of its last full sync for good.
//! After each successful full sync (seen on the runner's status), `malloc_trim` returns the
//! free pages to the kernel, on a blocking thread so syncs never wait for it.

use proxy_core::SyncMode;
use proxy_core::runner::RunnerStatus;
use tokio::sync::watch;
use tracing::debug;

/// Trims the heap after each full sync `status` reports, until the runner is gone.
pub async fn release_after_full_syncs(mut status: watch::Receiver<RunnerStatus>) {
    let mut trimmed_for = None;
    while status.changed().await.is_ok() {
        let full = status
            .borrow_and_update()
            .last_success
            .filter(|sync| sync.mode == SyncMode::Full)
            .map(|sync| sync.at);
        if full.is_some() && full != trimmed_for {
            trimmed_for = full;
            let started = tokio::time::Instant::now();
            let released = tokio::task::spawn_blocking(trim).await.unwrap_or(false);
            debug!(released, took = ?started.elapsed(), "returned freed memory to the kernel");
        }
    }
}

/// Returns the allocator's free pages to the kernel; whether any were.
#[cfg(target_env = "gnu")]
#[allow(unsafe_code)]
fn trim() -> bool {
    // SAFETY: malloc_trim only works on glibc's own allocator state, under its locks; it
    // takes no pointer and is safe to call from any thread at any time.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Other allocators give memory back on their own.
#[cfg(not(target_env = "gnu"))]
fn trim() -> bool {
    false
}
