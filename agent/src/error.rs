//! The agent's error type: one line each, naming what failed.

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
    /// The signal handlers could not be installed.
    #[error("cannot watch for SIGTERM and SIGINT: {0}")]
    Signal(std::io::Error),
}
