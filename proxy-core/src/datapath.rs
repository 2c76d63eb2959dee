//! The `Datapath` trait: what a backend implements to program a node's kernel.

use std::time::Duration;

use async_trait::async_trait;

use crate::error::Result;
use crate::state::{Delta, ProxyState};

/// Whether a sync may rely on what the backend programmed before.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SyncMode {
    /// Rewrite everything from the state: the first sync, the periodic repair, and every sync
    /// after a failure. The delta is informative only.
    Full,
    /// Touch only what the delta names; the rest is assumed to be still as programmed.
    Partial,
}

/// What a sync wrote, as the backend counts it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Kernel objects (rules, chains, set/map elements) added.
    pub objects_added: usize,
    /// Kernel objects removed.
    pub objects_removed: usize,
    /// Messages (netlink messages, restore lines) sent.
    pub messages: usize,
    /// Bytes sent.
    pub bytes: usize,
    /// Time spent in the backend.
    pub duration: Duration,
}

/// A datapath backend. The sync runner calls it from one task, never concurrently.
///
/// A backend that fails a sync must leave the previously programmed rules in place where the
/// kernel allows it; the runner then retries with [`SyncMode::Full`].
#[async_trait]
pub trait Datapath: Send {
    /// The backend's name, for logs and metrics (`nftables`, `iptables`, ...).
    fn name(&self) -> &str;

    /// Makes the kernel match `state`. With [`SyncMode::Partial`] only the service ports named
    /// in `delta` need to be rewritten.
    async fn sync(
        &mut self,
        state: &ProxyState,
        delta: &Delta,
        mode: SyncMode,
    ) -> Result<SyncReport>;

    /// Removes everything this backend ever created. Idempotent.
    async fn cleanup(&mut self) -> Result<()>;
}
