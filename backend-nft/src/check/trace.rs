//! A packet tracer over one table of an in-memory [`Ruleset`]: walks the base chains a new
//! connection's first packet meets (prerouting by priority, then input or forward) and returns
//! every outcome some `numgen` choice leads to.
//!
//! It understands exactly the statements the planner emits before postrouting; anything else
//! in a traced chain is an error, so a planner change the tracer does not model cannot pass
//! unnoticed.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

use testkit::routes::{Node, Outcome, Packet};

use crate::ir::{
    Addr, ChainType, CmpOp, ElemData, Expr, Hook, SetState, Stmt, TableState, Value, Verdict,
};

/// How deep jumps may nest before the tracer calls it a loop.
const MAX_DEPTH: usize = 32;

/// The largest `numgen` modulus traced (one branch per value).
const MAX_MODULUS: u32 = 100_000;

/// A packet as the rules see it: current and original destination, and whether it was NATed.
#[derive(Clone, Copy, Debug)]
struct Pkt {
    src: IpAddr,
    dst: IpAddr,
    dport: u16,
    orig_dst: IpAddr,
    orig_dport: u16,
    proto: Value,
    dnat: bool,
}

/// How a rule or a chain ends for one choice of random numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum End {
    /// The rule did not match, or matched without a verdict: go on with the next rule.
    Next,
    /// `return`, or the end of a chain: back to the caller.
    Return,
    /// A final verdict for this hook chain (accept, drop, reject) or a DNAT.
    Final(Outcome),
}

/// Traces packets through one table.
pub(super) struct Tracer<'a> {
    /// The table of the packet's family.
    pub table: &'a TableState,
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
            orig_dst: packet.dst,
            orig_dport: packet.dport,
            proto: Value::Proto(packet.proto),
            dnat: false,
        };
        self.hook(Hook::Prerouting, 0, pkt)
    }

    /// The base chains of `hook` in priority order.
    fn base_chains(&self, hook: Hook) -> Vec<(&str, ChainType)> {
        let mut chains: Vec<(i32, &str, ChainType)> = self
            .table
            .chains
            .iter()
            .filter_map(|c| {
                let b = c.chain.base?;
                (b.hook == hook).then_some((b.priority, c.chain.name.as_str(), b.chain_type))
            })
            .collect();
        chains.sort_by_key(|(prio, _, _)| *prio);
        chains.into_iter().map(|(_, n, t)| (n, t)).collect()
    }

    /// Runs the base chains of `hook` from number `from`, then the next hook.
    fn hook(&self, hook: Hook, from: usize, pkt: Pkt) -> Result<BTreeSet<Outcome>, String> {
        let chains = self.base_chains(hook);
        let Some(&(name, chain_type)) = chains.get(from) else {
            return match hook {
                Hook::Prerouting if self.node.is_local(pkt.dst) => self.hook(Hook::Input, 0, pkt),
                Hook::Prerouting => self.hook(Hook::Forward, 0, pkt),
                _ if pkt.dnat => Ok(BTreeSet::from([Outcome::Dnat(SocketAddr::new(
                    pkt.dst, pkt.dport,
                ))])),
                _ => Ok(BTreeSet::from([Outcome::Accept])),
            };
        };
        let mut out = BTreeSet::new();
        for end in self.chain(name, &pkt, 0)? {
            match end {
                End::Next | End::Return | End::Final(Outcome::Accept) => {
                    out.extend(self.hook(hook, from + 1, pkt)?);
                }
                End::Final(Outcome::Dnat(to)) => {
                    if chain_type != ChainType::Nat || pkt.dnat {
                        return Err(format!("dnat in {name}, not a first nat chain"));
                    }
                    let natted = Pkt {
                        dst: to.ip(),
                        dport: to.port(),
                        dnat: true,
                        ..pkt
                    };
                    out.extend(self.hook(hook, from + 1, natted)?);
                }
                End::Final(o) => {
                    out.insert(o);
                }
            }
        }
        Ok(out)
    }

    /// Every way chain `name` can end.
    fn chain(&self, name: &str, pkt: &Pkt, depth: usize) -> Result<BTreeSet<End>, String> {
        if depth > MAX_DEPTH {
            return Err(format!("jumps nest deeper than {MAX_DEPTH} at {name}"));
        }
        let chain = self
            .table
            .chain(name)
            .ok_or_else(|| format!("jump to missing chain {name}"))?;
        let mut ends = BTreeSet::new();
        for rule in &chain.rules {
            let rule_ends = self.rule(&rule.stmts, pkt, depth)?;
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
    fn rule(&self, stmts: &[Stmt], pkt: &Pkt, depth: usize) -> Result<BTreeSet<End>, String> {
        for stmt in stmts {
            match stmt {
                Stmt::Verdict(v) => return self.verdict(v, pkt, depth),
                Stmt::DnatMap { key, map } => return self.dnat(key, map, pkt),
                Stmt::Reject => return Ok(BTreeSet::from([End::Final(Outcome::Reject)])),
                _ => {
                    if !self.matches(stmt, pkt)? {
                        return Ok(BTreeSet::from([End::Next]));
                    }
                }
            }
        }
        Ok(BTreeSet::from([End::Next]))
    }

    /// Whether a non-terminal statement matches (side effects on the packet are ignored).
    fn matches(&self, stmt: &Stmt, pkt: &Pkt) -> Result<bool, String> {
        Ok(match stmt {
            Stmt::CtStateNew => true,
            Stmt::CtStatusDnat => pkt.dnat,
            Stmt::Cmp { expr, op, value } => {
                let hit = value_matches(value, &load(expr, pkt)?);
                hit == (*op == CmpOp::Eq)
            }
            Stmt::Lookup { key, set, negate } => {
                let found = self.find(set, &loads(key, pkt)?)?.is_some();
                found != *negate
            }
            Stmt::MapCmp {
                key,
                map,
                op,
                value,
            } => match self.find(map, &loads(key, pkt)?)?.map(|e| &e.data) {
                Some(Some(ElemData::Concat(data))) if data.len() == 1 => {
                    (data[0] == *value) == (*op == CmpOp::Eq)
                }
                Some(other) => return Err(format!("{map} maps to {other:?}, not an id")),
                None => false,
            },
            Stmt::FibLocal(addr) => self.node.is_local(match addr {
                Addr::Saddr => pkt.src,
                Addr::Daddr => pkt.dst,
            }),
            Stmt::MarkOr(_) | Stmt::Dynset { .. } => true,
            other => {
                return Err(format!(
                    "statement not expected before postrouting: {other:?}"
                ));
            }
        })
    }

    /// `dnat to KEY map @map`: one end per `numgen` value of the key.
    fn dnat(&self, key: &[Expr], map: &str, pkt: &Pkt) -> Result<BTreeSet<End>, String> {
        let mut ends = BTreeSet::new();
        for k in expand(key, pkt)? {
            match self.find(map, &k)?.map(|e| &e.data) {
                Some(Some(ElemData::Concat(d))) => match d.as_slice() {
                    [Value::Addr(ip), Value::Port(port)] => {
                        ends.insert(End::Final(Outcome::Dnat(SocketAddr::new(*ip, *port))));
                    }
                    other => return Err(format!("{map} maps to {other:?}, not an endpoint")),
                },
                Some(other) => return Err(format!("{map} maps to {other:?}, not an endpoint")),
                None => {
                    ends.insert(End::Next);
                }
            }
        }
        Ok(ends)
    }

    /// Where a verdict leads.
    fn verdict(&self, v: &Verdict, pkt: &Pkt, depth: usize) -> Result<BTreeSet<End>, String> {
        Ok(match v {
            Verdict::Accept => BTreeSet::from([End::Final(Outcome::Accept)]),
            Verdict::Drop => BTreeSet::from([End::Final(Outcome::Drop)]),
            Verdict::Return => BTreeSet::from([End::Return]),
            Verdict::Jump(c) => self
                .chain(c, pkt, depth + 1)?
                .into_iter()
                .map(|e| if e == End::Return { End::Next } else { e })
                .collect(),
            Verdict::Goto(c) => self.chain(c, pkt, depth + 1)?,
        })
    }

    /// The element of set `name` matching `key` (prefixes match the addresses they contain).
    fn find(&self, name: &str, key: &[Value]) -> Result<Option<&crate::ir::Element>, String> {
        let set: &SetState = self
            .table
            .set(name)
            .ok_or_else(|| format!("lookup in missing set {name}"))?;
        if let Some(e) = set.elements.get(key) {
            return Ok(Some(e));
        }
        if !set.def.flags.interval {
            return Ok(None);
        }
        Ok(set.elements.values().find(|e| {
            e.key.len() == key.len() && e.key.iter().zip(key).all(|(a, b)| value_matches(a, b))
        }))
    }
}

/// Whether packet value `got` matches constant `want` (a prefix matches what it contains).
fn value_matches(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (Value::Prefix(net), Value::Addr(ip)) => net.contains(ip),
        _ => want == got,
    }
}

