//! Sources of Kubernetes objects: they send [`SourceEvent`](proxy_core::runner::SourceEvent)s
//! to the sync runner: a file (`--source file:PATH`) or the API server (`--source kube`).

pub mod file;
pub mod kube;

pub use file::{FileSource, SourceError};
pub use kube::KubeSource;
