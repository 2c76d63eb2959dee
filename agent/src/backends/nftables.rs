//! The nftables backend ([`NftDatapath`]): its configuration, opening it (removing our
//! iptables leftovers first), and its planned ruleset as `nft list ruleset` prints it.

use backend_iptables::Variant;
use backend_nft::datapath::{NftConfig, NftDatapath};
use backend_nft::ir::Ruleset;
use backend_nft::owner::TableFlags;
use backend_nft::plan;
use proxy_core::ProxyState;

use super::{iptables, netns_path};
use crate::config::{Backend, DatapathConfig};
use crate::error::Error;

/// The nftables planner's configuration for `config` (see [`DatapathConfig::node_config`]).
pub fn plan_config(config: &DatapathConfig) -> plan::Config {
    config.node_config()
}

/// The nftables datapath's configuration for `config`.
pub fn nft_config(config: &DatapathConfig) -> NftConfig {
    NftConfig {
        netns: netns_path(config),
        plan: plan_config(config),
        table_flags: TableFlags::Auto,
    }
}

/// Opens the datapath (its netlink socket, in the target namespace); changes nothing.
pub fn datapath(config: &DatapathConfig) -> Result<NftDatapath, Error> {
    NftDatapath::new(nft_config(config)).map_err(|source| Error::Open {
        backend: Backend::Nftables,
        source,
    })
}

/// Opens the datapath, then removes our chains from both iptables variants.
pub fn open(config: &DatapathConfig) -> Result<NftDatapath, Error> {
    let datapath = datapath(config)?;
    let netns = netns_path(config);
    for variant in Variant::ALL {
        iptables::remove_leftovers(netns.as_deref(), variant, Backend::Nftables);
    }
    Ok(datapath)
}

/// The planner's full sync of `state`, applied to an empty in-memory kernel and printed the
/// way `nft list ruleset` prints it.
pub fn render(config: &DatapathConfig, state: &ProxyState) -> Result<String, Error> {
    let plan = plan_config(config).for_node(&state.node);
    let tx = plan::full_transaction(state, &plan);
    let ruleset = Ruleset::from_transaction(&tx).map_err(Error::Plan)?;
    Ok(backend_nft::render::ruleset(&ruleset))
}
