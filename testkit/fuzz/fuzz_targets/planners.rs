//! Both planners over tracker-driven sequences of full and partial syncs: the node setup, the
//! iptables chunk size and how often a sync is full come from `arbitrary`, the events from
//! testkit's generators with the rest of the input as their random numbers. After every sync
//! each backend's `check::Driver` asserts the rules are accepted, valid (every verdict names a
//! chain, every service routes exactly to its endpoints) and equal to a full sync's.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use proxy_core::SyncMode;
use proxy_core::model::NodeInfo;
use proxy_core::tracker::ChangeTracker;
use testkit::arb::{self, Event, objects::NODE};

/// The choices `arbitrary` makes.
#[derive(Arbitrary, Debug)]
struct Choices {
    /// Which node setup (`arb::setup`'s variants, by index).
    setup: u8,
    /// The iptables chunk size (`0`: unchunked).
    chunk: u8,
    /// Every how many syncs a sync is full (`0`: never).
    full_every: u8,
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(choices) = Choices::arbitrary(&mut u) else {
        return;
    };
    let rest = u.take_rest();
    let setups = arb::setups();
    let setup = &setups[usize::from(choices.setup) % setups.len()];
    let Some(events) = arb::value_from_bytes(&arb::events(40), rest) else {
        return;
    };
    let mut nft = backend_nft::check::Driver::new(backend_nft::check::config(setup));
    let mut ipt = backend_iptables::check::Driver::new(backend_iptables::plan::Config {
        chunk_chains: (choices.chunk > 0).then_some(usize::from(choices.chunk % 8 + 1)),
        ..backend_iptables::check::config(setup)
    });
    let mut node = NodeInfo::new(NODE);
    node.ips = setup.node_ips.clone();
    let mut tracker = ChangeTracker::new(node);
    let mut syncs = 0u32;
    for (i, event) in events.iter().chain([&Event::Sync]).enumerate() {
        if !event.feed(&mut tracker) {
            continue;
        }
        syncs += 1;
        let delta = tracker.take_delta();
        let every = u32::from(choices.full_every);
        let mode = if every > 0 && syncs % every == 0 {
            SyncMode::Full
        } else {
            SyncMode::Partial
        };
        let state = tracker.state();
        if let Err(e) = nft.sync(state, &delta, mode) {
            panic!("nftables, event {i}: {e}\nsetup: {setup:?}\nevents: {events:#?}");
        }
        if let Err(e) = ipt.sync(state, &delta, mode) {
            panic!("iptables, event {i}: {e}\nsetup: {setup:?}\nevents: {events:#?}");
        }
    }
});
