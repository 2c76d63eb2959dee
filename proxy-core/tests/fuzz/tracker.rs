//! The change tracker over generated event sequences (testkit's `arb::tracker::check_events`):
//! every delta names exactly what changed, and the state only depends on which objects exist,
//! not on the way there.

use proptest::prelude::*;
use testkit::arb::{self, tracker::check_events};

proptest! {
    #![proptest_config(arb::config(256))]

    #[test]
    fn deltas_are_exact_and_state_depends_only_on_what_exists(events in arb::events(40)) {
        if let Err(e) = check_events(&events) {
            prop_assert!(false, "{}", e);
        }
    }
}

/// Fuzz targets draw their objects from a seed; any seed gives a pool.
#[test]
fn pools_come_from_any_seed() {
    for seed in [0, 1, u64::MAX, 0x5eed] {
        let (first, pool) = arb::value_from_seed(&arb::pool(), seed).expect("a pool");
        assert!(!pool.is_empty());
        let events = arb::assemble(&first, &pool, true, &[(0, 3, vec![]), (10, 0, vec![1, 2])]);
        check_events(&events).expect("a valid tracker");
    }
}
