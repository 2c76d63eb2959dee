//! The pure planner: `(state, delta, shadow, mode, config)` -> [`Plan`]: per IP family, the
//! `iptables-restore --noflush` documents to run in order, the jump rules from built-in chains
//! the applier must ensure, and the shadow to keep once every document was accepted. No I/O,
//! no clock, infallible.
//!
//! # Layout (kube-proxy's iptables mode, with our own prefix; see [`crate::names`])
//!
//! nat `SVCP-SERVICES` has one rule per frontend (cluster IP, external IP, load-balancer IP)
//! jumping to the service port's chain, then the jump to `SVCP-NODEPORTS` for node-port
//! addresses. `SVCP-SVC-*` (all usable endpoints) and `SVCP-SVL-*` (local endpoints) pick an
//! endpoint with `-m statistic --mode random --probability 1/n, 1/(n-1), ...` (the last one
//! unconditionally), after `-m recent --rcheck` rules with ClientIP affinity; `SVCP-SEP-*`
//! marks hairpin traffic (`-s EP -j SVCP-MARK-MASQ`), records affinity (`-m recent --set`) and
//! DNATs. `SVCP-EXT-*` is where external traffic (node ports, external IPs, LB IPs) goes:
//! masquerade with ETP Cluster; with ETP Local pods and the node itself short-circuit to all
//! endpoints and everyone else goes to the local ones. `SVCP-FW-*` lets allowed source ranges
//! on to `EXT`; what it does not DNAT is dropped by filter `SVCP-FIREWALL`. Filter chains
//! REJECT frontends of services with no endpoints at all and DROP those a `Local` policy leaves
//! without one; filter `SVCP-CLUSTER-IPS` REJECTs unused ports of cluster IPs and DROPs
//! unallocated service addresses (only when service CIDRs are configured, which guard it).
//!
//! # Sync modes
//!
//! - [`SyncMode::Full`]: every chain of ours is written (declared, so flushed, and filled);
//!   chains the shadow records and the plan does not need are flushed and deleted (`-X`).
//! - [`SyncMode::Partial`]: only the service ports in the delta are re-planned. Their chains
//!   are written only when their rules changed (the shadow keeps a hash per chain); chains
//!   they no longer need are deleted; a dispatch chain (`SVCP-SERVICES`, ...) is rewritten only
//!   when its content changed (kube-proxy always rewrites its `KUBE-SERVICES`, which costs the
//!   whole chain on every sync). Unchanged chains are not mentioned at all: with `--noflush`
//!   they keep their rules, and rules of rewritten chains may jump to them. A partial request
//!   becomes full when nothing was planned yet, the configuration changed or the node changed.
//!
//! # Documents, order and atomicity
//!
//! Chains are written in dependency order: `SVCP-MARK-MASQ`, the other static chains, endpoint
//! chains, `SVC`/`SVL`, `EXT`, `FW`, then the dispatch chains; stale chains are deleted last,
//! those jumping to others first. Without chunking ([`Config::chunk_chains`] `None`, for
//! `iptables-legacy`) a family's plan is one document: each table changes in one atomic
//! `COMMIT`.
//!
//! With chunking (for `iptables-nft`, whose restore is quadratic in the chains one input
//! touches) the same ordered list is cut into documents of at most `chunk_chains` chains,
//! **each atomic on its own, not the plan as a whole**. Every document is valid on its own:
//! a chain only jumps to chains that exist already (written by an earlier document, or
//! unchanged), and a chain is deleted only after everything that jumped to it was rewritten or
//! deleted. Between two documents the kernel holds a mix of old and new chains, each complete
//! (a chain is flushed and refilled within one document), so every packet meets either the
//! old or the new rules of a service port, never an empty chain or a dangling jump. A failed
//! document leaves the earlier ones applied: the caller plans a full sync next (after
//! [`Shadow::adopt_saved`] if it wants leftovers found).

mod base;
mod service;
mod shadow;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use proxy_core::model::{IpFamily, ServicePortName};
use proxy_core::policy::{FamilyView, NodeConfig};
use proxy_core::{Delta, ProxyState, SyncMode};

use crate::names::{self, Kind};
use crate::restore::{RestoreDoc, Table};

use base::Fixed;
pub use shadow::Shadow;
use shadow::{ChainKey, FamilyShadow, PortShadow, content_hash};

