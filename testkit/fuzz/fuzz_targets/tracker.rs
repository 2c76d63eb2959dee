//! The change tracker over event sequences drawn from the input with testkit's generators
//! (`arb::events`, the input bytes as their random numbers): every delta exact, the state a
//! function of the objects that exist (`arb::tracker::check_events`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use testkit::arb::{self, tracker::check_events};

fuzz_target!(|data: &[u8]| {
    let Some(events) = arb::value_from_bytes(&arb::events(40), data) else {
        return;
    };
    if let Err(e) = check_events(&events) {
        panic!("{e}\nevents: {events:#?}");
    }
});
