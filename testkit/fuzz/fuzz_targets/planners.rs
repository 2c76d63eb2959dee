//! Both planners over tracker-driven sequences of full and partial syncs. The input chooses
//! (`arbitrary`) the node setup, the iptables chunk size, how often a sync is full, the seed of
//! the generated objects (`testkit::arb::pool`) and the events over them. After every sync each
//! backend's `check::Driver` asserts the rules are accepted, valid (every verdict names a
//! chain, every service routes exactly to its endpoints) and equal to a full sync's.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use proxy_core::SyncMode;
use proxy_core::model::NodeInfo;
use proxy_core::tracker::ChangeTracker;
use testkit::arb::{self, Event, Pick, objects::NODE};

/// What the input chooses.
#[derive(Arbitrary, Debug)]
struct Input {
    /// Which node setup (`arb::setups`, by index).
    setup: u8,
    /// The iptables chunk size (`0`: unchunked).
    chunk: u8,
    /// Every how many syncs a sync is full (`0`: never).
    full_every: u8,
    /// The seed of the generated objects.
    seed: u64,
    /// Whether the sequence starts with a relist of the cluster's first version.
    relist_first: bool,
    /// The events (see `arb::assemble`).
    picks: Vec<Pick>,
}

fuzz_target!(|input: Input| {
    let setups = arb::setups();
    let setup = &setups[usize::from(input.setup) % setups.len()];
    let Some((first, pool)) = arb::value_from_seed(&arb::pool(), input.seed) else {
        return;
    };
    let picks = &input.picks[..input.picks.len().min(48)];
    let events = arb::assemble(&first, &pool, input.relist_first, picks);
    let mut nft = backend_nft::check::Driver::new(backend_nft::check::config(setup));
    let mut ipt = backend_iptables::check::Driver::new(backend_iptables::plan::Config {
        chunk_chains: (input.chunk > 0).then_some(usize::from(input.chunk % 8 + 1)),
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
        let every = u32::from(input.full_every);
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
