//! The one place that knows the backends: everything else works on any [`Datapath`].
//!
//! Until the nftables backend lands, every function here answers "not available in this
//! build yet"; `sync`, `run`, `dump` and `cleanup` are otherwise complete, and only this module
//! changes when a backend is added.

use async_trait::async_trait;
use proxy_core::{Datapath, Delta, ProxyState, SyncMode, SyncReport};

use crate::cli::Backend;
use crate::config::{DatapathConfig, DemoConfig};
use crate::error::Error;

/// Any backend, chosen at run time.
pub struct AnyDatapath(Box<dyn Datapath>);

impl AnyDatapath {
    /// Wraps a backend.
    pub fn new(datapath: impl Datapath + 'static) -> Self {
        AnyDatapath(Box::new(datapath))
    }
}

#[async_trait]
impl Datapath for AnyDatapath {
    fn name(&self) -> &str {
        self.0.name()
    }

    async fn sync(
        &mut self,
        state: &ProxyState,
        delta: &Delta,
        mode: SyncMode,
    ) -> proxy_core::Result<SyncReport> {
        self.0.sync(state, delta, mode).await
    }

    async fn cleanup(&mut self) -> proxy_core::Result<()> {
        self.0.cleanup().await
    }
}

/// Opens the datapath `config` names (for `sync`, `run` and `cleanup`).
pub fn datapath(config: &DatapathConfig) -> Result<AnyDatapath, Error> {
    match config.backend {
        Backend::Nftables => Err(Error::BackendUnavailable(Backend::Nftables)),
    }
}

/// The ruleset the backend `config` names would program for `state`, in its own syntax (for
/// `dump`; touches nothing).
pub fn render(config: &DatapathConfig, _state: &ProxyState) -> Result<String, Error> {
    match config.backend {
        Backend::Nftables => Err(Error::BackendUnavailable(Backend::Nftables)),
    }
}

/// Runs the demo of the backend `config` names.
pub async fn demo(config: &DemoConfig) -> Result<(), Error> {
    crate::demo::run(config).await
}
