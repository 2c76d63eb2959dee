//! Change trackers: record Service/EndpointSlice/Node events between syncs and hand out
//! (state, delta).

use crate::error::Error;
use crate::model::NodeInfo;
use crate::object::KubeObject;
use crate::state::{Delta, ProxyState};

/// Records Service, EndpointSlice and Node events between syncs; on each sync applies them to
/// the state and hands out what changed.
#[derive(Debug)]
pub struct ChangeTracker {
    state: ProxyState,
}

impl ChangeTracker {
    /// A tracker for the node `node` (its name marks local endpoints).
    pub fn new(node: NodeInfo) -> Self {
        ChangeTracker {
            state: ProxyState {
                node,
                ..ProxyState::default()
            },
        }
    }

    /// Records an added or updated object. Returns what conversion dropped.
    pub fn apply(&mut self, obj: &KubeObject) -> Vec<Error> {
        let _ = obj;
        todo!()
    }

    /// Records a deleted object.
    pub fn delete(&mut self, obj: &KubeObject) {
        let _ = obj;
        todo!()
    }

    /// Replaces everything with `objs` (a relist, or a re-read file): objects not in `objs` are
    /// deleted. Returns what conversion dropped.
    pub fn reset(&mut self, objs: &[KubeObject]) -> Vec<Error> {
        let _ = objs;
        todo!()
    }

    /// Whether events are waiting to be applied.
    pub fn has_pending(&self) -> bool {
        todo!()
    }

    /// Applies the recorded events to the state and returns what changed.
    pub fn take_delta(&mut self) -> Delta {
        todo!()
    }

    /// The state as of the last [`ChangeTracker::take_delta`].
    pub fn state(&self) -> &ProxyState {
        &self.state
    }
}
