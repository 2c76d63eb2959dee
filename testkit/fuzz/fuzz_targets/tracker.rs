//! The change tracker over event sequences the input chooses (`arbitrary`: which event, on
//! which object) over objects generated from a seed it also chooses (`testkit::arb::pool`):
//! every delta exact, the state a function of the objects that exist
//! (`arb::tracker::check_events`).

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use testkit::arb::{self, Pick, tracker::check_events};

/// What the input chooses.
#[derive(Arbitrary, Debug)]
struct Input {
    /// The seed of the generated objects.
    seed: u64,
    /// Whether the sequence starts with a relist of the cluster's first version.
    relist_first: bool,
    /// The events (see `arb::assemble`).
    picks: Vec<Pick>,
}

fuzz_target!(|input: Input| {
    let Some((first, pool)) = arb::value_from_seed(&arb::pool(), input.seed) else {
        return;
    };
    let picks = &input.picks[..input.picks.len().min(64)];
    let events = arb::assemble(&first, &pool, input.relist_first, picks);
    if let Err(e) = check_events(&events) {
        panic!("{e}\nevents: {events:#?}");
    }
});
