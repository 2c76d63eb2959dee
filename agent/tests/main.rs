//! The agent's integration tests, in one binary.

mod binary;
mod cli;
mod common;
mod source;
mod sync;