/// A chunk size for `iptables-nft` (chains per document): small enough to stay clear of its
/// quadratic cost, large enough that the per-run cost does not dominate.
///
/// Measured with `iptables-nft-restore` 1.8.9, a cold full plan of 10k services x 5 endpoints
/// (60k chains, 180k rules) on a loaded 2-vCPU machine: 100 chains per document 16.0 s, 250
/// 12.2 s, 500 11.2-13.1 s, 1000 15.5 s, 2000 60 s, 4000 144 s (unchunked: not done in 10
/// minutes).
pub const NFT_CHUNK_CHAINS: usize = 500;

pub use proxy_core::policy::NodePortAddresses;

/// The node-level configuration the rules depend on, and how to cut restores.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// What the rules depend on. Here service CIDRs make unused ports of cluster IPs rejected
    /// and unallocated addresses dropped.
    pub node: NodeConfig,
    /// At most this many chains (written + deleted) per document; `None`: one document per
    /// family (see the module documentation for what that does to atomicity).
    pub chunk_chains: Option<usize>,
}

/// A rule the applier must keep in a built-in chain (`-C`, then `-I` if missing): restores
/// with `--noflush` never declare built-in chains, as that would flush everyone's rules.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct JumpRule {
    /// The table.
    pub table: Table,
    /// The built-in chain (`PREROUTING`, `INPUT`, ...).
    pub chain: &'static str,
    /// The rule's arguments as `iptables` takes them (one word per element, unquoted).
    pub rule: Vec<String>,
}

/// What a plan (or one family of it) writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Restore documents (runs of the restore tool).
    pub documents: usize,
    /// Chains declared and filled.
    pub chains_written: usize,
    /// Chains flushed and deleted.
    pub chains_deleted: usize,
    /// Rules appended.
    pub rules: usize,
    /// Bytes of restore input.
    pub bytes: usize,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.documents += other.documents;
        self.chains_written += other.chains_written;
        self.chains_deleted += other.chains_deleted;
        self.rules += other.rules;
        self.bytes += other.bytes;
    }

    fn of(docs: &[RestoreDoc]) -> Counts {
        let mut c = Counts::default();
        for doc in docs {
            c.add(Counts {
                documents: 1,
                chains_written: doc.chains_written(),
                chains_deleted: doc.chains_deleted(),
                rules: doc.rules(),
                bytes: doc.text_len(),
            });
        }
        c
    }
}

/// The plan of one IP family (`iptables-restore` for IPv4, `ip6tables-restore` for IPv6).
#[derive(Clone, Debug)]
pub struct FamilyPlan {
    /// The family.
    pub family: IpFamily,
    /// The documents to restore, in this order; each one is atomic per table.
    pub docs: Vec<RestoreDoc>,
    /// The jump rules from built-in chains to ensure once the chains exist (after the first
    /// document of a full plan); independent of each other's order.
    pub jumps: Vec<JumpRule>,
    /// What the documents write.
    pub counts: Counts,
}

/// A planned sync.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The mode actually planned (a partial request may have become full).
    pub mode: SyncMode,
    /// Per enabled family, IPv4 first.
    pub families: Vec<FamilyPlan>,
    /// Families programmed before and no longer enabled: the applier removes our chains and
    /// jump rules there (e.g. `runner::cleanup`); the next shadow forgets them.
    pub removed_families: Vec<IpFamily>,
    /// The shadow to keep once every document was accepted.
    pub next: Shadow,
    /// What all documents write.
    pub counts: Counts,
}

impl Plan {
    /// Whether there is nothing to restore.
    pub fn is_empty(&self) -> bool {
        self.families.iter().all(|f| f.docs.is_empty()) && self.removed_families.is_empty()
    }

    /// The plan of `family`, if enabled.
    pub fn family(&self, family: IpFamily) -> Option<&FamilyPlan> {
        self.families.iter().find(|f| f.family == family)
    }
}

