//! [`Shared`]: the state the test-facing handle and the server's tasks share.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;

use super::kind::Kind;
use super::options::{Options, Pause, Requests};
use super::store::Store;

/// Store, notification channels, pause state and request counts.
#[derive(Debug)]
pub(crate) struct Shared {
    store: Mutex<Store>,
    /// The store's latest resourceVersion; watches wait on it for new changes.
    pub changed: watch::Sender<u64>,
    /// A counter bumped by `drop_watches`; every open watch connection is cut when it moves.
    pub drops: watch::Sender<u64>,
    /// The pause mode, if paused.
    pub pause: watch::Sender<Option<Pause>>,
    requests: Mutex<BTreeMap<Kind, Requests>>,
    /// The settings the server was started with.
    pub options: Options,
}

/// Which request counter to bump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verb {
    /// A list page; `true` for the first page (no continue token).
    List(bool),
    /// A watch.
    Watch,
    /// A GET of one object.
    Get,
}

impl Shared {
    /// Fresh state with an empty store.
    pub fn new(options: Options) -> Shared {
        Shared {
            store: Mutex::new(Store::default()),
            changed: watch::Sender::new(0),
            drops: watch::Sender::new(0),
            pause: watch::Sender::new(None),
            requests: Mutex::new(BTreeMap::new()),
            options,
        }
    }

    /// The store, locked (a panic while it was held does not make it unusable).
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `change` on the store and wakes the watches if the version moved.
    pub fn change<T>(&self, change: impl FnOnce(&mut Store) -> T) -> T {
        let (out, rv) = {
            let mut store = self.store();
            let out = change(&mut store);
            (out, store.rv())
        };
        self.changed.send_if_modified(|latest| {
            // Concurrent changes may report out of order: keep the highest.
            let moved = rv > *latest;
            *latest = (*latest).max(rv);
            moved
        });
        out
    }

    /// Counts one request.
    pub fn count(&self, kind: Kind, verb: Verb) {
        let mut requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        let counts = requests.entry(kind).or_default();
        match verb {
            Verb::List(first) => {
                counts.pages += 1;
                counts.lists += u64::from(first);
            }
            Verb::Watch => counts.watches += 1,
            Verb::Get => counts.gets += 1,
        }
    }

    /// The counts for `kind`.
    pub fn requests(&self, kind: Kind) -> Requests {
        let requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        requests.get(&kind).copied().unwrap_or_default()
    }
}
