//! The crate's one error type.

use std::io;
use std::process::ExitStatus;

/// What went wrong while building or using a namespace, sandbox or server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A namespace name prefix that `ip netns` cannot take or that would make ambiguous names.
    #[error("invalid namespace prefix {0:?}: use 1 to 40 characters from [A-Za-z0-9_.-]")]
    InvalidPrefix(String),

    /// A request the crate refuses before touching the kernel (too many pods, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// A command could not be started at all (for example `ip` is not installed).
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        /// The command line, for the message.
        command: String,
        /// Why it could not be started.
        #[source]
        source: io::Error,
    },

    /// A command ran and exited unsuccessfully.
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        /// The command line, for the message.
        command: String,
        /// Its exit status.
        status: ExitStatus,
        /// What it wrote to standard error, trimmed.
        stderr: String,
    },

    /// A thread could not join (setns into) a network namespace.
    #[error("cannot enter network namespace {name}: {source}")]
    Enter {
        /// The namespace's name.
        name: String,
        /// The error from opening the namespace file or from `setns`.
        #[source]
        source: io::Error,
    },

    /// A socket or other I/O operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Io`] saying what was being done.
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}
