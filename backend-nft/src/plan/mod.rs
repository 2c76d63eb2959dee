//! The pure planner: `(state, delta, shadow, mode, config)` -> a [`Transaction`] and the
//! shadow update to commit once the kernel accepted it. No I/O, no clock, infallible.
//!
//! # Shape (see `backend-nft/README.md` for the full picture)
//!
//! One table per family. Service dispatch is a data-map lookup (`service-ips`,
//! `service-nodeports`) giving a dispatch id; a frontend found there goes to a small *dispatch
//! chain* with one rule per target, `KEY map @service-ips == 0x01000003 goto endpoints-3`,
//! which sends it to one of a few *shared* chains named after an endpoint count
//! (`endpoints-3`), each a single `dnat ... numgen random mod 3 map @service-endpoints` over
//! one shared data map keyed `frontend . proto . port . slot`. So a routine change (endpoint
//! added, removed, service added) is a handful of element adds and deletes of plain data,
//! which the kernel commits without re-validating the table; a new chain (and a rewrite of
//! the small dispatch chain that names it) is only needed the first time some frontend has a
//! new endpoint count.
//!
//! # Sync modes
//!
//! - [`SyncMode::Full`]: flush every chain and set (or, the first time or after a
//!   configuration change, `delete table` and rebuild), then add every chain, set, rule and
//!   element, in one transaction. The dynamic `affinity` map is kept. Shared chains no element
//!   needs any more are flushed by it (and dropped from the dispatch chains) and deleted by the
//!   next transaction.
//! - [`SyncMode::Partial`]: only the elements of the service ports the delta names, as
//!   element deletes and adds against the shadow; new shared chains if needed, with the
//!   dispatch chains that name them rewritten. Falls back to a
//!   full plan when nothing was programmed yet, the configuration changed, or the node changed
//!   (topology may move every service).

mod base;
mod service;
mod shadow;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use proxy_core::model::ServicePortName;
use proxy_core::policy::{FamilyView, NodeConfig};
use proxy_core::{Delta, ProxyState, SyncMode};

use crate::ir::{Chain, Element, Family, Op, Transaction};
use crate::names::{self, SetName, SharedChain, Target};

use shadow::{ElemKey, ElemValue, Owners, Patch, PortId, Update, disown, effective, own};
pub use shadow::{Shadow, ShadowUpdate};

pub use proxy_core::policy::NodePortAddresses;

/// The node-level configuration the ruleset depends on: proxy-core's, as is. Changing it
/// rebuilds the table. Service CIDRs make an address in them that no service uses dropped.
pub type Config = NodeConfig;

/// A planned sync: the transaction to send and the shadow update to commit if it succeeds.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The operations, to be sent as one batch.
    pub transaction: Transaction,
    /// The mode actually planned (a partial request may have become full).
    pub mode: SyncMode,
    /// What to [`Shadow::commit`] once the kernel accepted the transaction.
    pub update: ShadowUpdate,
}

/// Plans a sync of `state` over what `shadow` says is programmed.
///
/// With [`SyncMode::Partial`] only the service ports in `delta.changed` and `delta.deleted` are
/// re-planned; a partial request becomes full when nothing is programmed yet, `config` differs
/// from the programmed one, or the node changed.
pub fn plan(
    state: &ProxyState,
    delta: &Delta,
    shadow: &Shadow,
    mode: SyncMode,
    config: &Config,
) -> Plan {
    let partial_ok =
        mode == SyncMode::Partial && shadow.config.as_ref() == Some(config) && !delta.node_changed;
    if partial_ok {
        plan_partial(state, delta, shadow, config)
    } else {
        plan_full(state, shadow, config)
    }
}

/// The full transaction that builds the ruleset of `state` from nothing (for `svcproxy dump`).
pub fn full_transaction(state: &ProxyState, config: &Config) -> Transaction {
    plan_full(state, &Shadow::new(), config).transaction
}

