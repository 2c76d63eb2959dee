//! The one place that knows the backends: everything else works on any [`Datapath`].
//!
//! `nftables` is [`backend_nft::datapath::NftDatapath`]: a [`DatapathConfig`] becomes its
//! planner configuration ([`plan_config`]) and, with `--netns NAME`, the namespace file
//! `/run/netns/NAME` its netlink socket is opened in. The node IPs are not part of
//! [`DatapathConfig`]: the planner takes them from the state's node (the `--node-ip` flags).
//!
//! `iptables` is [`backend_iptables::datapath::IptablesDatapath`], configured the same way
//! ([`iptables_config`]), driving the `iptables-legacy` or `iptables-nft` tools as
//! `--iptables-variant` says (`auto`: the one the node uses).
//!
//! # Switching backends
//!
//! Rules of two backends in one namespace would both see every packet. So, like kube-proxy
//! when its mode changes, `sync` and `run` start with [`open`], which removes the other
//! backends' leftovers of ours before the first sync: starting `nftables` removes our
//! iptables chains (both variants); starting `iptables` removes our nftables tables
//! (`ip svcproxy`, `ip6 svcproxy`) and our chains in the other iptables variant. `cleanup`
//! touches only the backend it names.

use std::path::PathBuf;

use async_trait::async_trait;
use backend_iptables::Variant;
use backend_iptables::datapath::{IptablesConfig, IptablesDatapath, cleanup_variant};
use backend_nft::datapath::{NftConfig, NftDatapath};
use backend_nft::ir::Ruleset;
use backend_nft::owner::TableFlags;
use backend_nft::plan;
use proxy_core::{Datapath, Delta, ProxyState, SyncMode, SyncReport};
use tracing::{info, warn};

use crate::cli::{Backend, IptablesVariant};
use crate::config::{DatapathConfig, DemoConfig};
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

/// The nftables planner's configuration for `config`; node IPs are left empty (the datapath
/// takes them from the state's node at each sync).
pub fn plan_config(config: &DatapathConfig) -> plan::Config {
    plan::Config {
        node_ips: Vec::new(),
        cluster_cidrs: config.cluster_cidrs.clone(),
        service_cidrs: config.service_cidrs.clone(),
        nodeport_addresses: config.nodeport_addresses.clone(),
        masquerade_all: config.masquerade_all,
    }
}

/// The nftables datapath's configuration for `config`.
pub fn nft_config(config: &DatapathConfig) -> NftConfig {
    NftConfig {
        netns: netns_path(config),
        plan: plan_config(config),
        table_flags: TableFlags::Auto,
    }
}

/// The namespace file of `--netns NAME`.
fn netns_path(config: &DatapathConfig) -> Option<PathBuf> {
    config
        .netns
        .as_ref()
        .map(|name| PathBuf::from(NETNS_DIR).join(name))
}

/// The iptables planner's configuration for `config`; node IPs are left empty (the datapath
/// takes them from the state's node at each sync), the chunking to the datapath (it depends
/// on the variant).
pub fn iptables_plan_config(config: &DatapathConfig) -> backend_iptables::plan::Config {
    backend_iptables::plan::Config {
        node: plan_config(config),
        chunk_chains: None,
    }
}

/// The variant `--iptables-variant` forces, if any.
pub fn forced_variant(variant: IptablesVariant) -> Option<Variant> {
    match variant {
        IptablesVariant::Auto => None,
        IptablesVariant::Legacy => Some(Variant::Legacy),
        IptablesVariant::Nft => Some(Variant::Nft),
    }
}

/// The iptables datapath's configuration for `config`.
pub fn iptables_config(config: &DatapathConfig) -> IptablesConfig {
    IptablesConfig {
        netns: netns_path(config),
        variant: forced_variant(config.iptables_variant),
        plan: iptables_plan_config(config),
        ..IptablesConfig::default()
    }
}

/// Opens the datapath `config` names: the target namespace is opened now (and, for iptables
/// with `--iptables-variant auto`, the variant detected there); nothing is changed yet. `sync`
/// and `run` use [`open`], which also removes other backends' leftovers.
pub fn datapath(config: &DatapathConfig) -> Result<AnyDatapath, Error> {
    let opened = match config.backend {
        Backend::Nftables => NftDatapath::new(nft_config(config)).map(AnyDatapath::new),
        Backend::Iptables => IptablesDatapath::new(iptables_config(config)).map(AnyDatapath::new),
    };
    opened.map_err(|e| Error::Sync(e.to_string()))
}

