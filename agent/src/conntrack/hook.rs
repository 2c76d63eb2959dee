//! The cleaner as the sync runner's after-sync hook, and the one the binary attaches.

use proxy_core::runner::{AfterSync, HookFuture};
use proxy_core::{Delta, ProxyState};
use tracing::{debug, info, warn};

use super::{Cleaner, Conntrack, NetlinkConntrack, NodePorts};
use crate::config::DatapathConfig;
use crate::config::NodePortAddresses;

impl<C: Conntrack + Send + 'static> AfterSync for Cleaner<C> {
    fn after_sync<'a>(&'a mut self, state: &'a ProxyState, delta: &'a Delta) -> HookFuture<'a> {
        Box::pin(async move {
            match self.cleanup(state, delta).await {
                Ok(report) if report.deleted > 0 => {
                    info!(deleted = report.deleted, "deleted stale conntrack entries");
                }
                Ok(_) => debug!("no stale conntrack entry"),
                Err(error) => {
                    warn!(%error, "conntrack cleanup failed: retried with the next sync");
                }
            }
        })
    }
}

/// The cleaner for the namespace `config` programs, or `None` (with a warning) when its
/// conntrack table cannot be opened: stale UDP entries then age out on their own.
pub fn cleaner(config: &DatapathConfig) -> Option<Cleaner<NetlinkConntrack>> {
    let netns = config
        .netns
        .as_ref()
        .map(|name| std::path::Path::new(crate::backends::NETNS_DIR).join(name));
    let node_ports = match &config.nodeport_addresses {
        NodePortAddresses::Primary => NodePorts::Primary,
        NodePortAddresses::Cidrs(cidrs) => NodePorts::Cidrs(cidrs.clone()),
    };
    match NetlinkConntrack::open(netns.as_deref()) {
        Ok(table) => Some(Cleaner::new(table, node_ports)),
        Err(error) => {
            warn!(%error, "cannot open the conntrack table: stale UDP entries will not be cleaned up");
            None
        }
    }
}