/// The configuration of each family to program.
fn family_views(config: &Config) -> Vec<FamilyView> {
    config
        .families()
        .into_iter()
        .map(|f| config.family(f))
        .collect()
}

/// `chains` with every shared chain they depend on.
fn closure(
    chains: impl IntoIterator<Item = (Family, SharedChain)>,
) -> BTreeSet<(Family, SharedChain)> {
    let mut out = BTreeSet::new();
    let mut todo: Vec<_> = chains.into_iter().collect();
    while let Some((f, c)) = todo.pop() {
        if out.insert((f, c)) {
            todo.extend(c.deps().into_iter().map(|d| (f, d)));
        }
    }
    out
}

/// The element a shadow entry stands for.
fn element(key: &ElemKey, value: &ElemValue) -> Element {
    Element {
        key: key.key.to_vec(),
        data: value.data.clone(),
        comment: value.comment.as_deref().map(str::to_owned),
    }
}

/// Adds `chains` (no rules yet).
fn add_shared_chains(tx: &mut Transaction, chains: &BTreeSet<(Family, SharedChain)>) {
    for (f, c) in chains {
        tx.push(*f, Op::AddChain(Chain::regular(c.name())));
    }
}

/// The targets the dispatch chain of `map` has a rule for, given the shared chains in place
/// in `family` (from `chains`), in rule order: by dispatch id, so the most common targets
/// (`endpoints-N` of cluster IPs, small `N`) come first.
fn dispatch_targets(
    map: SetName,
    family: Family,
    chains: &BTreeSet<(Family, SharedChain)>,
) -> Vec<Target> {
    if Target::STATIC[0].maps().contains(&map) {
        return Target::STATIC.to_vec();
    }
    let mut targets: Vec<Target> = chains
        .iter()
        .filter(|(f, _)| *f == family)
        .map(|(_, c)| Target::Chain(*c))
        .filter(|t| t.maps().contains(&map))
        .collect();
    targets.sort_by_key(|t| t.id());
    targets
}

/// Adds the rules of the dispatch chains of `maps` in `family` for the shared chains
/// `chains` (after every chain they name exists).
fn add_dispatch_rules(
    tx: &mut Transaction,
    family: Family,
    maps: impl IntoIterator<Item = SetName>,
    chains: &BTreeSet<(Family, SharedChain)>,
) {
    for map in maps {
        let Some(chain) = map.dispatch_chain() else {
            continue;
        };
        for rule in base::dispatch_rules(map, dispatch_targets(map, family, chains)) {
            tx.push(
                family,
                Op::AddRule {
                    chain: chain.into(),
                    rule,
                },
            );
        }
    }
}

/// Adds the rules of `chains` (after the chains and sets they refer to exist).
fn add_shared_rules(
    tx: &mut Transaction,
    fcs: &[FamilyView],
    chains: &BTreeSet<(Family, SharedChain)>,
) {
    for (f, c) in chains {
        let Some(fc) = fcs.iter().find(|fc| fc.family == f.ip_family()) else {
            continue;
        };
        for rule in base::shared_rules(fc, *c) {
            tx.push(
                *f,
                Op::AddRule {
                    chain: c.name(),
                    rule,
                },
            );
        }
    }
}