/// Opens the datapath `config` names, then removes what other backends of ours left in the
/// namespace (see the module documentation). A leftover that cannot be removed is a warning:
/// the sync goes on.
pub async fn open(config: &DatapathConfig) -> Result<AnyDatapath, Error> {
    let netns = netns_path(config);
    match config.backend {
        Backend::Nftables => {
            let datapath =
                NftDatapath::new(nft_config(config)).map_err(|e| Error::Sync(e.to_string()))?;
            for variant in Variant::ALL {
                remove_iptables_leftovers(netns.as_deref(), variant, Backend::Nftables);
            }
            Ok(AnyDatapath::new(datapath))
        }
        Backend::Iptables => {
            let datapath = IptablesDatapath::new(iptables_config(config))
                .map_err(|e| Error::Sync(e.to_string()))?;
            remove_iptables_leftovers(
                netns.as_deref(),
                datapath.variant().other(),
                Backend::Iptables,
            );
            match NftDatapath::new(nft_config(config)) {
                Ok(mut nft) => match nft.cleanup().await {
                    Ok(()) => {
                        tracing::debug!("no nftables tables of ours left (switching to iptables)")
                    }
                    Err(e) => warn!(error = %e, "cannot remove the nftables backend's tables"),
                },
                Err(e) => warn!(error = %e, "cannot look for the nftables backend's tables"),
            }
            Ok(AnyDatapath::new(datapath))
        }
    }
}

/// Removes our chains from iptables `variant`, logging what was there.
fn remove_iptables_leftovers(netns: Option<&std::path::Path>, variant: Variant, now: Backend) {
    match cleanup_variant(netns, variant) {
        Ok(cleaned) if cleaned.is_empty() => {}
        Ok(cleaned) => info!(
            %variant,
            chains = cleaned.chains,
            jumps = cleaned.jumps,
            base_chains = cleaned.base_chains,
            backend = %now,
            "removed svcproxy's iptables chains left by an earlier backend"
        ),
        Err(e) => warn!(%variant, error = %e, "cannot remove svcproxy's iptables leftovers"),
    }
}

/// Removes everything the backend `config` names programmed (`cleanup`); other backends' rules
/// are left alone. For iptables with `--iptables-variant auto`, both variants are cleaned.
pub async fn cleanup(config: &DatapathConfig) -> Result<(), Error> {
    if config.backend == Backend::Iptables && config.iptables_variant == IptablesVariant::Auto {
        let netns = netns_path(config);
        for variant in Variant::ALL {
            let cleaned = cleanup_variant(netns.as_deref(), variant).map_err(Error::Cleanup)?;
            info!(
                %variant,
                chains = cleaned.chains,
                jumps = cleaned.jumps,
                base_chains = cleaned.base_chains,
                "iptables chains removed"
            );
        }
        return Ok(());
    }
    let mut datapath = datapath(config)?;
    datapath.cleanup().await.map_err(Error::Cleanup)
}

/// The ruleset the backend `config` names would program for `state`, in its own syntax (for
/// `dump`; touches nothing). nftables: the planner's full sync, applied to an empty in-memory
/// kernel and printed the way `nft list ruleset` prints it. iptables: the restore input a full
/// sync sends to an empty namespace, per family under a `#` comment naming the tool (one
/// document each, whatever the variant: both take the same rules), the jump rules from the
/// built-in chains included as `-I` lines.
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
        Backend::Iptables => {
            let mut plan = iptables_plan_config(config);
            plan.node.node_ips = state.node.ips.clone();
            let plan = backend_iptables::plan::full_plan(state, &plan);
            let mut out = String::new();
            for family in &plan.families {
                let tool = match family.family {
                    proxy_core::model::IpFamily::V4 => "iptables-restore --noflush",
                    proxy_core::model::IpFamily::V6 => "ip6tables-restore --noflush",
                };
                out.push_str(&format!("# {tool} ({})\n", family.family));
                for text in backend_iptables::datapath::inputs_from_scratch(family) {
                    out.push_str(&text);
                }
            }
            Ok(out)
        }
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
