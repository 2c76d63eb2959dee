//! The agent's error type: one line each, naming what failed.

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::Backend;
use crate::config::ConfigError;
use crate::source::SourceError;

/// Why a subcommand failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line does not make a usable configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The source could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The API server could not be configured.
    #[error(transparent)]
    Kube(#[from] crate::source::kube::ClientError),
    /// The backend was not compiled into this build.
    #[error("the {0} backend is not available in this build yet")]
    BackendUnavailable(Backend),
    /// The datapath failed to sync.
    #[error("sync failed: {0}")]
    Sync(String),
    /// The datapath failed to clean up.
    #[error("cleanup failed: {0}")]
    Cleanup(proxy_core::Error),
    /// The demo could not run.
    #[error("demo: {0}")]
    Demo(String),
    /// Another svcproxy holds the instance lock of the target namespace and kept it for the
    /// whole wait.
    #[error(
        "another svcproxy (pid {}) is programming this network namespace (lock {}): gave up \
         after waiting {waited:?}",
        pid.map_or_else(|| "unknown".to_owned(), |p| p.to_string()),
        path.display()
    )]
    Locked {
        /// The holder's PID, as it wrote it into the lock file.
        pid: Option<u32>,
        /// The lock file.
        path: PathBuf,
        /// How long this process waited.
        waited: Duration,
    },
    /// The lock file (or its directory) could not be created, opened or locked.
    #[error("cannot use the lock file {}", path.display())]
    LockFile {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The target network namespace could not be opened.
    #[error("cannot open the network namespace {}", path.display())]
    Netns {
        /// Its file (`/run/netns/NAME`, or the caller's own).
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The signal handlers could not be installed.
    #[error("cannot watch for SIGTERM and SIGINT: {0}")]
    Signal(std::io::Error),
}