fn plan_full(state: &ProxyState, old: &Shadow, config: &Config) -> Plan {
    let fcs = family_views(config);
    let families: Vec<Family> = fcs.iter().map(|fc| Family::of(fc.family)).collect();
    let fresh = old.config.as_ref() != Some(config);

    // The new shadow, from scratch.
    let mut next = Shadow {
        config: Some(config.clone()),
        ..Shadow::default()
    };
    let mut needed = Vec::new();
    for (name, svc) in &state.services {
        let c = service::contribute(&fcs, svc, state.endpoints_of(name), &state.node);
        let port: PortId = Arc::new(name.clone());
        let mut keys = Vec::with_capacity(c.elements.len());
        for (key, value) in c.elements {
            own(next.elements.entry(key.clone()).or_default(), &port, value);
            keys.push(key);
        }
        next.ports.insert(port, keys);
        needed.extend(c.chains);
    }
    next.chains = closure(needed);

    let mut tx = Transaction::new(names::TABLE);
    for f in Family::ALL {
        let enabled = families.contains(&f);
        if fresh {
            // Unknown previous contents (first sync, new configuration): start over. The
            // first `add` makes the `delete` safe when the table does not exist.
            tx.push(f, Op::AddTable);
            tx.push(f, Op::DeleteTable);
            if enabled {
                tx.push(f, Op::AddTable);
            }
        } else if enabled {
            tx.push(f, Op::AddTable);
        }
    }
    if !fresh {
        // Empty every chain and set we own, except the dynamic `affinity` map: a periodic
        // full sync must not forget which endpoint each client is pinned to.
        for fc in &fcs {
            let f = Family::of(fc.family);
            let chains = base::chains().into_iter().map(|c| c.name).chain(
                old.chains
                    .iter()
                    .filter(|(g, _)| *g == f)
                    .map(|(_, c)| c.name()),
            );
            for chain in chains {
                tx.push(f, Op::FlushChain(chain));
            }
            for (def, _) in base::sets(fc) {
                if def.name != SetName::Affinity.as_str() {
                    tx.push(f, Op::FlushSet(def.name));
                }
            }
        }
    }
    if !fresh {
        // Flushed by the previous full sync and unreferenced since: safe to delete now.
        for (f, c) in &old.stale {
            if !next.chains.contains(&(*f, *c)) && families.contains(f) {
                tx.push(*f, Op::DeleteChain(c.name()));
            }
        }
        // No longer needed: flushed by this transaction's `flush table`, deleted by the next.
        next.stale = old
            .chains
            .iter()
            .filter(|c| !next.chains.contains(c))
            .copied()
            .collect();
    }

    for fc in &fcs {
        let f = Family::of(fc.family);
        let shared: BTreeSet<(Family, SharedChain)> = next
            .chains
            .iter()
            .filter(|(g, _)| *g == f)
            .copied()
            .collect();
        for chain in base::chains() {
            tx.push(f, Op::AddChain(chain));
        }
        add_shared_chains(&mut tx, &shared);
        let sets = base::sets(fc);
        for (def, _) in &sets {
            tx.push(f, Op::AddSet(def.clone()));
        }
        for (def, elems) in sets {
            for elem in elems {
                tx.push(
                    f,
                    Op::AddElement {
                        set: def.name.clone(),
                        elem,
                    },
                );
            }
        }
        for (chain, rule) in base::rules(fc) {
            tx.push(
                f,
                Op::AddRule {
                    chain: chain.into(),
                    rule,
                },
            );
        }
        add_shared_rules(&mut tx, &fcs, &shared);
        add_dispatch_rules(&mut tx, f, SetName::DISPATCHING, &shared);
    }
    for (key, owners) in &next.elements {
        if let Some(value) = effective(owners) {
            tx.push(
                key.family,
                Op::AddElement {
                    set: key.set.as_str().into(),
                    elem: element(key, value),
                },
            );
        }
    }
    Plan {
        transaction: tx,
        mode: SyncMode::Full,
        update: ShadowUpdate(Update::Replace(Box::new(next))),
    }
}

