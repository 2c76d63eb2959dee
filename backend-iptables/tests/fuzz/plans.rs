//! The planner over generated clusters: tracker-driven sequences of full and partial syncs
//! ([`check::Driver`]), sometimes cut into small documents, each document accepted by the
//! restore model, every resulting rule set valid ([`check::check`]), and partial syncs ending
//! where a full sync would.

use backend_iptables::check::{self, Driver};
use backend_iptables::plan::Config;
use proptest::prelude::*;
use proxy_core::SyncMode;
use proxy_core::model::NodeInfo;
use proxy_core::tracker::ChangeTracker;
use testkit::arb::{self, Event, objects::NODE};

proptest! {
    #![proptest_config(arb::config(256))]

    #[test]
    fn plans_are_valid_and_partial_syncs_equal_full_ones(
        setup in arb::setup(),
        chunk in proptest::option::of(1..6usize),
        events in arb::events(30),
    ) {
        let mut driver = Driver::new(Config { chunk_chains: chunk, ..check::config(&setup) });
        let mut node = NodeInfo::new(NODE);
        node.ips = setup.node_ips.clone();
        let mut tracker = ChangeTracker::new(node);
        for (i, event) in events.iter().chain([&Event::Sync]).enumerate() {
            if event.feed(&mut tracker) {
                let delta = tracker.take_delta();
                let mode = if i % 4 == 3 { SyncMode::Full } else { SyncMode::Partial };
                if let Err(e) = driver.sync(tracker.state(), &delta, mode) {
                    prop_assert!(false, "event {}: {}", i, e);
                }
            }
        }
    }
}
