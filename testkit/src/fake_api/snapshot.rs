//! [`Snapshot`]: the objects of one kind as they were at a past resourceVersion, read lazily
//! by merging the current objects with the "before" side of the changes made since.

use std::collections::{BTreeMap, btree_map};
use std::iter::Peekable;
use std::sync::Arc;

use serde_json::Value;

use super::kind::Kind;
use super::store::Key;

/// An iterator over `(key, object)` in key order, as of the snapshot's version.
pub(crate) struct Snapshot<'a> {
    kind: Kind,
    /// Current objects from the start key on (other kinds follow; they end the walk).
    current: Peekable<btree_map::Range<'a, Key, Arc<Value>>>,
    /// For keys changed since the version: their state then (`None`: did not exist).
    undo: Peekable<btree_map::IntoIter<&'a Key, Option<&'a Arc<Value>>>>,
}

impl<'a> Snapshot<'a> {
    /// Merges `current` (starting at the first key wanted) with `undo`.
    pub fn new(
        kind: Kind,
        current: btree_map::Range<'a, Key, Arc<Value>>,
        undo: BTreeMap<&'a Key, Option<&'a Arc<Value>>>,
    ) -> Snapshot<'a> {
        Snapshot {
            kind,
            current: current.peekable(),
            undo: undo.into_iter().peekable(),
        }
    }

    /// The next key in either source, with its state at the snapshot's version.
    fn step(&mut self) -> Option<(&'a Key, Option<&'a Arc<Value>>)> {
        let current = self
            .current
            .peek()
            .map(|(k, _)| *k)
            .filter(|k| k.kind == self.kind);
        let undone = self.undo.peek().map(|(k, _)| *k);
        match (current, undone) {
            (None, None) => None,
            (Some(c), Some(u)) if c == u => {
                self.current.next();
                self.undo.next()
            }
            (Some(c), Some(u)) if u < c => self.undo.next(),
            (None, Some(_)) => self.undo.next(),
            (Some(_), _) => self.current.next().map(|(k, v)| (k, Some(v))),
        }
    }
}

impl<'a> Iterator for Snapshot<'a> {
    type Item = (&'a Key, &'a Arc<Value>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.step()? {
                (key, Some(value)) => return Some((key, value)),
                // Created after the version: not in the snapshot.
                (_, None) => continue,
            }
        }
    }
}
