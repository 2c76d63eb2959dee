//! The shadow: svcproxy's authoritative picture of what it programmed, so that a partial sync
//! can send only differences and never has to list the kernel's table.
//!
//! Every element of the shared maps is *owned* by the service ports that want it (usually one;
//! shared sets such as `cluster-ips` or `hairpin-endpoints` can have several). The element is
//! programmed while it has an owner, with the data of its first owner (service ports sort by
//! name), and deleted when its last owner lets go. Shared chains are recorded as they are
//! created; a full sync drops the ones no element needs any more (flushed in that transaction,
//! deleted in the next one, which kernels before 6.2 need).
//!
//! The planner never mutates a shadow: it returns a [`ShadowUpdate`] that the caller commits
//! with [`Shadow::commit`] only once the kernel accepted the transaction.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use proxy_core::model::ServicePortName;

use crate::ir::{ElemData, Family, Value};
use crate::names::{SetName, SharedChain};

use super::Config;

/// A service port, shared between the shadow's indexes.
pub(crate) type PortId = Arc<ServicePortName>;

/// The identity of an element: family, set and key. The key is shared, so the shadow's two
/// indexes (per port, per element) hold one copy of it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ElemKey {
    pub family: Family,
    pub set: SetName,
    pub key: Arc<[Value]>,
}

/// What an element carries besides its key. The comment (the service port's name) is shared
/// by every element of the port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ElemValue {
    pub data: Option<ElemData>,
    pub comment: Option<Arc<str>>,
}

/// The service ports wanting one element, sorted by name, each with the value it wants.
pub(crate) type Owners = Vec<(PortId, ElemValue)>;

/// The value an element is programmed with: its first owner's.
pub(crate) fn effective(owners: &Owners) -> Option<&ElemValue> {
    owners.first().map(|(_, v)| v)
}

/// Sets `port`'s wish for an element.
pub(crate) fn own(owners: &mut Owners, port: &PortId, value: ElemValue) {
    match owners.binary_search_by(|(p, _)| p.as_ref().cmp(port)) {
        Ok(i) => owners[i].1 = value,
        Err(i) => {
            // Exactly the room needed: nearly every element keeps one owner, and the shadow
            // keeps one list per element (a `Vec`'s first push would make room for four).
            owners.reserve_exact(1);
            owners.insert(i, (port.clone(), value));
        }
    }
}

/// Drops `port`'s wish for an element.
pub(crate) fn disown(owners: &mut Owners, port: &ServicePortName) {
    if let Ok(i) = owners.binary_search_by(|(p, _)| p.as_ref().cmp(port)) {
        owners.remove(i);
    }
}

/// What svcproxy programmed: see the module documentation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shadow {
    /// The configuration the table was built with; `None` until the first full sync.
    pub(crate) config: Option<Config>,
    /// The elements each service port owns.
    pub(crate) ports: BTreeMap<PortId, Vec<ElemKey>>,
    /// Every owned element with its owners.
    pub(crate) elements: BTreeMap<ElemKey, Owners>,
    /// Shared chains that exist with their rules.
    pub(crate) chains: BTreeSet<(Family, SharedChain)>,
    /// Shared chains flushed and unreferenced, to delete in the next transaction.
    pub(crate) stale: BTreeSet<(Family, SharedChain)>,
}

impl Shadow {
    /// An empty shadow: nothing programmed yet, so the next plan is a full rebuild.
    pub fn new() -> Self {
        Shadow::default()
    }

    /// Whether a full sync has been committed (a partial sync needs one first).
    pub fn is_programmed(&self) -> bool {
        self.config.is_some()
    }

    /// Forgets everything: the next plan rebuilds the table from scratch (used after cleanup).
    pub fn reset(&mut self) {
        *self = Shadow::default();
    }

    /// The number of map and set elements owned by service ports.
    pub fn element_count(&self) -> usize {
        self.elements.len()
    }

    /// The shared chains in place, by name, per family.
    pub fn chain_names(&self) -> Vec<(Family, String)> {
        self.chains.iter().map(|(f, c)| (*f, c.name())).collect()
    }

    /// Applies the update of a plan whose transaction the kernel accepted.
    pub fn commit(&mut self, update: ShadowUpdate) {
        match update.0 {
            Update::Replace(next) => *self = *next,
            Update::Patch(p) => {
                for (port, keys) in p.ports {
                    match keys {
                        Some(keys) => {
                            self.ports.insert(port, keys);
                        }
                        None => {
                            self.ports.remove(&port);
                        }
                    }
                }
                for (key, owners) in p.elements {
                    if owners.is_empty() {
                        self.elements.remove(&key);
                    } else {
                        self.elements.insert(key, owners);
                    }
                }
                for c in p.chains_added {
                    self.stale.remove(&c);
                    self.chains.insert(c);
                }
                for c in p.stale_deleted {
                    self.stale.remove(&c);
                }
            }
        }
    }
}

/// How a shadow changes when a plan's transaction succeeds; see [`Shadow::commit`].
#[derive(Clone, Debug)]
pub struct ShadowUpdate(pub(crate) Update);

/// The two kinds of update.
#[derive(Clone, Debug)]
pub(crate) enum Update {
    /// A full sync: the new shadow.
    Replace(Box<Shadow>),
    /// A partial sync: the changed entries.
    Patch(Patch),
}

/// The entries a partial sync changed.
#[derive(Clone, Debug, Default)]
pub(crate) struct Patch {
    /// New element lists of touched ports (`None`: the port is gone).
    pub ports: Vec<(PortId, Option<Vec<ElemKey>>)>,
    /// New owners of touched elements (empty: the element is gone).
    pub elements: Vec<(ElemKey, Owners)>,
    /// Shared chains created (or refilled after being stale).
    pub chains_added: Vec<(Family, SharedChain)>,
    /// Stale chains deleted.
    pub stale_deleted: Vec<(Family, SharedChain)>,
}

#[cfg(test)]
mod tests {
    use proxy_core::model::Protocol;

    use super::*;

    fn port(name: &str) -> PortId {
        Arc::new(ServicePortName::new("ns", name, "http", Protocol::Tcp))
    }

    fn value(comment: &str) -> ElemValue {
        ElemValue {
            data: None,
            comment: Some(comment.into()),
        }
    }

    #[test]
    fn owners_stay_sorted_and_hold_no_spare_room() {
        let mut owners = Owners::new();
        own(&mut owners, &port("b"), value("b"));
        assert_eq!(owners.capacity(), 1);
        own(&mut owners, &port("a"), value("a"));
        own(&mut owners, &port("b"), value("b2"));
        assert_eq!(owners.capacity(), 2);
        assert_eq!(effective(&owners), Some(&value("a")));
        disown(&mut owners, &port("a"));
        assert_eq!(effective(&owners), Some(&value("b2")));
    }
}
