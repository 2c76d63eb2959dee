//! testkit's integration tests, in one binary. They create network namespaces, so they need
//! root; run as another user, each prints why it is skipped and passes.

mod common;
mod netns;
mod sandbox;
mod server;
