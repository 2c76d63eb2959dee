//! Validity of planned rules (feature `testing`): what every plan the planner makes must
//! satisfy, for tests, property tests and fuzz targets.
//!
//! [`Tables`] is a model of what `iptables-restore --noflush` and the jump rules leave in the
//! kernel: it applies a [`Plan`]'s documents as text, section by section (a rule for a missing
//! chain, a jump to a missing chain of ours, deleting a missing or referenced chain are
//! refused, as `iptables-restore` refuses them). [`check`] then returns one message per problem:
//!
//! - every `-j` target is a chain declared in the same table or a built-in target, and every
//!   jump rule from a built-in chain names a declared chain;
//! - every per-service chain (`SVC`, `SVL`, `EXT`, `FW`, `SEP`) is used by some rule (the fixed
//!   chains are declared whatever the services);
//! - every rule parses (only the options the planner writes are known);
//! - every frontend of every service port routes as [`testkit::routes`] says, traced from nat
//!   `PREROUTING` through filter `INPUT`/`FORWARD`, from a pod and from outside; and each
//!   `SVC`/`SVL` chain reaches exactly the endpoints of its policy.
//!
//! [`Driver`] runs the planner through syncs into the model, checking after each.

mod driver;
mod rule;
mod trace;

pub use driver::Driver;

use std::collections::{BTreeMap, BTreeSet};

use proxy_core::ProxyState;
use proxy_core::model::IpFamily;
use proxy_core::topology::categorize;
use testkit::arb::Setup;
use testkit::routes::{self, Node, Outcome};

use crate::names::{self, Kind};
use crate::plan::{Config, JumpRule, NodePortAddresses, Plan};
use crate::restore::Table;

use trace::{Chains, Tracer};

/// A jump rule from a built-in chain: table, chain, rule words.
pub type Jump = (Table, &'static str, Vec<String>);

/// Our chains and their rule specs, per family and table, and the jump rules in place.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tables {
    /// Chains (name -> rule specs) per family and table.
    pub chains: BTreeMap<(IpFamily, Table), BTreeMap<String, Vec<String>>>,
    /// The jump rules from built-in chains, per family.
    pub jumps: BTreeMap<IpFamily, BTreeSet<Jump>>,
}

impl Tables {
    /// Applies every document of `plan`, then its jump rules and removed families; on error
    /// the documents before the failing one stay applied (as in the kernel).
    pub fn apply(&mut self, plan: &Plan) -> Result<(), String> {
        for f in &plan.families {
            for (i, doc) in f.docs.iter().enumerate() {
                self.restore(f.family, &doc.text())
                    .map_err(|e| format!("{} document {i}: {e}", f.family))?;
            }
            let jumps = self.jumps.entry(f.family).or_default();
            jumps.extend(
                f.jumps
                    .iter()
                    .map(|j: &JumpRule| (j.table, j.chain, j.rule.clone())),
            );
        }
        for family in &plan.removed_families {
            self.chains.retain(|(f, _), _| f != family);
            self.jumps.remove(family);
        }
        Ok(())
    }

    /// Applies one restore input of `family`, each table section as a whole.
    pub fn restore(&mut self, family: IpFamily, text: &str) -> Result<(), String> {
        let mut current: Option<(Table, BTreeMap<String, Vec<String>>)> = None;
        for line in text.lines() {
            if let Some(name) = line.strip_prefix('*') {
                let table = Table::ALL
                    .into_iter()
                    .find(|t| t.name() == name)
                    .ok_or(format!("unknown table {name}"))?;
                let chains = self
                    .chains
                    .get(&(family, table))
                    .cloned()
                    .unwrap_or_default();
                current = Some((table, chains));
                continue;
            }
            let (table, chains) = current.as_mut().ok_or("a line outside a table")?;
            if line == "COMMIT" {
                self.chains.insert((family, *table), std::mem::take(chains));
                current = None;
            } else if let Some(decl) = line.strip_prefix(':') {
                let name = decl.split_whitespace().next().unwrap_or_default();
                if !names::is_ours(name) {
                    return Err(format!("declares a chain not ours: {line}"));
                }
                chains.insert(name.to_owned(), Vec::new());
            } else if let Some(rule) = line.strip_prefix("-A ") {
                let (chain, spec) = rule.split_once(' ').unwrap_or((rule, ""));
                if let Some(t) = jump_target(spec)
                    && names::is_ours(t)
                    && !chains.contains_key(t)
                {
                    return Err(format!("a jump to a missing chain: {line}"));
                }
                let rules = chains
                    .get_mut(chain)
                    .ok_or(format!("a rule for a missing chain: {line}"))?;
                rules.push(spec.to_owned());
            } else if let Some(name) = line.strip_prefix("-X ") {
                if chains.remove(name).is_none() {
                    return Err(format!("deletes a missing chain: {line}"));
                }
                if let Some((from, _)) = chains
                    .iter()
                    .find(|(_, rules)| rules.iter().any(|r| jump_target(r) == Some(name)))
                {
                    return Err(format!("deletes {name}, still used by {from}"));
                }
            } else {
                return Err(format!("unexpected line: {line}"));
            }
        }
        match current {
            Some((t, _)) => Err(format!("section {t} without COMMIT")),
            None => Ok(()),
        }
    }
}

