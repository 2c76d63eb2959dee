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

    /// The fake API server does not serve this kind of object.
    #[error("the fake API server does not serve {0}")]
    UnsupportedKind(String),

    /// An object the fake API server refuses to store (no name, not a JSON object, ...).
    #[error("invalid object: {0}")]
    InvalidObject(String),

    /// The fake API server holds no such object.
    #[error("{0} not found")]
    NotFound(String),

    /// The fake API server already holds an object of that kind, namespace and name.
    #[error("{0} already exists")]
    AlreadyExists(String),

    /// An object could not be turned into JSON or back.
    #[cfg(feature = "fake-api")]
    #[error("{what}: {source}")]
    Json {
        /// What was being converted.
        what: String,
        /// The error from serde_json.
        #[source]
        source: serde_json::Error,
    },

    /// A watch connection the fake API server cut on purpose (see `FakeApi::drop_watches`).
    #[error("watch connection dropped on purpose")]
    WatchDropped,

    /// The fake API server's thread has ended, so it cannot be controlled any more.
    #[error("the fake API server's thread has ended")]
    ServerGone,

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
