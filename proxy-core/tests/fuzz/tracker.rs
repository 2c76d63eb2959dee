//! The change tracker over generated event sequences (testkit's `arb::tracker::check_events`):
//! every delta names exactly what changed, and the state only depends on which objects exist,
//! not on the way there.

use proptest::prelude::*;
use testkit::arb::{self, tracker::check_events};

proptest! {
    #![proptest_config(arb::config(128))]

    #[test]
    fn deltas_are_exact_and_state_depends_only_on_what_exists(events in arb::events(40)) {
        if let Err(e) = check_events(&events) {
            prop_assert!(false, "{}", e);
        }
    }
}
