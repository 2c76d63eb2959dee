//! Relists in progress: the keys of each kind seen since its relist began, so that what was
//! not seen again can be deleted when it ends, without holding the listed objects.

use std::collections::BTreeSet;

use crate::error::ObjectKind;
use crate::model::ServiceKey;

use super::endpoints_tracker::SliceKey;

/// The keys seen by the relists in progress, per kind.
#[derive(Debug, Default)]
pub(super) struct Relists {
    /// Services seen, while Services are being relisted.
    pub services: Option<BTreeSet<ServiceKey>>,
    /// Slices seen, while EndpointSlices are being relisted.
    pub slices: Option<BTreeSet<SliceKey>>,
    /// Whether this node's Node was seen, while Nodes are being relisted.
    pub node: Option<bool>,
}

impl Relists {
    /// Starts (or restarts) the relist of `kind`.
    pub fn begin(&mut self, kind: ObjectKind) {
        match kind {
            ObjectKind::Service => self.services = Some(BTreeSet::new()),
            ObjectKind::EndpointSlice => self.slices = Some(BTreeSet::new()),
            ObjectKind::Node => self.node = Some(false),
        }
    }

    /// Records a Service seen.
    pub fn saw_service(&mut self, key: &ServiceKey) {
        if let Some(seen) = &mut self.services {
            seen.insert(key.clone());
        }
    }

    /// Records a slice seen.
    pub fn saw_slice(&mut self, key: &SliceKey) {
        if let Some(seen) = &mut self.slices {
            seen.insert(key.clone());
        }
    }

    /// Records that this node's Node was seen.
    pub fn saw_node(&mut self) {
        if let Some(seen) = &mut self.node {
            *seen = true;
        }
    }
}
