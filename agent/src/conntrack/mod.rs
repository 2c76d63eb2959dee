//! Conntrack cleanup: after a successful sync, delete the connection-tracking entries that
//! would keep UDP and SCTP clients talking to an endpoint that is gone, or to nothing.
//!
//! UDP has no connection to close: a client that keeps its source port (a DNS resolver, a
//! statsd sender) keeps matching its conntrack entry, and the entry keeps the DNAT chosen when
//! it was created, whatever the rules say now. So after each sync:
//!
//! ```text
//! plan(state, Work::from_delta(delta), known frontends)  -- pure: which Filters
//!   -> Conntrack::dump(family), once per family           -- one table listing per sync
//!   -> Matcher::is_stale(entry)                           -- in memory
//!   -> Conntrack::delete(stale entries)                   -- one message each, batched
//! ```
//!
//! [`Cleaner`] runs that pipeline over any [`Conntrack`]: [`NetlinkConntrack`] in a namespace,
//! or [`FakeConntrack`] in tests. It never flushes the table, and a failed cleanup is retried
//! with the next one.
//!
//! ```no_run
//! # async fn after_sync(state: &proxy_core::ProxyState, delta: &proxy_core::Delta)
//! #     -> Result<(), svcproxy::conntrack::Error> {
//! use svcproxy::conntrack::{Cleaner, NetlinkConntrack, NodePorts};
//!
//! let cleaner = Cleaner::new(NetlinkConntrack::open(None)?, NodePorts::Primary);
//! // ... after each successful sync:
//! let report = cleaner.cleanup(state, delta).await?;
//! println!("{} stale entries deleted", report.deleted);
//! # Ok(())
//! # }
//! ```

mod cleaner;
mod entry;
mod error;
mod fake;
mod filter;
mod hook;
mod netlink;
mod plan;
mod table;

pub use cleaner::{Cleaner, Report};
pub use entry::{Entry, Flow};
pub use error::Error;
pub use fake::FakeConntrack;
pub use filter::{Filter, Frontend, Matcher, Plan};
pub use hook::cleaner;
pub use netlink::NetlinkConntrack;
pub use plan::{KnownFrontends, NodePorts, Work, plan};
pub use table::{Conntrack, Deleted};
