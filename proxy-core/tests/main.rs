//! proxy-core's integration tests, in one binary.

mod convert;
mod fuzz;
mod manifest;
mod runner;
mod topology;
mod tracker;