fn plan_partial(state: &ProxyState, delta: &Delta, old: &Shadow, config: &Config) -> Plan {
    let fcs = family_views(config);
    let touched: BTreeSet<&ServicePortName> = delta.changed.iter().chain(&delta.deleted).collect();

    // Owners of every touched element, before (from the shadow) and after.
    let mut overlay: BTreeMap<ElemKey, (Option<ElemValue>, Owners)> = BTreeMap::new();
    let mut ports = Vec::new();
    let mut needed = Vec::new();
    for name in touched {
        let old_keys = old.ports.get(name);
        for key in old_keys.into_iter().flatten() {
            let entry = overlay
                .entry(key.clone())
                .or_insert_with(|| snapshot(old, key));
            disown(&mut entry.1, name);
        }
        let port: PortId = old
            .ports
            .get_key_value(name)
            .map(|(p, _)| p.clone())
            .unwrap_or_else(|| Arc::new(name.clone()));
        match state.services.get(name) {
            Some(svc) => {
                let c = service::contribute(&fcs, svc, state.endpoints_of(name), &state.node);
                let mut keys = Vec::with_capacity(c.elements.len());
                for (key, value) in c.elements {
                    let entry = overlay
                        .entry(key.clone())
                        .or_insert_with(|| snapshot(old, &key));
                    own(&mut entry.1, &port, value);
                    keys.push(key);
                }
                ports.push((port, Some(keys)));
                needed.extend(c.chains);
            }
            None => ports.push((port, None)),
        }
    }

    let mut tx = Transaction::new(names::TABLE);
    let new_chains: BTreeSet<(Family, SharedChain)> = closure(needed)
        .into_iter()
        .filter(|c| !old.chains.contains(c))
        .collect();
    let stale_deleted: Vec<(Family, SharedChain)> = old
        .stale
        .iter()
        .filter(|c| !new_chains.contains(c))
        .copied()
        .collect();
    for (f, c) in &stale_deleted {
        tx.push(*f, Op::DeleteChain(c.name()));
    }
    add_shared_chains(&mut tx, &new_chains);
    add_shared_rules(&mut tx, &fcs, &new_chains);
    // A new target: the dispatch chains that get a rule for it are rewritten whole (flush and
    // add, in this transaction), in id order. Rare: only when a shared chain appears.
    let after: BTreeSet<(Family, SharedChain)> = old.chains.union(&new_chains).copied().collect();
    let rewrite: BTreeSet<(Family, SetName)> = new_chains
        .iter()
        .flat_map(|(f, c)| Target::Chain(*c).maps().iter().map(move |m| (*f, *m)))
        .collect();
    for (f, map) in rewrite {
        if let Some(chain) = map.dispatch_chain() {
            tx.push(f, Op::FlushChain(chain.into()));
            add_dispatch_rules(&mut tx, f, [map], &after);
        }
    }

    let mut adds = Vec::new();
    for (key, (before, owners)) in &overlay {
        let after = effective(owners);
        if before.as_ref() == after {
            continue;
        }
        let set: String = key.set.as_str().into();
        if before.is_some() {
            tx.push(
                key.family,
                Op::DeleteElement {
                    set: set.clone(),
                    key: key.key.to_vec(),
                },
            );
        }
        if let Some(value) = after {
            adds.push((
                key.family,
                Op::AddElement {
                    set,
                    elem: element(key, value),
                },
            ));
        }
    }
    for (f, op) in adds {
        tx.push(f, op);
    }
    // A frontend lost its affinity (or changed its timeout): what the packet path remembered
    // for it must go, and entries of one frontend cannot be told apart: forget them all.
    let forget: BTreeSet<Family> = overlay
        .iter()
        .filter(|(key, (before, owners))| {
            matches!(
                key.set,
                SetName::AffinityFrontends | SetName::AffinityNodeports
            ) && before.is_some()
                && before.as_ref() != effective(owners)
        })
        .map(|(key, _)| key.family)
        .collect();
    for f in forget {
        tx.push(f, Op::FlushSet(SetName::Affinity.as_str().into()));
    }

    let patch = Patch {
        ports,
        elements: overlay
            .into_iter()
            .map(|(key, (_, owners))| (key, owners))
            .collect(),
        chains_added: new_chains.into_iter().collect(),
        stale_deleted,
    };
    Plan {
        transaction: tx,
        mode: SyncMode::Partial,
        update: ShadowUpdate(Update::Patch(patch)),
    }
}

/// The programmed value and owners of `key` in `shadow`.
fn snapshot(shadow: &Shadow, key: &ElemKey) -> (Option<ElemValue>, Owners) {
    let owners = shadow.elements.get(key).cloned().unwrap_or_default();
    (effective(&owners).cloned(), owners)
}
