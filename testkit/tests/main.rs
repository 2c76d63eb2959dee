//! testkit's integration tests, in one binary. They create network namespaces, so they need
//! root; run as another user, each prints why it is skipped and passes (the fake API
//! server's tests need root only for the one that starts it in a namespace).

mod common;
#[cfg(feature = "fake-api")]
mod fake_api;
mod netns;
mod sandbox;
mod server;
