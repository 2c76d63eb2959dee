//! [`AfterSync`]: work that must follow each successful sync with its delta (conntrack
//! cleanup of stale UDP endpoints).

use std::future::Future;
use std::pin::Pin;

use crate::state::{Delta, ProxyState};

/// A boxed future borrowing the state and delta.
pub type HookFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Called by the runner after each successful call to the datapath, before the next event is
/// handled, with the state just programmed and the delta it was given (after a failure, the
/// merged delta of every change since the last success).
pub trait AfterSync: Send {
    /// Does the work; errors are the hook's to log.
    fn after_sync<'a>(&'a mut self, state: &'a ProxyState, delta: &'a Delta) -> HookFuture<'a>;
}