/// Plans a sync of `state` over what `shadow` says is programmed.
///
/// With [`SyncMode::Partial`] only the service ports in `delta.changed` and `delta.deleted`
/// are re-planned; the request becomes full when nothing was planned yet, the configuration
/// (apart from [`Config::chunk_chains`]) differs from the planned one, or the node changed.
pub fn plan(
    state: &ProxyState,
    delta: &Delta,
    shadow: &Shadow,
    mode: SyncMode,
    config: &Config,
) -> Plan {
    let partial = mode == SyncMode::Partial
        && !delta.node_changed
        && shadow
            .config
            .as_ref()
            .is_some_and(|c| c.node == config.node);
    let mode = if partial {
        SyncMode::Partial
    } else {
        SyncMode::Full
    };
    let touched: BTreeSet<&ServicePortName> = delta.changed.iter().chain(&delta.deleted).collect();
    let mut next = Shadow {
        config: Some(config.clone()),
        families: BTreeMap::new(),
    };
    let mut families = Vec::new();
    let mut counts = Counts::default();
    for family in config.node.families() {
        let fc = config.node.family(family);
        let old = shadow.families.get(&family);
        let (work, fam) = match (partial, old) {
            (true, Some(old)) => partial_family(state, &fc, &touched, old),
            _ => full_family(state, &fc, old),
        };
        let docs = work.documents(config.chunk_chains);
        let c = Counts::of(&docs);
        counts.add(c);
        families.push(FamilyPlan {
            family,
            docs,
            jumps: base::jumps(),
            counts: c,
        });
        next.families.insert(family, fam);
    }
    let enabled = config.node.families();
    let removed_families = shadow
        .families
        .iter()
        .filter(|(f, s)| !enabled.contains(f) && !s.chains.is_empty())
        .map(|(f, _)| *f)
        .collect();
    Plan {
        mode,
        families,
        removed_families,
        next,
        counts,
    }
}

/// The full plan of `state` from nothing (for `svcproxy dump` and tests).
pub fn full_plan(state: &ProxyState, config: &Config) -> Plan {
    plan(
        state,
        &Delta::default(),
        &Shadow::new(),
        SyncMode::Full,
        config,
    )
}

/// A chain to write.
struct Write {
    table: Table,
    name: Arc<str>,
    rank: u8,
    rules: Vec<String>,
}

/// What one family's plan writes and deletes, before it is cut into documents.
#[derive(Default)]
struct Work {
    writes: Vec<Write>,
    deletes: Vec<(ChainKey, u8)>,
}

impl Work {
    /// The documents: writes in dependency order, then deletions (those jumping to others
    /// first), cut every `chunk` chains.
    fn documents(mut self, chunk: Option<usize>) -> Vec<RestoreDoc> {
        self.writes.sort_by_key(|w| w.rank);
        self.deletes
            .sort_by_key(|(_, rank)| std::cmp::Reverse(*rank));
        let limit = chunk.map_or(usize::MAX, |n| n.max(1));
        let mut docs = Vec::new();
        let mut doc = RestoreDoc::new();
        let mut in_doc = 0;
        let mut cut = |doc: &mut RestoreDoc, in_doc: &mut usize| {
            if *in_doc == limit {
                docs.push(std::mem::take(doc));
                *in_doc = 0;
            }
            *in_doc += 1;
        };
        for w in self.writes {
            cut(&mut doc, &mut in_doc);
            let section = doc.table(w.table);
            section.chain(w.name.clone());
            for rule in w.rules {
                section.rule(w.name.clone(), rule);
            }
        }
        for ((table, name), _) in self.deletes {
            cut(&mut doc, &mut in_doc);
            doc.table(table).delete(name);
        }
        if !doc.is_empty() {
            docs.push(doc);
        }
        docs
    }
}

/// The dependency rank of a per-service chain.
fn kind_rank(kind: Kind) -> u8 {
    match kind {
        Kind::Sep => 2,
        Kind::Svc | Kind::Svl => 3,
        Kind::Ext => 4,
        Kind::Fw => 5,
    }
}

/// The rank of a chain known only by name (deletions).
fn rank_of(table: Table, name: &str) -> u8 {
    if let Some(f) = Fixed::ALL
        .into_iter()
        .find(|f| f.table() == table && f.name() == name)
    {
        return f.rank();
    }
    [Kind::Sep, Kind::Svc, Kind::Svl, Kind::Ext, Kind::Fw]
        .into_iter()
        .find(|k| {
            name.strip_prefix(names::PREFIX)
                .and_then(|rest| rest.strip_prefix(k.tag()))
                .is_some_and(|rest| rest.starts_with('-'))
        })
        .map_or(7, kind_rank)
}

