//! The planner over generated clusters: tracker-driven sequences of full and partial syncs,
//! each transaction accepted by the in-memory kernel, every resulting ruleset valid
//! ([`check::check`]), and partial syncs ending where a full sync would.

use backend_nft::check;
use backend_nft::ir::Ruleset;
use backend_nft::plan::{self, Config, NodePortAddresses, Shadow};
use proptest::prelude::*;
use proxy_core::SyncMode;
use proxy_core::model::NodeInfo;
use proxy_core::tracker::ChangeTracker;
use testkit::arb::{self, Event, Setup, objects::NODE};
use testkit::golden::diff;

fn config_of(s: &Setup) -> Config {
    Config {
        node_ips: s.node_ips.clone(),
        cluster_cidrs: s.cluster_cidrs.clone(),
        service_cidrs: s.service_cidrs.clone(),
        nodeport_addresses: match &s.nodeport_cidrs {
            None => NodePortAddresses::Primary,
            Some(nets) => NodePortAddresses::Cidrs(nets.clone()),
        },
        masquerade_all: s.masquerade_all,
    }
}

proptest! {
    #![proptest_config(arb::config(48))]

    #[test]
    fn plans_are_valid_and_partial_syncs_equal_full_ones(
        setup in arb::setup(),
        events in arb::events(30),
    ) {
        let config = config_of(&setup);
        let mut node = NodeInfo::new(NODE);
        node.ips = setup.node_ips.clone();
        let mut tracker = ChangeTracker::new(node);
        let (mut shadow, mut kernel) = (Shadow::new(), Ruleset::new());
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
                    if let Err(e) = kernel.apply(&p.transaction) {
                        panic!("step {i}: the kernel refuses the plan: {e}");
                    }
                    shadow.commit(p.update);
                    let problems = check::check(&kernel, state, &config);
                    prop_assert!(problems.is_empty(), "step {}:\n{}", i, problems.join("\n"));
                    let fresh = Ruleset::from_transaction(&plan::full_transaction(state, &config))
                        .expect("a full plan applies");
                    let (got, want) = (check::normalized(&kernel), check::normalized(&fresh));
                    prop_assert!(got == want, "step {}: syncs diverged from a full sync:\n{}",
                        i, diff(&want, &got));
                }
            }
        }
    }
}
