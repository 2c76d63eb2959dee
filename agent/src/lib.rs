//! The `svcproxy` agent: the command line, its validation, the sources of Kubernetes objects,
//! and the subcommands, which drive a backend through proxy-core's sync runner.
//!
//! ```text
//! cli::Cli --(validate, no syscalls)--> config::Config --> app::execute
//!   sync/run:  source::{FileSource, KubeSource} --SourceEvent--> SyncRunner --> backends::open(..)
//!              after each successful sync: conntrack::Cleaner
//!   dump:      source --> ProxyState --> backends::render(..)
//!   cleanup:   backends::cleanup(..)
//! ```
//!
//! `sync`, `run` and `cleanup` hold the target namespace's instance lock ([`lock`]) while they
//! work, so two svcproxy processes never program one namespace at once.
//!
//! The library serves two users: tests, which drive the same code as the binary with
//! [`proxy_core::FakeDatapath`] in place of a kernel backend ([`sync::run_once`],
//! [`sync::run_until`]), and anyone who runs svcproxy's sources and runner around a datapath
//! of their own ([`agent::Agent`]; `examples/custom_agent.rs`).

pub mod agent;
pub mod app;
pub mod backends;
pub mod cli;
pub mod config;
pub mod conntrack;
#[cfg(feature = "demo")]
pub mod demo;
pub mod duration;
pub mod error;
pub mod lock;
pub mod memory;
pub mod source;
pub mod sync;

pub use error::Error;