/// The value `expr` loads from the packet.
fn load(expr: &Expr, pkt: &Pkt) -> Result<Value, String> {
    Ok(match expr {
        Expr::Ip(Addr::Saddr) => Value::Addr(pkt.src),
        Expr::Ip(Addr::Daddr) => Value::Addr(pkt.dst),
        Expr::L4Proto => pkt.proto,
        Expr::ThDport => Value::Port(pkt.dport),
        Expr::CtOriginalDaddr => Value::Addr(pkt.orig_dst),
        Expr::CtOriginalProtoDst => Value::Port(pkt.orig_dport),
        Expr::Numgen { .. } => return Err("numgen outside a dnat map key".into()),
    })
}

/// The values a key of expressions loads.
fn loads(key: &[Expr], pkt: &Pkt) -> Result<Vec<Value>, String> {
    key.iter().map(|e| load(e, pkt)).collect()
}

/// Every key a key of expressions may load: one per `numgen` value.
fn expand(key: &[Expr], pkt: &Pkt) -> Result<Vec<Vec<Value>>, String> {
    let mut keys = vec![Vec::new()];
    for expr in key {
        let choices: Vec<Value> = match expr {
            Expr::Numgen { modulus, offset } => {
                if *modulus > MAX_MODULUS {
                    return Err(format!("numgen modulus {modulus} too large to trace"));
                }
                (0..*modulus)
                    .map(|n| Value::Slot(offset.wrapping_add(n)))
                    .collect()
            }
            other => vec![load(other, pkt)?],
        };
        keys = keys
            .into_iter()
            .flat_map(|k| {
                choices.iter().map(move |c| {
                    let mut k = k.clone();
                    k.push(*c);
                    k
                })
            })
            .collect();
    }
    Ok(keys)
}
