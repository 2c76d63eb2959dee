//! Tracks Service changes between syncs, collapsing updates that change nothing.

use std::collections::BTreeSet;

use super::pending::{Pending, PerPort, applied_names};
use crate::model::{ServiceKey, ServicePort};
use crate::state::Delta;

/// The converted ports of one service, by identity.
type Ports = PerPort<ServicePort>;

/// Pending service changes: for each service whose ports differ from the applied state, the
/// ports it has now (empty: deleted or ignored).
#[derive(Debug, Default)]
pub(crate) struct ServiceTracker {
    pending: Pending<ServicePort>,
}

impl ServiceTracker {
    /// Records that service `key` now has `ports`. An update back to the applied ports cancels
    /// the pending change, so a no-op update (or add-then-delete) leaves nothing to sync.
    pub(crate) fn update(&mut self, key: ServiceKey, ports: Vec<ServicePort>, applied: &Ports) {
        let ports: Ports = ports.into_iter().map(|p| (p.name.clone(), p)).collect();
        self.pending.record(key, ports, applied);
    }

    /// Whether any change is pending.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The services known to the applied state or pending, for a relist.
    pub(crate) fn known(&self, applied: &Ports) -> BTreeSet<ServiceKey> {
        applied
            .keys()
            .map(|n| n.service.clone())
            .chain(self.pending.services().cloned())
            .collect()
    }

    /// Moves the pending changes into `applied`, recording them in `delta`.
    pub(crate) fn apply(&mut self, applied: &mut Ports, delta: &mut Delta) {
        for (key, ports) in self.pending.take() {
            for name in applied_names(applied, &key) {
                if ports.contains_key(&name) {
                    continue;
                }
                if let Some(gone) = applied.remove(&name) {
                    if gone.protocol().is_connectionless() {
                        delta
                            .deleted_udp_cluster_ips
                            .extend(gone.cluster_ips.iter().copied());
                    }
                    delta.deleted.insert(name);
                }
            }
            for (name, port) in ports {
                if applied.get(&name) != Some(&port) {
                    delta.changed.insert(name.clone());
                    applied.insert(name, port);
                }
            }
        }
    }
}
