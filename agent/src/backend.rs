//! The one place that knows the backends: everything else works on any [`Datapath`].
//!
//! `nftables` is [`backend_nft::datapath::NftDatapath`]: a [`DatapathConfig`] becomes its
//! planner configuration ([`plan_config`]) and, with `--netns NAME`, the namespace file
//! `/run/netns/NAME` its netlink socket is opened in. The node IPs are not part of
//! [`DatapathConfig`]: the planner takes them from the state's node (the `--node-ip` flags).

use std::path::PathBuf;

use async_trait::async_trait;
use backend_nft::datapath::{NftConfig, NftDatapath};
use backend_nft::ir::Ruleset;
use backend_nft::plan;
use proxy_core::{Datapath, Delta, ProxyState, SyncMode, SyncReport};

use crate::cli::{Backend, NodePortAddresses};
use crate::config::{DatapathConfig, DemoConfig};
use crate::error::Error;

/// Where `ip netns add` puts named namespaces.
const NETNS_DIR: &str = "/run/netns";

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

/// The nftables planner's configuration for `config`; node IPs are left empty (the datapath
/// takes them from the state's node at each sync).
pub fn plan_config(config: &DatapathConfig) -> plan::Config {
    plan::Config {
        node_ips: Vec::new(),
        cluster_cidrs: config.cluster_cidrs.clone(),
        service_cidrs: config.service_cidrs.clone(),
        nodeport_addresses: match &config.nodeport_addresses {
            NodePortAddresses::Primary => plan::NodePortAddresses::Primary,
            NodePortAddresses::Cidrs(cidrs) => plan::NodePortAddresses::Cidrs(cidrs.clone()),
        },
        masquerade_all: config.masquerade_all,
    }
}

/// The nftables datapath's configuration for `config`.
pub fn nft_config(config: &DatapathConfig) -> NftConfig {
    NftConfig {
        netns: config
            .netns
            .as_ref()
            .map(|name| PathBuf::from(NETNS_DIR).join(name)),
        plan: plan_config(config),
    }
}

/// Opens the datapath `config` names (for `sync`, `run` and `cleanup`): the netlink socket is
/// opened now, in the target namespace; nothing is sent yet.
pub fn datapath(config: &DatapathConfig) -> Result<AnyDatapath, Error> {
    match config.backend {
        Backend::Nftables => NftDatapath::new(nft_config(config))
            .map(AnyDatapath::new)
            .map_err(|e| Error::Sync(e.to_string())),
    }
}

/// The ruleset the backend `config` names would program for `state`, in its own syntax (for
/// `dump`; touches nothing): the planner's full sync, applied to an empty in-memory kernel and
/// printed the way `nft list ruleset` prints it.
pub fn render(config: &DatapathConfig, state: &ProxyState) -> Result<String, Error> {
    match config.backend {
        Backend::Nftables => {
            let mut plan = plan_config(config);
            plan.node_ips = state.node.ips.clone();
            let tx = plan::full_transaction(state, &plan);
            let ruleset = Ruleset::from_transaction(&tx)
                .map_err(|e| Error::Sync(format!("planning the ruleset: {e}")))?;
            Ok(backend_nft::render::ruleset(&ruleset))
        }
    }
}

/// Runs the demo of the backend `config` names.
pub async fn demo(config: &DemoConfig) -> Result<(), Error> {
    crate::demo::run(config).await
}
