//! proxy-core's integration tests, in one binary.

mod convert;
mod fuzz;
mod manifest;
mod policy;
mod runner;
mod runner_live;
mod topology;
mod tracker;
