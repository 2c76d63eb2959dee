//! The planner over generated clusters: tracker-driven sequences of full and partial syncs,
//! sometimes cut into small documents, each document accepted by the restore model, every
//! resulting rule set valid ([`check::check`]), and partial syncs ending where a full sync
//! would.

use backend_iptables::check::{self, Tables};
use backend_iptables::plan::{self, Config, NodePortAddresses, Shadow};
use proptest::prelude::*;
use proxy_core::SyncMode;
use proxy_core::model::NodeInfo;
use proxy_core::tracker::ChangeTracker;
use testkit::arb::{self, Event, Setup, objects::NODE};

fn config_of(s: &Setup, chunk_chains: Option<usize>) -> Config {
    Config {
        node_ips: s.node_ips.clone(),
        cluster_cidrs: s.cluster_cidrs.clone(),
        service_cidrs: s.service_cidrs.clone(),
        nodeport_addresses: match &s.nodeport_cidrs {
            None => NodePortAddresses::Primary,
            Some(nets) => NodePortAddresses::Cidrs(nets.clone()),
        },
        masquerade_all: s.masquerade_all,
        chunk_chains,
    }
}

/// The rule sets as a sorted text, for a readable difference.
fn dump(t: &Tables) -> String {
    format!("{t:#?}")
}

proptest! {
    #![proptest_config(arb::config(48))]

    #[test]
    fn plans_are_valid_and_partial_syncs_equal_full_ones(
        setup in arb::setup(),
        chunk in proptest::option::of(1..6usize),
        events in arb::events(30),
    ) {
        let config = config_of(&setup, chunk);
        let mut node = NodeInfo::new(NODE);
        node.ips = setup.node_ips.clone();
        let mut tracker = ChangeTracker::new(node);
        let (mut shadow, mut tables) = (Shadow::new(), Tables::default());
        let syncs = events.into_iter().chain([Event::Sync]).enumerate();
        for (i, event) in syncs {
            match event {
                Event::Apply(o) => drop(tracker.apply(&o)),
                Event::Delete(o) => tracker.delete(&o),
                Event::Reset(objs) => drop(tracker.reset(&objs)),
                Event::Sync => {
                    let delta = tracker.take_delta();
                    let state = tracker.state();
                    let mode = if i % 4 == 3 { SyncMode::Full } else { SyncMode::Partial };
                    let p = plan::plan(state, &delta, &shadow, mode, &config);
                    if let Err(e) = tables.apply(&p) {
                        panic!("step {i}: the restore model refuses the plan: {e}");
                    }
                    shadow = p.next;
                    let problems = check::check(&tables, state, &config);
                    prop_assert!(problems.is_empty(), "step {}:\n{}", i, problems.join("\n"));
                    let mut fresh = Tables::default();
                    fresh.apply(&plan::full_plan(state, &config)).expect("a full plan applies");
                    prop_assert!(fresh == tables, "step {}: syncs diverged from a full sync:\n{}",
                        i, testkit::golden::diff(&dump(&fresh), &dump(&tables)));
                }
            }
        }
    }
}
