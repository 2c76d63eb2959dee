//! [`FakeConntrack`]: an in-memory conntrack table for tests, observable through a shared
//! handle.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use proxy_core::model::IpFamily;

use super::entry::Entry;
use super::error::Error;
use super::table::{Conntrack, Deleted};

/// What the fake holds and what it was asked.
#[derive(Debug, Default)]
struct Table {
    entries: Vec<Entry>,
    dumps: Vec<IpFamily>,
    deleted: Vec<Entry>,
    fail_next_dump: bool,
}

/// An in-memory conntrack table. Clones share one table, so a test keeps a handle to look at
/// what a [`super::Cleaner`] did with the clone it was given.
#[derive(Clone, Debug, Default)]
pub struct FakeConntrack {
    table: Arc<Mutex<Table>>,
}

impl FakeConntrack {
    /// A table holding `entries`.
    pub fn new(entries: impl IntoIterator<Item = Entry>) -> Self {
        let fake = FakeConntrack::default();
        fake.with(|t| t.entries.extend(entries));
        fake
    }

    fn with<T>(&self, f: impl FnOnce(&mut Table) -> T) -> T {
        f(&mut self.table.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Adds an entry.
    pub fn insert(&self, entry: Entry) {
        self.with(|t| t.entries.push(entry));
    }

    /// The entries still in the table.
    pub fn entries(&self) -> Vec<Entry> {
        self.with(|t| t.entries.clone())
    }

    /// The families dumped so far, in order.
    pub fn dumps(&self) -> Vec<IpFamily> {
        self.with(|t| t.dumps.clone())
    }

    /// The entries deleted so far, in order.
    pub fn deleted(&self) -> Vec<Entry> {
        self.with(|t| t.deleted.clone())
    }

    /// Makes the next dump fail as if the socket broke.
    pub fn fail_next_dump(&self) {
        self.with(|t| t.fail_next_dump = true);
    }
}

impl Conntrack for FakeConntrack {
    fn dump(&mut self, family: IpFamily, each: &mut dyn FnMut(Entry)) -> Result<(), Error> {
        let entries = self.with(|t| {
            if std::mem::take(&mut t.fail_next_dump) {
                return Err(Error::Io {
                    op: format!("receive the {family} dump (injected)"),
                    source: io::Error::from(io::ErrorKind::BrokenPipe),
                });
            }
            t.dumps.push(family);
            Ok(t.entries
                .iter()
                .filter(|e| e.family() == family)
                .cloned()
                .collect::<Vec<_>>())
        })?;
        entries.into_iter().for_each(each);
        Ok(())
    }

    fn delete(&mut self, entries: &[Entry]) -> Result<Deleted, Error> {
        self.with(|t| {
            let mut out = Deleted::default();
            for entry in entries {
                match t.entries.iter().position(|e| same(e, entry)) {
                    Some(at) => {
                        t.deleted.push(t.entries.remove(at));
                        out.deleted += 1;
                    }
                    None => out.gone += 1,
                }
            }
            Ok(out)
        })
    }
}

/// Whether `held` is the entry a delete of `asked` removes: same protocol, original tuple and
/// zone, and the same id when the request names one (as the kernel matches).
fn same(held: &Entry, asked: &Entry) -> bool {
    held.protocol == asked.protocol
        && held.original == asked.original
        && held.zone.unwrap_or(0) == asked.zone.unwrap_or(0)
        && asked.id.is_none_or(|id| held.id == Some(id))
}
