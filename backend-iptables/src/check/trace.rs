//! A packet tracer over the model of one family's tables: nat `PREROUTING` (its jump rules),
//! then filter `INPUT` or `FORWARD`, returning every outcome some `-m statistic` choice leads
//! to. Remembered ClientIP affinity never matches (a fresh client).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use proxy_core::model::{IpFamily, Protocol};
use testkit::routes::{Node, Outcome, Packet};

use super::rule::{Match, Rule, Target};
use crate::restore::Table;

/// How deep jumps may nest before the tracer calls it a loop.
const MAX_DEPTH: usize = 32;

/// The parsed chains of one table: built-in chains hold the jump rules.
pub(super) type Chains = BTreeMap<String, Vec<Rule>>;

/// A packet as the rules see it.
#[derive(Clone, Copy, Debug)]
struct Pkt {
    src: IpAddr,
    dst: IpAddr,
    dport: u16,
    proto: Protocol,
}

/// How a rule or a chain ends for one choice of random numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum End {
    /// No match, or a non-terminating target: the next rule.
    Next,
    /// `RETURN`, or the end of a chain.
    Return,
    /// A terminating target.
    Final(Outcome),
}

/// Traces packets through one family's nat and filter tables.
pub(super) struct Tracer<'a> {
    /// Parsed chains per table.
    pub tables: &'a BTreeMap<Table, Chains>,
    /// The node's addresses.
    pub node: &'a Node,
}

impl Tracer<'_> {
    /// Every outcome the packet may have.
    pub fn trace(&self, packet: &Packet) -> Result<BTreeSet<Outcome>, String> {
        let pkt = Pkt {
            src: packet.src,
            dst: packet.dst,
            dport: packet.dport,
            proto: packet.proto,
        };
        let mut out = BTreeSet::new();
        for end in self.chain(Table::Nat, "PREROUTING", &pkt, 0)? {
            let (after, natted) = match end {
                End::Final(Outcome::Dnat(to)) => (
                    Pkt {
                        dst: to.ip(),
                        dport: to.port(),
                        ..pkt
                    },
                    Some(to),
                ),
                End::Final(o @ (Outcome::Drop | Outcome::Reject)) => {
                    out.insert(o);
                    continue;
                }
                _ => (pkt, None),
            };
            let hook = if self.node.is_local(after.dst) {
                "INPUT"
            } else {
                "FORWARD"
            };
            for end in self.chain(Table::Filter, hook, &after, 0)? {
                out.insert(match (end, natted) {
                    (End::Final(o @ (Outcome::Drop | Outcome::Reject)), _) => o,
                    (End::Final(Outcome::Dnat(_)), _) => return Err("DNAT in filter".into()),
                    (_, Some(to)) => Outcome::Dnat(to),
                    (_, None) => Outcome::Accept,
                });
            }
        }
        Ok(out)
    }

    /// Where nat chain `name` sends a `proto` packet from and to nowhere in particular: a DNAT per
    /// endpoint it can pick, [`Outcome::Accept`] if some choice falls through (nothing when the
    /// chain does not exist; an existing chain always has some outcome).
    pub fn chain_outcomes(
        &self,
        name: &str,
        family: IpFamily,
        proto: Protocol,
    ) -> Result<BTreeSet<Outcome>, String> {
        if !self
            .tables
            .get(&Table::Nat)
            .is_some_and(|t| t.contains_key(name))
        {
            return Ok(BTreeSet::new());
        }
        let nowhere = match family {
            IpFamily::V4 => IpAddr::from([0, 0, 0, 0]),
            IpFamily::V6 => IpAddr::from([0u16; 8]),
        };
        let pkt = Pkt {
            src: nowhere,
            dst: nowhere,
            dport: 0,
            proto,
        };
        Ok(self
            .chain(Table::Nat, name, &pkt, 0)?
            .into_iter()
            .map(|e| match e {
                End::Final(o) => o,
                End::Next | End::Return => Outcome::Accept,
            })
            .collect())
    }

    /// Every way chain `name` of `table` can end (a missing built-in chain is empty).
    fn chain(
        &self,
        table: Table,
        name: &str,
        pkt: &Pkt,
        depth: usize,
    ) -> Result<BTreeSet<End>, String> {
        if depth > MAX_DEPTH {
            return Err(format!("jumps nest deeper than {MAX_DEPTH} at {name}"));
        }
        let builtin = name.chars().all(|c| c.is_ascii_uppercase());
        let rules = match self.tables.get(&table).and_then(|t| t.get(name)) {
            Some(rules) => rules.as_slice(),
            None if builtin => &[],
            None => return Err(format!("jump to missing {table} chain {name}")),
        };
        let mut ends = BTreeSet::new();
        for rule in rules {
            let rule_ends = self.rule(table, rule, pkt, depth)?;
            let goes_on = rule_ends.contains(&End::Next);
            ends.extend(rule_ends.into_iter().filter(|e| *e != End::Next));
            if !goes_on {
                return Ok(ends);
            }
        }
        ends.insert(End::Return);
        Ok(ends)
    }

    /// Every way one rule can end.
    fn rule(
        &self,
        table: Table,
        rule: &Rule,
        pkt: &Pkt,
        depth: usize,
    ) -> Result<BTreeSet<End>, String> {
        let mut maybe = false;
        for m in &rule.matches {
            match self.matches(m, pkt)? {
                Some(true) => {}
                Some(false) => return Ok(BTreeSet::from([End::Next])),
                None => maybe = true,
            }
        }
        let mut ends = match &rule.target {
            Target::None | Target::Mark => BTreeSet::from([End::Next]),
            Target::Accept => BTreeSet::from([End::Final(Outcome::Accept)]),
            Target::Drop => BTreeSet::from([End::Final(Outcome::Drop)]),
            Target::Reject => BTreeSet::from([End::Final(Outcome::Reject)]),
            Target::Return => BTreeSet::from([End::Return]),
            Target::Dnat(to) => BTreeSet::from([End::Final(Outcome::Dnat(*to))]),
            Target::Masquerade => return Err("MASQUERADE before postrouting".into()),
            Target::Chain(c) => self
                .chain(table, c, pkt, depth + 1)?
                .into_iter()
                .map(|e| if e == End::Return { End::Next } else { e })
                .collect(),
        };
        if maybe {
            ends.insert(End::Next);
        }
        Ok(ends)
    }

    /// Whether a match holds: `None` when it holds only for some random choices.
    fn matches(&self, m: &Match, pkt: &Pkt) -> Result<Option<bool>, String> {
        Ok(Some(match m {
            Match::Src { negate, net } => net.contains(&pkt.src) != *negate,
            Match::Dst { negate, net } => net.contains(&pkt.dst) != *negate,
            Match::Proto(p) => *p == pkt.proto,
            Match::Dport(p) => *p == pkt.dport,
            Match::Random(p) if *p >= 1.0 => true,
            Match::Random(p) if *p <= 0.0 => false,
            Match::Random(_) => return Ok(None),
            Match::Remembered => false,
            Match::Local { src: true } => self.node.is_local(pkt.src),
            Match::Local { src: false } => self.node.is_local(pkt.dst),
            Match::Mark => return Err("mark match before postrouting".into()),
        }))
    }
}
