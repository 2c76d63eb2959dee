//! Validity of a planned ruleset (feature `testing`): what every plan the planner makes must
//! satisfy, for tests, property tests and fuzz targets.
//!
//! [`check`] looks at the in-memory [`Ruleset`] a plan (or a sequence of plans) built and
//! returns one message per problem:
//!
//! - every `jump`/`goto` of a rule and every verdict of a verdict-map element names a chain of
//!   the table, and every set or map a rule uses exists;
//! - every dispatch id in a per-service map (`service-ips`, `no-endpoint-services`, ...) has
//!   its rule in the map's dispatch chain;
//! - every enabled family has its table;
//! - every frontend of every service port routes as [`testkit::routes`] says: a packet traced
//!   through the base chains (filter, then nat, then filter again, by hook and priority) from a
//!   pod and from outside reaches exactly the endpoints its policy picks, each through some
//!   `numgen` slot, or is dropped or rejected when it must be.
//!
//! [`Driver`] runs the planner through syncs into an in-memory kernel, checking after each.
//!
//! [`normalized`] renders a ruleset without what only differs between partial and full syncs
//! (creation order, unused shared chains and dispatch rules), to compare the two.

mod driver;
mod trace;

pub use driver::Driver;

use std::collections::BTreeSet;

use proxy_core::ProxyState;
use testkit::arb::Setup;
use testkit::routes::{self, Node};

use crate::ir::{CmpOp, ElemData, Family, Rule, Ruleset, Stmt, TableState, Value};
use crate::names::{SetName, TABLE};
use crate::plan::{Config, NodePortAddresses};
use crate::render;

use trace::Tracer;

/// The configuration of a generated node setup.
pub fn config(setup: &Setup) -> Config {
    setup.node_config()
}

/// The routing-relevant part of `config`, for [`testkit::routes`].
pub fn node(config: &Config) -> Node {
    Node {
        node_ips: config.node_ips.clone(),
        cluster_cidrs: config.cluster_cidrs.clone(),
        nodeport_cidrs: match &config.nodeport_addresses {
            NodePortAddresses::Primary => None,
            NodePortAddresses::Cidrs(nets) => Some(nets.clone()),
        },
    }
}

/// Every problem of `ruleset` as the kernel state for `state` under `config` (empty: valid).
pub fn check(ruleset: &Ruleset, state: &ProxyState, config: &Config) -> Vec<String> {
    let mut problems = Vec::new();
    for (table, t) in &ruleset.tables {
        let fam = table.family.as_str();
        problems.extend(structure(t).into_iter().map(|p| format!("{fam}: {p}")));
    }
    let node = node(config);
    let table_of = |family: Family| {
        ruleset
            .tables
            .iter()
            .find(|(t, _)| t.family == family && t.name == TABLE)
            .map(|(_, s)| s)
    };
    for family in config.families().into_iter().map(Family::of) {
        if table_of(family).is_none() {
            problems.push(format!("{}: no table {TABLE}", family.as_str()));
        }
    }
    problems.extend(routes::check(state, &node, |packet| {
        let family = Family::of(packet.family());
        let table = table_of(family).ok_or("no table")?;
        Tracer { table, node: &node }.trace(packet)
    }));
    problems
}

/// The structural problems of one table: dangling chain and set references, dispatch ids
/// without a dispatch rule.
fn structure(t: &TableState) -> Vec<String> {
    let mut problems = Vec::new();
    for c in &t.chains {
        for stmt in c.rules.iter().flat_map(|r| &r.stmts) {
            if let Some(target) = stmt.target()
                && t.chain(target).is_none()
            {
                problems.push(format!("chain {} jumps to missing {target}", c.chain.name));
            }
            for set in stmt.set_refs() {
                if t.set(set).is_none() {
                    problems.push(format!("chain {} uses missing set {set}", c.chain.name));
                }
            }
        }
    }
    for s in &t.sets {
        for e in s.elements.values() {
            if let Some(ElemData::Verdict(v)) = &e.data
                && let Some(target) = v.target()
                && t.chain(target).is_none()
            {
                problems.push(format!("map {} sends to missing {target}", s.def.name));
            }
        }
    }
    for map in SetName::DISPATCHING {
        problems.extend(dispatch_problems(t, map));
    }
    problems
}

/// Dispatch ids of `map` with no rule in its dispatch chain.
fn dispatch_problems(t: &TableState, map: SetName) -> Vec<String> {
    let Some(set) = t.set(map.as_str()) else {
        return Vec::new();
    };
    let Some(chain) = map.dispatch_chain().and_then(|c| t.chain(c)) else {
        return vec![format!("{map} has no dispatch chain")];
    };
    let ids: BTreeSet<Value> = chain
        .rules
        .iter()
        .filter_map(|r| dispatch_id(r, map))
        .collect();
    let mut problems = Vec::new();
    for e in set.elements.values() {
        match &e.data {
            Some(ElemData::Concat(d)) if d.len() == 1 && ids.contains(&d[0]) => {}
            Some(ElemData::Concat(d)) if d.len() == 1 => problems.push(format!(
                "{map} {:?} -> {:?}: no rule for the id in {}",
                e.key, d[0], chain.chain.name
            )),
            other => problems.push(format!("{map} {:?} holds {other:?}, not an id", e.key)),
        }
    }
    problems
}

/// The id a dispatch rule of `map` matches (`KEY map @map == ID`).
fn dispatch_id(rule: &Rule, map: SetName) -> Option<Value> {
    rule.stmts.iter().find_map(|s| match s {
        Stmt::MapCmp {
            map: m,
            op: CmpOp::Eq,
            value,
            ..
        } if m == map.as_str() => Some(*value),
        _ => None,
    })
}

/// `ruleset` rendered with sets and chains sorted by name, without unreferenced regular chains
/// and without dispatch rules for ids no element holds (partial syncs keep unused shared chains
/// until the next full sync; they are dead code for packets).
pub fn normalized(ruleset: &Ruleset) -> String {
    let mut r = ruleset.clone();
    for t in r.tables.values_mut() {
        for name in SetName::DISPATCHING {
            let used: BTreeSet<Value> = t
                .set(name.as_str())
                .into_iter()
                .flat_map(|s| s.elements.values())
                .filter_map(|e| match &e.data {
                    Some(ElemData::Concat(v)) => v.first().copied(),
                    _ => None,
                })
                .collect();
            let Some(chain) = name.dispatch_chain() else {
                continue;
            };
            if let Some(c) = t.chains.iter_mut().find(|c| c.chain.name == chain) {
                c.rules.retain(|rule| {
                    dispatch_id(rule, name)
                        .is_some_and(|id| used.contains(&id) || matches!(id, Value::Id(1 | 2)))
                });
            }
        }
        loop {
            let referenced: BTreeSet<String> = t
                .chains
                .iter()
                .flat_map(|c| &c.rules)
                .flat_map(|r| &r.stmts)
                .filter_map(|s| s.target().map(str::to_string))
                .collect();
            let before = t.chains.len();
            t.chains
                .retain(|c| c.chain.base.is_some() || referenced.contains(&c.chain.name));
            if t.chains.len() == before {
                break;
            }
        }
        t.sets.sort_by(|a, b| a.def.name.cmp(&b.def.name));
        t.chains.sort_by(|a, b| a.chain.name.cmp(&b.chain.name));
    }
    render::ruleset(&r)
}
