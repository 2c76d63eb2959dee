//! Per-service pending changes that collapse when they come back to the applied state.

use std::collections::BTreeMap;

use crate::model::{ServiceKey, ServicePortName};
use crate::state::entries_of_service;

/// The values of one service's ports, by port.
pub(crate) type PerPort<V> = BTreeMap<ServicePortName, V>;

/// For each service whose per-port values differ from the applied ones, the values it has now.
#[derive(Debug)]
pub(crate) struct Pending<V> {
    by_service: BTreeMap<ServiceKey, PerPort<V>>,
}

impl<V> Default for Pending<V> {
    fn default() -> Self {
        Pending {
            by_service: BTreeMap::new(),
        }
    }
}

impl<V: PartialEq> Pending<V> {
    /// Records that service `key` now has `values`; a value equal to the applied one cancels
    /// any pending change, so no-op updates leave nothing to sync.
    pub(crate) fn record(&mut self, key: ServiceKey, values: PerPort<V>, applied: &PerPort<V>) {
        if entries_of_service(applied, &key).eq(values.iter()) {
            self.by_service.remove(&key);
        } else {
            self.by_service.insert(key, values);
        }
    }

    /// Whether any change is pending.
    pub(crate) fn is_empty(&self) -> bool {
        self.by_service.is_empty()
    }

    /// The services with a pending change.
    pub(crate) fn services(&self) -> impl Iterator<Item = &ServiceKey> {
        self.by_service.keys()
    }

    /// Takes every pending change, leaving none.
    pub(crate) fn take(&mut self) -> BTreeMap<ServiceKey, PerPort<V>> {
        std::mem::take(&mut self.by_service)
    }
}

/// The port names of service `key` in `applied`.
pub(crate) fn applied_names<V>(applied: &PerPort<V>, key: &ServiceKey) -> Vec<ServicePortName> {
    entries_of_service(applied, key)
        .map(|(n, _)| n.clone())
        .collect()
}
