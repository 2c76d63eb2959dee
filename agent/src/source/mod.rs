//! Sources of Kubernetes objects: they send [`SourceEvent`](proxy_core::runner::SourceEvent)s
//! to the sync runner. Only files for now (`--source file:PATH`).

pub mod file;

pub use file::{FileSource, SourceError};
