//! [`Conntrack`]: the seam under the kernel's connection-tracking table.

use proxy_core::model::IpFamily;

use super::entry::Entry;
use super::error::Error;

/// What a batch of deletions did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Deleted {
    /// Entries deleted.
    pub deleted: usize,
    /// Entries already gone (expired, or deleted by someone else, since the dump).
    pub gone: usize,
}

/// A connection-tracking table: list one family's entries, delete some of them.
///
/// Cleanup lists each family once per sync and filters as the entries stream past (the table
/// is never held in memory whole); it never flushes.
pub trait Conntrack: Send + 'static {
    /// Passes every TCP, UDP and SCTP entry of `family` to `each` (others are skipped).
    fn dump(&mut self, family: IpFamily, each: &mut dyn FnMut(Entry)) -> Result<(), Error>;

    /// Every TCP, UDP and SCTP entry of `family`, collected.
    fn entries(&mut self, family: IpFamily) -> Result<Vec<Entry>, Error> {
        let mut out = Vec::new();
        self.dump(family, &mut |e| out.push(e))?;
        Ok(out)
    }

    /// Deletes exactly these entries (by original tuple, zone and, when known, id). An entry
    /// already gone is counted, not an error.
    fn delete(&mut self, entries: &[Entry]) -> Result<Deleted, Error>;
}

impl<T: Conntrack + ?Sized> Conntrack for Box<T> {
    fn dump(&mut self, family: IpFamily, each: &mut dyn FnMut(Entry)) -> Result<(), Error> {
        (**self).dump(family, each)
    }

    fn delete(&mut self, entries: &[Entry]) -> Result<Deleted, Error> {
        (**self).delete(entries)
    }
}
