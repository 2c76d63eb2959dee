//! Concurrent writers and the jump rules from the built-in chains, with both variants: two
//! datapaths (as two svcproxy processes would, without the agent's instance lock) make full
//! syncs into one namespace at the same instant, from namespaces holding no jump, duplicated
//! jumps, or the right ones. A sync refused because the other changed a chain under it is
//! retried once, as the sync runner would. Afterwards every built-in chain holds each planned
//! jump exactly once: before the jump fixes were made safe, two writers that both read a
//! duplicate each deleted "the extra one" and left none (no service traffic at all), and two
//! that both read none each inserted one.

use std::collections::BTreeMap;
use std::sync::Barrier;

use backend_iptables::Variant;
use backend_iptables::plan::{self, JumpRule};
use backend_iptables::runner::{chain_rules, target_of};
use backend_iptables::{jumps, names};
use proxy_core::model::IpFamily;
use proxy_core::{Delta, ProxyState, SyncMode};
use testkit::Netns;

use crate::common::{XTABLES_LOCK, load, netns, save};
use crate::datapath::{config, datapath, rich_state, sync};

/// Rounds per starting point and variant.
const ROUNDS: usize = 4;

/// What the namespace holds before a round.
#[derive(Clone, Copy, Debug)]
enum Start {
    /// Our chains, but no jump to them.
    NoJumps,
    /// Every planned jump twice.
    Duplicated,
    /// Every planned jump once.
    Right,
}

/// The planned jumps of each family of `state`.
fn planned(state: &ProxyState) -> Vec<(IpFamily, Vec<JumpRule>)> {
    let mut config = config();
    config.node.node_ips = state.node.ips.clone();
    plan::full_plan(state, &config)
        .families
        .into_iter()
        .map(|f| (f.family, f.jumps))
        .collect()
}

/// Per built-in chain of `jumps`, its rules that jump to our chains, sorted.
type Held = BTreeMap<(String, String), Vec<Vec<String>>>;

/// The jumps to our chains that `save` shows in the built-in chains of `jumps`.
fn jumps_in(save: &str, jumps: &[JumpRule]) -> Held {
    jumps
        .iter()
        .map(|j| {
            let mut rules: Vec<Vec<String>> = chain_rules(save, j.table.name(), j.chain)
                .into_iter()
                .filter(|r| target_of(r).is_some_and(names::is_ours))
                .collect();
            rules.sort();
            ((j.table.name().to_owned(), j.chain.to_owned()), rules)
        })
        .collect()
}

/// Each planned jump exactly once, in the shape of [`jumps_in`].
fn exactly_once(jumps: &[JumpRule]) -> Held {
    let mut held = Held::new();
    for j in jumps {
        held.entry((j.table.name().to_owned(), j.chain.to_owned()))
            .or_default()
            .push(j.rule.clone());
    }
    held.values_mut().for_each(|rules| rules.sort());
    held
}

/// Prepares the namespace for a round starting at `start`.
fn prepare(ns: &Netns, variant: Variant, families: &[(IpFamily, Vec<JumpRule>)], start: Start) {
    for (family, jumps) in families {
        let held = jumps::jump_fixes(jumps, &save(ns, variant, *family));
        // First to exactly the planned jumps, then to the start.
        if !held.is_empty() {
            load(ns, variant, *family, &jumps::input(&held));
        }
        let extra: String = jumps
            .iter()
            .map(|j| {
                let rule = j
                    .rule
                    .iter()
                    .map(|w| backend_iptables::restore::quote(w))
                    .collect::<Vec<_>>()
                    .join(" ");
                match start {
                    Start::NoJumps => format!("*{}\n-D {} {rule}\nCOMMIT\n", j.table, j.chain),
                    Start::Duplicated => {
                        format!("*{}\n-A {} {rule}\nCOMMIT\n", j.table, j.chain)
                    }
                    Start::Right => String::new(),
                }
            })
            .collect();
        if !extra.is_empty() {
            load(ns, variant, *family, &extra);
        }
    }
}

/// One full sync by a fresh datapath (a new process), retried once if refused.
fn sync_as_a_new_process(ns: &Netns, variant: Variant, state: &ProxyState) -> Result<(), String> {
    let mut dp = datapath(ns, variant, config());
    match sync(&mut dp, state, &Delta::default(), SyncMode::Full) {
        Ok(_) => Ok(()),
        Err(first) => sync(&mut dp, state, &Delta::default(), SyncMode::Full)
            .map(drop)
            .map_err(|again| format!("{first}; then, retried: {again}")),
    }
}

#[test]
fn concurrent_full_syncs_leave_every_jump_exactly_once() {
    // Many legacy restores: keep away from the test asserting the xtables lock was free.
    let _xtables = XTABLES_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    for variant in Variant::ALL {
        let Some(ns) = netns("concurrent_full_syncs_leave_every_jump_exactly_once") else {
            return;
        };
        let state = rich_state();
        let families = planned(&state);
        sync_as_a_new_process(&ns, variant, &state).expect("the first sync");
        for start in [Start::NoJumps, Start::Duplicated, Start::Right] {
            for round in 0..ROUNDS {
                prepare(&ns, variant, &families, start);
                let barrier = Barrier::new(2);
                let results: Vec<Result<(), String>> = std::thread::scope(|scope| {
                    let writers: Vec<_> = (0..2)
                        .map(|_| {
                            scope.spawn(|| {
                                barrier.wait();
                                sync_as_a_new_process(&ns, variant, &state)
                            })
                        })
                        .collect();
                    writers
                        .into_iter()
                        .map(|w| w.join().expect("no panic"))
                        .collect()
                });
                for result in results {
                    result.unwrap_or_else(|e| panic!("{variant} {start:?} #{round}: {e}"));
                }
                for (family, jumps) in &families {
                    assert_eq!(
                        jumps_in(&save(&ns, variant, *family), jumps),
                        exactly_once(jumps),
                        "{variant} {family} {start:?} round {round}"
                    );
                }
            }
        }
    }
}
