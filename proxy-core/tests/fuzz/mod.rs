//! Property tests over generated input (testkit's `arb` generators): manifest parsing never
//! panics and reads well-formed manifests back exactly, conversion only yields valid model
//! values, and the change tracker's state and deltas follow any sequence of events.
//!
//! CI runs a few hundred cases per property; `PROPTEST_CASES=N` runs N (see
//! `testkit/fuzz/README.md` for long runs and the libFuzzer targets).

mod convert;
mod manifest;
mod tracker;
