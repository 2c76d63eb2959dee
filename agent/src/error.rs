//! The agent's error type: one line each, naming what failed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Backend;
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
    /// The backend could not be opened (its namespace, socket or tools).
    #[error("cannot open the {backend} backend")]
    Open {
        /// The backend.
        backend: Backend,
        /// Why.
        #[source]
        source: proxy_core::Error,
    },
    /// The datapath failed to sync.
    #[error("sync failed")]
    Sync(#[source] Arc<proxy_core::Error>),
    /// The source ended before the datapath was asked to sync.
    #[error("the source ended before the first sync")]
    NeverSynced,
    /// The planned ruleset does not apply to an empty kernel (a planner bug).
    #[error("planning the ruleset")]
    Plan(#[source] backend_nft::ir::ApplyError),
    /// The datapath failed to clean up.
    #[error("cleanup failed")]
    Cleanup(#[source] proxy_core::Error),
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
    #[error("cannot watch for SIGTERM and SIGINT")]
    Signal(#[source] std::io::Error),
}
