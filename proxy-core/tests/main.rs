//! proxy-core's integration tests, in one binary.

mod convert;
mod fuzz;
mod manifest;
mod runner;
mod runner_live;
mod topology;
mod tracker;
