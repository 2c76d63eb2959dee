//! svcproxy's backend-neutral core.
//!
//! Data flows one way: Kubernetes objects -> [`tracker::ChangeTracker`] -> ([`ProxyState`],
//! [`Delta`]) -> [`runner::SyncRunner`] -> [`Datapath::sync`].

pub mod convert;
pub mod datapath;
pub mod error;
pub mod fake;
pub mod manifest;
pub mod model;
pub mod object;
pub mod runner;
pub mod state;
pub mod topology;
pub mod tracker;

pub use datapath::{Datapath, SyncMode, SyncReport};
pub use error::{Dropped, Error, ObjectKind, ObjectRef, Result, Severity};
pub use fake::FakeDatapath;
pub use object::KubeObject;
pub use state::{Delta, ProxyState, StaleEndpoint};