/// The fixed chains of a family, filled from every port's dispatch rules.
fn fixed_chains<'a>(fc: &FamilyView, ports: impl Iterator<Item = &'a PortShadow>) -> Vec<Write> {
    let mut buckets: BTreeMap<Fixed, Vec<&'a str>> = BTreeMap::new();
    for port in ports {
        for (chain, rule) in &port.dispatch {
            buckets.entry(*chain).or_default().push(rule);
        }
    }
    Fixed::ALL
        .into_iter()
        .filter(|f| f.exists(fc))
        .map(|f| {
            let mut rules = f.header(fc);
            let mut own = buckets.remove(&f).unwrap_or_default();
            if f.is_set() {
                own.sort_unstable();
                own.dedup();
            }
            rules.extend(own.into_iter().map(str::to_owned));
            rules.extend(f.trailer(fc));
            Write {
                table: f.table(),
                name: Arc::from(f.name()),
                rank: f.rank(),
                rules,
            }
        })
        .collect()
}

/// Splits a port's rules into chains to write and what the shadow keeps.
fn port_parts(rules: service::PortRules) -> (Vec<Write>, PortShadow) {
    let mut writes = Vec::with_capacity(rules.chains.len());
    let mut names = Vec::with_capacity(rules.chains.len());
    for c in rules.chains {
        let name: Arc<str> = Arc::from(c.name);
        names.push(name.clone());
        writes.push(Write {
            table: Table::Nat,
            name,
            rank: kind_rank(c.kind),
            rules: c.rules,
        });
    }
    (
        writes,
        PortShadow {
            chains: names,
            dispatch: rules.dispatch,
        },
    )
}

fn full_family(
    state: &ProxyState,
    fc: &FamilyView,
    old: Option<&FamilyShadow>,
) -> (Work, FamilyShadow) {
    let mut next = FamilyShadow::default();
    let mut work = Work::default();
    let mut ports = Vec::with_capacity(state.services.len());
    for (name, svc) in &state.services {
        let Some(rules) = service::contribute(fc, svc, state.endpoints_of(name), &state.node)
        else {
            continue;
        };
        let (writes, port) = port_parts(rules);
        work.writes.extend(writes);
        ports.push((name.clone(), Arc::new(port)));
    }
    // In key order already: a bulk build.
    next.ports = ports.into_iter().collect();
    next.chains.reserve(work.writes.len() + Fixed::ALL.len());
    work.writes
        .extend(fixed_chains(fc, next.ports.values().map(|p| &**p)));
    for w in &work.writes {
        next.chains
            .insert((w.table, w.name.clone()), Some(content_hash(&w.rules)));
    }
    if let Some(old) = old {
        for key in old.chains.keys() {
            if !next.chains.contains_key(key) {
                work.deletes.push((key.clone(), rank_of(key.0, &key.1)));
            }
        }
    }
    (work, next)
}

fn partial_family(
    state: &ProxyState,
    fc: &FamilyView,
    touched: &BTreeSet<&ServicePortName>,
    old: &FamilyShadow,
) -> (Work, FamilyShadow) {
    let mut next = old.clone();
    let mut work = Work::default();
    let mut gone: BTreeSet<ChainKey> = BTreeSet::new();
    for name in touched {
        if let Some(port) = next.ports.remove(*name) {
            gone.extend(port.chains.iter().map(|c| (Table::Nat, c.clone())));
        }
    }
    let write_if_changed = |w: Write, work: &mut Work, next: &mut FamilyShadow| {
        let key = (w.table, w.name.clone());
        let hash = Some(content_hash(&w.rules));
        if old.chains.get(&key) != Some(&hash) {
            work.writes.push(w);
        }
        next.chains.insert(key, hash);
    };
    for name in touched {
        let Some(svc) = state.services.get(*name) else {
            continue;
        };
        let Some(rules) = service::contribute(fc, svc, state.endpoints_of(name), &state.node)
        else {
            continue;
        };
        let (writes, port) = port_parts(rules);
        for w in writes {
            gone.remove(&(w.table, w.name.clone()));
            write_if_changed(w, &mut work, &mut next);
        }
        next.ports.insert((*name).clone(), Arc::new(port));
    }
    for key in gone {
        next.chains.remove(&key);
        let rank = rank_of(key.0, &key.1);
        work.deletes.push((key, rank));
    }
    for w in fixed_chains(fc, next.ports.values().map(|p| &**p)) {
        write_if_changed(w, &mut work, &mut next);
    }
    (work, next)
}