/// The `-j` target of a rule spec.
fn jump_target(spec: &str) -> Option<&str> {
    let mut words = spec.split_whitespace();
    words.find(|w| *w == "-j")?;
    words.next()
}

/// The configuration of a generated node setup.
pub fn config(setup: &Setup) -> Config {
    Config {
        node: setup.node_config(),
        chunk_chains: None,
    }
}

/// The routing-relevant part of `config`, for [`testkit::routes`].
pub fn node(config: &Config) -> Node {
    let config = &config.node;
    Node {
        node_ips: config.node_ips.clone(),
        cluster_cidrs: config.cluster_cidrs.clone(),
        nodeport_cidrs: match &config.nodeport_addresses {
            NodePortAddresses::Primary => None,
            NodePortAddresses::Cidrs(nets) => Some(nets.clone()),
        },
    }
}

/// Every problem of `tables` as the kernel state for `state` under `config` (empty: valid).
pub fn check(tables: &Tables, state: &ProxyState, config: &Config) -> Vec<String> {
    let mut problems = Vec::new();
    let node = node(config);
    let mut parsed: BTreeMap<IpFamily, BTreeMap<Table, Chains>> = BTreeMap::new();
    for ((family, table), chains) in &tables.chains {
        let out = parsed
            .entry(*family)
            .or_default()
            .entry(*table)
            .or_default();
        for (name, specs) in chains {
            let rules = out.entry(name.clone()).or_default();
            for spec in specs {
                match rule::words(spec).and_then(|w| rule::parse(&w)) {
                    Ok(r) => rules.push(r),
                    Err(e) => problems.push(format!("{family} {table} {name}: {e}")),
                }
            }
        }
    }
    for (family, jumps) in &tables.jumps {
        let out = parsed.entry(*family).or_default();
        for (table, chain, words) in jumps {
            match rule::parse(words) {
                Ok(r) => out
                    .entry(*table)
                    .or_default()
                    .entry((*chain).to_owned())
                    .or_default()
                    .push(r),
                Err(e) => problems.push(format!("{family} jump rule in {chain}: {e}")),
            }
        }
    }
    for family in config.node.families() {
        let Some(tables) = parsed.get(&family) else {
            problems.push(format!("{family}: nothing programmed"));
            continue;
        };
        problems.extend(structure(family, tables));
        problems.extend(policy_chains(state, &node, family, tables));
    }
    problems.extend(routes::check(state, &node, |packet| {
        let tables = parsed.get(&packet.family()).ok_or("no tables")?;
        Tracer {
            tables,
            node: &node,
        }
        .trace(packet)
    }));
    problems
}

/// Dangling targets and unused per-service chains of one family.
fn structure(family: IpFamily, tables: &BTreeMap<Table, Chains>) -> Vec<String> {
    let mut problems = Vec::new();
    for (table, chains) in tables {
        let mut used = BTreeSet::new();
        for (name, rules) in chains {
            for r in rules {
                if let rule::Target::Chain(target) = &r.target {
                    used.insert(target.as_str());
                    if !chains.contains_key(target) {
                        problems.push(format!("{family} {table} {name} jumps to missing {target}"));
                    }
                }
            }
        }
        let per_service = |name: &str| {
            [Kind::Svc, Kind::Svl, Kind::Ext, Kind::Fw, Kind::Sep]
                .iter()
                .any(|k| name.starts_with(&format!("{}{}-", names::PREFIX, k.tag())))
        };
        for name in chains.keys() {
            if per_service(name) && !used.contains(name.as_str()) {
                problems.push(format!(
                    "{family} {table} {name} is declared but never used"
                ));
            }
        }
    }
    problems
}

/// Each `SVC`/`SVL` chain there is must reach exactly the endpoints of its policy (from any
/// source); whether one is needed at all is what the frontends' traces check.
fn policy_chains(
    state: &ProxyState,
    node: &Node,
    family: IpFamily,
    tables: &BTreeMap<Table, Chains>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let tracer = Tracer { tables, node };
    for (name, svc) in &state.services {
        if svc.cluster_ip(family).is_none() {
            continue;
        }
        let eps: Vec<_> = state
            .endpoints_of(name)
            .iter()
            .filter(|e| family.contains(&e.ip))
            .cloned()
            .collect();
        let sets = categorize(&eps, svc, &state.node);
        for (kind, set) in [(Kind::Svc, sets.cluster), (Kind::Svl, sets.local)] {
            let want: BTreeSet<Outcome> = set
                .unwrap_or_default()
                .iter()
                .map(|e| Outcome::Dnat(e.addr()))
                .collect();
            let chain = names::service_chain(kind, name);
            match tracer.chain_outcomes(&chain, family, svc.protocol()) {
                Ok(got) if got == want || got.is_empty() => {}
                Ok(got) => problems.push(format!(
                    "{family} {name} {chain}: expected {want:?}, reaches {got:?}"
                )),
                Err(e) => problems.push(format!("{family} {name} {chain}: {e}")),
            }
        }
    }
    problems
}
