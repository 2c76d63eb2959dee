//! The shadow: svcproxy's picture of what it programmed, per family: every chain of ours with
//! a hash of its rules, and what each service port contributed (its own chains, its rules in
//! the dispatch chains). Partial plans diff against it; it is replaced by [`Plan::next`] only
//! after every document of the plan was accepted.
//!
//! [`Plan::next`]: super::Plan::next

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use proxy_core::model::{IpFamily, ServicePortName};

use crate::names;
use crate::restore::Table;

use super::Config;
use super::base::Fixed;

/// A chain of ours: table and name.
pub(crate) type ChainKey = (Table, Arc<str>);

/// What one service port programmed in one family.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PortShadow {
    /// Its own nat chains.
    pub chains: Vec<Arc<str>>,
    /// Its rules in the dispatch chains.
    pub dispatch: Vec<(Fixed, String)>,
}

/// One family's part of the shadow.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FamilyShadow {
    /// Every chain of ours with the hash of its rules; `None`: it exists, content unknown.
    pub chains: HashMap<ChainKey, Option<u64>>,
    /// What each service port contributed.
    pub ports: BTreeMap<ServicePortName, Arc<PortShadow>>,
}

/// What svcproxy programmed: the configuration and, per family, chains and contributions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shadow {
    /// The configuration the chains were planned with; `None`: nothing planned yet.
    pub(crate) config: Option<Config>,
    /// Per family.
    pub(crate) families: BTreeMap<IpFamily, FamilyShadow>,
}

impl Shadow {
    /// An empty shadow: the next plan is full.
    pub fn new() -> Self {
        Shadow::default()
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.config.is_none() && self.families.values().all(|f| f.chains.is_empty())
    }

    /// The chains of ours recorded in `family`'s `table`, sorted.
    pub fn chains(&self, family: IpFamily, table: Table) -> Vec<&str> {
        self.families
            .get(&family)
            .map(|f| {
                let mut names: Vec<&str> = f
                    .chains
                    .keys()
                    .filter(|(t, _)| *t == table)
                    .map(|(_, n)| &**n)
                    .collect();
                names.sort_unstable();
                names
            })
            .unwrap_or_default()
    }

    /// Records the chains of ours an `iptables-save` output of `family` lists (e.g. left by a
    /// previous run, or by a failed sync), with unknown contents and no owner: the next full
    /// plan deletes those it does not need. The configuration is forgotten, so the next plan is
    /// full.
    pub fn adopt_saved(&mut self, family: IpFamily, save: &str) {
        self.config = None;
        let fam = self.families.entry(family).or_default();
        let mut table = None;
        for line in save.lines() {
            if let Some(name) = line.strip_prefix('*') {
                table = Table::ALL.into_iter().find(|t| t.name() == name.trim());
            } else if let (Some(t), Some(decl)) = (table, line.strip_prefix(':')) {
                let name = decl.split_whitespace().next().unwrap_or_default();
                if names::is_ours(name) {
                    fam.chains.insert((t, Arc::from(name)), None);
                }
            }
        }
    }
}

/// The hash recorded for a chain's rules (stable within a process, which is all the shadow
/// needs: it is never persisted).
pub(crate) fn content_hash(rules: &[String]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    rules.hash(&mut h);
    h.finish()
}
