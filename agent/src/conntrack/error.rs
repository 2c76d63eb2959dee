//! [`Error`]: why a conntrack cleanup failed.

use std::io;
use std::path::PathBuf;

use proxy_core::model::IpFamily;

/// Why a conntrack cleanup failed. Nothing was flushed: at worst some stale entries remain
/// until the next cleanup or their timeout.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The target network namespace could not be entered.
    #[error("failed to enter the network namespace {}", path.display())]
    Netns {
        /// Its file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The ctnetlink socket could not be opened or configured.
    #[error("failed to open a ctnetlink socket")]
    Open(#[source] io::Error),
    /// Sending to or receiving from the kernel failed.
    #[error("failed to {op} over ctnetlink")]
    Io {
        /// What was being done, e.g. `send the IPv4 dump request`.
        op: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The kernel refused to list a family's entries.
    #[error("the kernel refused to list the {family} conntrack table")]
    Dump {
        /// The family.
        family: IpFamily,
        /// The kernel's error.
        #[source]
        source: io::Error,
    },
    /// Some deletions failed for another reason than the entry being gone already.
    #[error("failed to delete {failed} of {total} stale conntrack entries")]
    Delete {
        /// How many failed.
        failed: usize,
        /// How many were asked for.
        total: usize,
        /// The first failure.
        #[source]
        source: io::Error,
    },
    /// The kernel sent something that is not well-formed ctnetlink.
    #[error("malformed ctnetlink reply: {0}")]
    Malformed(&'static str),
    /// The blocking cleanup task panicked or was cancelled.
    #[error("the conntrack cleanup task did not finish")]
    Task(#[source] tokio::task::JoinError),
}
