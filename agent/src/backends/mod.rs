//! The one place that knows the backends: everything else works on any [`Datapath`]. One file
//! per backend ([`nftables`], [`iptables`]): its configuration from a [`DatapathConfig`],
//! opening it, removing other backends' leftovers, and printing its planned ruleset.
//!
//! With `--netns NAME`, a backend works in the namespace file `/run/netns/NAME`. The node IPs
//! are not part of [`DatapathConfig`]: the planners take them from the state's node at each
//! sync (the `--node-ip` flags, or the Node object's addresses).
//!
//! # Switching backends
//!
//! Rules of two backends in one namespace would both see every packet. So, like kube-proxy
//! when its mode changes, `sync` and `run` start with [`open`], which removes the other
//! backends' leftovers of ours before the first sync: starting `nftables` removes our
//! iptables chains (both variants); starting `iptables` removes our nftables tables
//! (`ip svcproxy`, `ip6 svcproxy`) and our chains in the other iptables variant. `cleanup`
//! touches only the backend it names.

pub mod iptables;
pub mod nftables;

use std::path::PathBuf;

use async_trait::async_trait;
use proxy_core::{Datapath, Delta, ProxyState, SyncMode, SyncReport};

use crate::config::{Backend, DatapathConfig, DemoConfig};
use crate::error::Error;

/// Where `ip netns add` puts named namespaces.
pub const NETNS_DIR: &str = "/run/netns";

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

/// The namespace file of `--netns NAME`.
pub fn netns_path(config: &DatapathConfig) -> Option<PathBuf> {
    config
        .netns
        .as_ref()
        .map(|name| PathBuf::from(NETNS_DIR).join(name))
}

/// Opens the datapath `config` names: the target namespace is opened now (and, for iptables
/// with `--iptables-variant auto`, the variant detected there); nothing is changed yet. `sync`
/// and `run` use [`open`], which also removes other backends' leftovers.
pub fn datapath(config: &DatapathConfig) -> Result<AnyDatapath, Error> {
    match config.backend {
        Backend::Nftables => nftables::datapath(config).map(AnyDatapath::new),
        Backend::Iptables => iptables::datapath(config).map(AnyDatapath::new),
    }
}

/// Opens the datapath `config` names, then removes what other backends of ours left in the
/// namespace (see the module documentation). A leftover that cannot be removed is a warning:
/// the sync goes on.
pub async fn open(config: &DatapathConfig) -> Result<AnyDatapath, Error> {
    match config.backend {
        Backend::Nftables => nftables::open(config).map(AnyDatapath::new),
        Backend::Iptables => iptables::open(config).await.map(AnyDatapath::new),
    }
}

/// Removes everything the backend `config` names programmed (`cleanup`); other backends' rules
/// are left alone.
pub async fn cleanup(config: &DatapathConfig) -> Result<(), Error> {
    match config.backend {
        Backend::Nftables => {
            let mut datapath = nftables::datapath(config)?;
            datapath.cleanup().await.map_err(Error::Cleanup)
        }
        Backend::Iptables => iptables::cleanup(config).await,
    }
}

/// The ruleset the backend `config` names would program for `state`, in its own syntax (for
/// `dump`; touches nothing).
pub fn render(config: &DatapathConfig, state: &ProxyState) -> Result<String, Error> {
    match config.backend {
        Backend::Nftables => nftables::render(config, state),
        Backend::Iptables => Ok(iptables::render(config, state)),
    }
}

/// Runs the demo of the backend `config` names.
#[cfg(feature = "demo")]
pub async fn demo(config: &DemoConfig) -> Result<(), Error> {
    crate::demo::run(config).await
}

/// The demo is not in this build.
#[cfg(not(feature = "demo"))]
pub async fn demo(_config: &DemoConfig) -> Result<(), Error> {
    Err(Error::Demo(
        "this build has no demo (built without the `demo` feature)".to_owned(),
    ))
}
