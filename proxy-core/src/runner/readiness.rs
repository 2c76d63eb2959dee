//! When the runner may make its first sync: once every kind the source lists has completed its
//! initial list (kube-proxy waits for Services and EndpointSlices), and, if asked, once the
//! Node is listed too or a bounded wait for it has passed.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::time::Instant;
use tracing::warn;

use crate::error::ObjectKind;

/// The initial lists seen so far, against those required.
#[derive(Debug)]
pub(super) struct Readiness {
    /// Kinds whose initial list must be complete.
    required: BTreeSet<ObjectKind>,
    /// Kinds whose initial list is complete.
    listed: BTreeSet<ObjectKind>,
    /// How long to wait for the Node's list, if at all.
    node_wait: Option<Duration>,
    /// When the required lists were all in (the Node wait starts then).
    required_done: Option<Instant>,
    /// Whether syncing may begin (never goes back).
    ready: bool,
}

impl Readiness {
    /// Waits for the lists of `required`, then (if `node_wait` is set) for the Node's list at
    /// most that long.
    pub(super) fn new(required: BTreeSet<ObjectKind>, node_wait: Option<Duration>) -> Self {
        Readiness {
            required,
            listed: BTreeSet::new(),
            node_wait,
            required_done: None,
            ready: false,
        }
    }

    /// Records that the initial lists of `kinds` are complete.
    pub(super) fn listed(&mut self, kinds: impl IntoIterator<Item = ObjectKind>) {
        self.listed.extend(kinds);
    }

    /// Whether syncing may begin at `now`; logs a warning when it begins without the Node.
    pub(super) fn check(&mut self, now: Instant) -> bool {
        if self.ready {
            return true;
        }
        if !self.required.is_subset(&self.listed) {
            return false;
        }
        let done = *self.required_done.get_or_insert(now);
        self.ready = match self.node_wait {
            None => true,
            Some(_) if self.listed.contains(&ObjectKind::Node) => true,
            Some(wait) if now >= done + wait => {
                warn!(waited = ?wait, "this node's Node object was not listed in time: syncing without its labels and addresses");
                true
            }
            Some(_) => false,
        };
        self.ready
    }

    /// When [`Readiness::check`] may turn true without an event: the end of the Node wait.
    pub(super) fn deadline(&self) -> Option<Instant> {
        match (self.ready, self.required_done, self.node_wait) {
            (false, Some(done), Some(wait)) => Some(done + wait),
            _ => None,
        }
    }
}
