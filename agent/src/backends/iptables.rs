//! The iptables backend ([`IptablesDatapath`]): its configuration, opening it (removing our
//! nftables tables and our chains in the other variant first), cleaning up, and its restore
//! input.

use std::path::Path;

use backend_iptables::Variant;
use backend_iptables::datapath::{IptablesConfig, IptablesDatapath, cleanup_variant};
use proxy_core::model::IpFamily;
use proxy_core::{Datapath, ProxyState};
use tracing::{debug, info, warn};

use super::{netns_path, nftables};
use crate::config::{Backend, DatapathConfig, IptablesVariant};
use crate::error::Error;

/// The iptables planner's configuration for `config` (see [`DatapathConfig::node_config`]);
/// the chunking is left to the datapath (it depends on the variant).
pub fn plan_config(config: &DatapathConfig) -> backend_iptables::plan::Config {
    backend_iptables::plan::Config {
        node: config.node_config(),
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
        plan: plan_config(config),
        ..IptablesConfig::default()
    }
}

/// Opens the datapath (detecting the variant with `auto`); changes nothing.
pub fn datapath(config: &DatapathConfig) -> Result<IptablesDatapath, Error> {
    IptablesDatapath::new(iptables_config(config)).map_err(|source| Error::Open {
        backend: Backend::Iptables,
        source,
    })
}

/// Opens the datapath, then removes our chains from the other variant and our nftables tables.
pub async fn open(config: &DatapathConfig) -> Result<IptablesDatapath, Error> {
    let datapath = datapath(config)?;
    let netns = netns_path(config);
    remove_leftovers(
        netns.as_deref(),
        datapath.variant().other(),
        Backend::Iptables,
    );
    match nftables::datapath(config) {
        Ok(mut nft) => match nft.cleanup().await {
            Ok(()) => debug!("no nftables tables of ours left (switching to iptables)"),
            Err(e) => warn!(error = %e, "cannot remove the nftables backend's tables"),
        },
        Err(e) => warn!(error = %e, "cannot look for the nftables backend's tables"),
    }
    Ok(datapath)
}

/// Removes our chains from iptables `variant`, logging what was there; `now` is the backend
/// starting.
pub fn remove_leftovers(netns: Option<&Path>, variant: Variant, now: Backend) {
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

/// Removes our chains; with `--iptables-variant auto`, from both variants.
pub async fn cleanup(config: &DatapathConfig) -> Result<(), Error> {
    if config.iptables_variant != IptablesVariant::Auto {
        let mut datapath = datapath(config)?;
        return datapath.cleanup().await.map_err(Error::Cleanup);
    }
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
    Ok(())
}

/// The restore input a full sync sends to an empty namespace, per family under a `#` comment
/// naming the tool (one document each, whatever the variant: both take the same rules), the
/// jump rules from the built-in chains included as `-I` lines.
pub fn render(config: &DatapathConfig, state: &ProxyState) -> String {
    let mut plan = plan_config(config);
    plan.node = plan.node.for_node(&state.node);
    let plan = backend_iptables::plan::full_plan(state, &plan);
    let mut out = String::new();
    for family in &plan.families {
        let tool = match family.family {
            IpFamily::V4 => "iptables-restore --noflush",
            IpFamily::V6 => "ip6tables-restore --noflush",
        };
        out.push_str(&format!("# {tool} ({})\n", family.family));
        for text in backend_iptables::datapath::inputs_from_scratch(family) {
            out.push_str(&text);
        }
    }
    out
}
