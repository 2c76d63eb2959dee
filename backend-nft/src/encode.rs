//! The encoder: the only place that turns the planner's IR ([`Transaction`]) into netlink
//! objects, as ONE `nftnl` batch in the transaction's order.
//!
//! # Mapping
//!
//! | IR | netlink |
//! |----|---------|
//! | `AddTable` / `DeleteTable` | `NEWTABLE` / `DELTABLE`; an `AddTable` carries the table flags given to [`encode`] (`owner,persist`, see [`crate::owner`]) unless it is right before a `DeleteTable` of its family (delete-if-exists: no flags attribute, so an existing table, ours orphaned or unflagged, is left as it is until the delete) or the flags are 0 |
//! | `FlushTable` | `DELRULE` without a chain (every rule of the table), and `flush set` of every set the transaction adds to that table, right after its `NEWSET` (see below) |
//! | `AddChain` | `NEWCHAIN` (`NLM_F_CREATE`), base chains with type, hook, priority and policy `accept` |
//! | `FlushChain` | `DELRULE` naming the chain |
//! | `DeleteChain` | `NEWCHAIN` + `DELCHAIN`: delete-if-exists, so a full sync that deletes a stale shared chain still succeeds after someone deleted or flushed our table |
//! | `AddSet` / `FlushSet` / `DeleteSet` | `NEWSET` (flags `map`, `interval` (+ `concat` with field lengths for concatenations), `dynamic`, `timeout`) / `DELSETELEM` without elements / `DELSET` |
//! | `AddElement` / `DeleteElement` | `NEWSETELEM` / `DELSETELEM`; consecutive operations on the same set are coalesced into as few messages as fit (libnftnl splits at 64 KiB) |
//! | `AddRule` | `NEWRULE` (append) with the expressions of each [`Stmt`] |
//!
//! `flush table` has no netlink message of its own for sets: the kernel flushes a set only by
//! name. The IR's `FlushTable` empties every set, so the encoder flushes each set that the
//! transaction adds to the flushed table (all of them in the planner's full sync), right after
//! its `NEWSET`, where the set is known to exist even if the table was deleted behind our back.
//!
//! # Registers
//!
//! Every statement loads what it needs from register word 0 up; a concatenated key is laid
//! out field by field with [`ConcatType::registers`] (each field padded to 32-bit words:
//! `ip daddr . meta l4proto . th dport` = reg 1, reg 9, reg 10), exactly as `nft` does, so that
//! `nft list` decodes our rules into the statements [`crate::render`] prints. A `dnat ... map`
//! lookup writes `addr . port` back into word 0 on, and `nat` reads the address and the port
//! from there. `KEY map @m == ID` ([`Stmt::MapCmp`]) is a lookup of `m` with `dreg` word 0 (the
//! 4-byte dispatch id, over the key) and a `cmp` of word 0 with the id.
//!
//! # Elements of interval sets
//!
//! A single-field interval set (`cluster-cidrs`, `nodeport-ips`) stores a range as two
//! elements, its start and, flagged `interval end`, the first address past it (none when the
//! range reaches the top of the address space). A concatenated interval set
//! (`firewall-allow`) stores one element with an inclusive end key (`KEY_END`). A plain
//! address in an interval set is the range of that one address. Deletes send the same shapes.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{CString, NulError};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use ipnet::IpNet;
use nftnl::expr::Verdict as NftVerdict;
use nftnl::{
    Batch, Chain as NftChain, FinalizedBatch, MsgType, Policy, ProtoFamily, Rule as NftRule,
    Table as NftTable,
};
use proxy_core::model::Protocol;

use crate::expr::{
    Bitwise, Cmp, CmpOp as NftCmpOp, CtKey, CtLoad, Dynset, DynsetOp as NftDynsetOp, Fib, FibAddr,
    Lookup, Masq, MetaKey, MetaLoad, MetaSet, Nat, NatKind, NumgenRandom, PayloadBase, PayloadLoad,
    Reject,
};
use crate::ir::{
    Addr, ChainType, CmpOp, Command, DynsetOp, ElemData, Element, Expr, Family, Field, Hook, Op,
    Rule, SetData, SetDef, Stmt, Transaction, Value, Verdict,
};
use crate::render;
use crate::rule::FlushRules;
use crate::set::{
    Elem, ElemData as NftElemData, ElemOp, ElemVerdict, FlushSet, SetData as NftSetData,
    SetDef as NftSetDef, SetElems,
};
use crate::table::TableMsg;
use crate::types::{ConcatType, DataType, Reg, TypeError, Value as NftValue};

/// Why a transaction could not be encoded. Each names the operation (its index in the
/// transaction); all are planner bugs, never kernel conditions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A name contains a NUL byte.
    #[error("operation {index}: name {name:?} contains a NUL byte")]
    Name {
        /// Position of the operation.
        index: usize,
        /// The name.
        name: String,
    },
    /// An element names a set neither this transaction nor an earlier one defined.
    #[error("operation {index}: set {family} {set} is not defined")]
    UnknownSet {
        /// Position of the operation.
        index: usize,
        /// The family of the table.
        family: &'static str,
        /// The set.
        set: String,
    },
    /// A key, end key or data does not fit the set's types.
    #[error("operation {index}: element {what} does not fit set {set}: {reason}")]
    Element {
        /// Position of the operation.
        index: usize,
        /// The set.
        set: String,
        /// The element.
        what: String,
        /// Why.
        reason: String,
    },
    /// A statement cannot be expressed (e.g. a value of the wrong type for its expression).
    #[error("operation {index}: statement {stmt} cannot be encoded: {reason}")]
    Stmt {
        /// Position of the operation.
        index: usize,
        /// The statement, in `nft` syntax.
        stmt: String,
        /// Why.
        reason: String,
    },
}

/// The set definitions the encoder knows, per family: element messages need a set's key and
/// data types (and whether it holds intervals), but a partial transaction adds elements to
/// sets an earlier transaction defined. [`Schema::learn`] records a transaction once the
/// kernel accepted it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Schema {
    sets: BTreeMap<(Family, String), SetDef>,
}

impl Schema {
    /// No sets known.
    pub fn new() -> Self {
        Schema::default()
    }

    /// The definition of `set` in the table of `family`, if known.
    pub fn set(&self, family: Family, set: &str) -> Option<&SetDef> {
        self.sets.get(&(family, set.to_owned()))
    }

    /// Records the set additions and deletions of `tx` (call once the kernel accepted it).
    pub fn learn(&mut self, tx: &Transaction) {
        for cmd in &tx.commands {
            self.learn_one(cmd);
        }
    }

    fn learn_one(&mut self, cmd: &Command) {
        match &cmd.op {
            Op::AddSet(def) => {
                self.sets
                    .insert((cmd.family, def.name.clone()), def.clone());
            }
            Op::DeleteSet(name) => {
                self.sets.remove(&(cmd.family, name.clone()));
            }
            Op::DeleteTable => self.sets.retain(|(f, _), _| *f != cmd.family),
            _ => {}
        }
    }

    /// Forgets every set (after our tables were deleted).
    pub fn clear(&mut self) {
        self.sets.clear();
    }
}

/// A transaction encoded as one batch, with what is needed to report on it.
pub struct Encoded {
    batch: FinalizedBatch,
    /// For each message after the batch begin (in order), the operations it carries.
    msg_ops: Vec<Range<usize>>,
    bytes: usize,
}

impl Encoded {
    /// The batch to send with [`crate::netlink::Socket::apply`].
    pub fn batch(&self) -> &FinalizedBatch {
        &self.batch
    }

    /// Netlink messages in the batch, including the batch begin and end markers.
    pub fn messages(&self) -> usize {
        self.msg_ops.len() + 2
    }

    /// Bytes of the batch.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The operations (indices into the transaction's commands) carried by the message with
    /// sequence number `seq`, if it carries any (not a batch marker).
    pub fn ops_of_seq(&self, seq: u32) -> Option<Range<usize>> {
        // Sequence numbers are consecutive from the batch begin's; message k after it is
        // `first + 1 + k` (see `FinalizedBatch::sequence_numbers`; with kernels that do not ACK
        // the batch markers, the begin marker does not take a number and messages start at
        // `first`).
        let seqs = self.batch.sequence_numbers();
        let markers_acked = seqs.len() == self.msg_ops.len() + 2;
        let first = seqs.start + u32::from(markers_acked);
        let k = seq.checked_sub(first)? as usize;
        self.msg_ops.get(k).cloned()
    }

    /// A one-line description of what the message `seq` did, in `nft` syntax where possible.
    pub fn describe_seq(&self, tx: &Transaction, seq: u32) -> Option<String> {
        let ops = self.ops_of_seq(seq)?;
        let cmd = tx.commands.get(ops.start)?;
        let one = Transaction {
            table: tx.table.clone(),
            commands: vec![cmd.clone()],
        };
        let mut text = render::transaction(&one).trim_end().to_owned();
        if ops.len() > 1 {
            text = format!(
                "operations {}..{} ({} element operations, the first: {text})",
                ops.start,
                ops.end,
                ops.len()
            );
        } else {
            text = format!("operation {}: {text}", ops.start);
        }
        Some(text)
    }
}

/// Encodes `tx` as one batch; `schema` supplies the sets earlier transactions defined, and
/// `table_flags` (`NFT_TABLE_F_*` bits) the flags of the tables it creates (see the mapping).
pub fn encode(tx: &Transaction, schema: &Schema, table_flags: u32) -> Result<Encoded, EncodeError> {
    let mut enc = Encoder {
        table: cstring(0, &tx.table)?,
        table_flags,
        preludes: delete_if_exists_adds(tx),
        schema: schema.clone(),
        batch: Batch::new(),
        msg_ops: Vec::new(),
        next_set_id: 1,
        added_sets: BTreeMap::new(),
        flush_pending: BTreeSet::new(),
        deferred: BTreeMap::new(),
        touches: BTreeMap::new(),
        run: None,
    };
    for (index, cmd) in tx.commands.iter().enumerate() {
        if let Some(obj) = touched(&cmd.op) {
            let is_add = matches!(cmd.op, Op::AddChain(_) | Op::AddSet(_));
            let ops = enc.touches.entry((cmd.family, obj)).or_default();
            // Element runs touch a set many times in a row; the first of a run is enough.
            match ops.last_mut() {
                Some((last, false)) if !is_add && *last + 1 == index => *last = index,
                _ => ops.push((index, is_add)),
            }
        }
    }
    for (index, cmd) in tx.commands.iter().enumerate() {
        enc.command(index, cmd)?;
    }
    enc.finish_run();
    // Flushes deferred to an `add` that never came (cannot happen: see `defer_flush`).
    for ((f, obj), index) in std::mem::take(&mut enc.deferred) {
        enc.flush_now(index, f, &obj)?;
    }
    let batch = enc.batch.finalize();
    let bytes = batch.iter().map(<[u8]>::len).sum();
    Ok(Encoded {
        batch,
        msg_ops: enc.msg_ops,
        bytes,
    })
}

/// The indices of the `AddTable`s of `tx` right before a `DeleteTable` of the same family.
fn delete_if_exists_adds(tx: &Transaction) -> BTreeSet<usize> {
    tx.commands
        .windows(2)
        .enumerate()
        .filter(|(_, pair)| {
            matches!(pair[0].op, Op::AddTable)
                && matches!(pair[1].op, Op::DeleteTable)
                && pair[0].family == pair[1].family
        })
        .map(|(index, _)| index)
        .collect()
}

/// Consecutive element operations on one set, sent together.
struct Run {
    family: Family,
    set: String,
    delete: bool,
    ops: Range<usize>,
    def: SetDef,
    elems: SetElems,
}

struct Encoder {
    table: CString,
    /// Flags of the tables this transaction creates for good.
    table_flags: u32,
    /// `AddTable`s that only precede a `DeleteTable` (sent without flags).
    preludes: BTreeSet<usize>,
    schema: Schema,
    batch: Batch,
    msg_ops: Vec<Range<usize>>,
    next_set_id: u32,
    /// Sets added by this transaction so far, per family (they exist from there on).
    added_sets: BTreeMap<Family, BTreeSet<String>>,
    /// Families whose table was flushed: sets added later are flushed right after.
    flush_pending: BTreeSet<Family>,
    /// Flushes of chains and sets moved to right after their `add` later in the transaction
    /// (see [`Encoder::defer_flush`]), with the index of the flush operation.
    deferred: BTreeMap<(Family, Object), usize>,
    /// For each chain and set, the operations that change its contents, in order, and
    /// whether each is its `add`.
    touches: BTreeMap<(Family, Object), Vec<(usize, bool)>>,
    run: Option<Run>,
}

/// A chain or set, by name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Object {
    Chain(String),
    Set(String),
}

/// The chain or set whose contents `op` adds, flushes or deletes.
fn touched(op: &Op) -> Option<Object> {
    Some(match op {
        Op::AddChain(c) => Object::Chain(c.name.clone()),
        Op::FlushChain(c) | Op::DeleteChain(c) => Object::Chain(c.clone()),
        Op::AddRule { chain, .. } => Object::Chain(chain.clone()),
        Op::AddSet(d) => Object::Set(d.name.clone()),
        Op::FlushSet(s) | Op::DeleteSet(s) => Object::Set(s.clone()),
        Op::AddElement { set, .. } | Op::DeleteElement { set, .. } => Object::Set(set.clone()),
        Op::AddTable | Op::FlushTable | Op::DeleteTable => return None,
    })
}

fn cstring(index: usize, s: &str) -> Result<CString, EncodeError> {
    CString::new(s).map_err(|_: NulError| EncodeError::Name {
        index,
        name: s.to_owned(),
    })
}

fn proto_family(f: Family) -> ProtoFamily {
    match f {
        Family::Ip => ProtoFamily::Ipv4,
        Family::Ip6 => ProtoFamily::Ipv6,
    }
}

impl Encoder {
    /// Adds one message carrying operation `index`.
    fn add<T: nftnl::NlMsg>(&mut self, index: usize, msg: &T, ty: MsgType) {
        self.batch.add(msg, ty);
        self.msg_ops.push(index..index + 1);
    }

    fn nft_table(&self, f: Family) -> NftTable {
        NftTable::new(&self.table, proto_family(f))
    }

    /// An `ffi` set definition naming `name` (types from `def`, or placeholders when only the
    /// name matters, as for flush and delete).
    fn nft_set(
        &mut self,
        index: usize,
        f: Family,
        name: &str,
        def: Option<&SetDef>,
    ) -> Result<NftSetDef, EncodeError> {
        let cname = cstring(index, name)?;
        let id = self.next_set_id;
        self.next_set_id += 1;
        let Some(def) = def else {
            return Ok(NftSetDef::new(
                &self.table,
                proto_family(f),
                &cname,
                id,
                ConcatType::new(&[DataType::InetService]),
                NftSetData::None,
            ));
        };
        let key = concat(f, &def.key);
        let data = match &def.data {
            None => NftSetData::None,
            Some(SetData::Verdict) => NftSetData::Verdict,
            Some(SetData::Concat(fields)) => NftSetData::Data(concat(f, fields)),
        };
        let mut set = NftSetDef::new(&self.table, proto_family(f), &cname, id, key, data);
        if def.flags.interval {
            set = set.interval();
        }
        if def.flags.dynamic {
            set = set.dynamic();
        }
        if def.flags.timeout {
            set = set.timeouts();
        }
        if let Some(t) = def.timeout {
            set = set.timeout(std::time::Duration::from_secs(u64::from(t)));
        }
        if let Some(size) = def.size {
            set = set.size(size);
        }
        Ok(set)
    }

    fn command(&mut self, index: usize, cmd: &Command) -> Result<(), EncodeError> {
        let f = cmd.family;
        match &cmd.op {
            Op::AddElement { set, elem } => return self.element(index, f, set, Some(elem), None),
            Op::DeleteElement { set, key } => return self.element(index, f, set, None, Some(key)),
            _ => self.finish_run(),
        }
        match &cmd.op {
            Op::AddElement { .. } | Op::DeleteElement { .. } => unreachable!("handled above"),
            Op::AddTable => {
                let flags = (self.table_flags != 0 && !self.preludes.contains(&index))
                    .then_some(self.table_flags);
                let t = TableMsg::new(&self.table, proto_family(f)).flags(flags);
                self.add(index, &t, MsgType::Add);
            }
            Op::DeleteTable => {
                let t = TableMsg::new(&self.table, proto_family(f));
                self.add(index, &t, MsgType::Del);
                self.added_sets.remove(&f);
                self.flush_pending.remove(&f);
            }
            Op::FlushTable => {
                let flush = FlushRules::table(&self.table, proto_family(f));
                self.add(index, &flush, MsgType::Del);
                let existing: Vec<String> = self
                    .added_sets
                    .get(&f)
                    .map(|s| s.iter().cloned().collect())
                    .unwrap_or_default();
                for name in existing {
                    self.flush_set(index, f, &name)?;
                }
                self.flush_pending.insert(f);
            }
            Op::AddChain(chain) => {
                let t = self.nft_table(f);
                let name = cstring(index, &chain.name)?;
                let mut c = NftChain::new(&name, &t);
                if let Some(base) = &chain.base {
                    c.set_type(match base.chain_type {
                        ChainType::Filter => nftnl::ChainType::Filter,
                        ChainType::Nat => nftnl::ChainType::Nat,
                    });
                    c.set_hook(
                        match base.hook {
                            Hook::Prerouting => nftnl::Hook::PreRouting,
                            Hook::Input => nftnl::Hook::In,
                            Hook::Forward => nftnl::Hook::Forward,
                            Hook::Output => nftnl::Hook::Out,
                            Hook::Postrouting => nftnl::Hook::PostRouting,
                        },
                        base.priority,
                    );
                    c.set_policy(Policy::Accept);
                }
                self.add(index, &c, MsgType::Add);
                self.deferred_flush(f, Object::Chain(chain.name.clone()))?;
            }
            Op::FlushChain(name) => self.defer_flush(index, f, Object::Chain(name.clone()))?,
            Op::DeleteChain(name) => {
                // Delete-if-exists: a regular chain is created if missing (a no-op if it
                // exists), then deleted.
                let t = self.nft_table(f);
                let name = cstring(index, name)?;
                let c = NftChain::new(&name, &t);
                self.add(index, &c, MsgType::Add);
                self.add(index, &c, MsgType::Del);
            }
            Op::AddSet(def) => {
                let set = self.nft_set(index, f, &def.name, Some(def))?;
                self.add(index, &set, MsgType::Add);
                self.schema.learn_one(cmd);
                self.added_sets
                    .entry(f)
                    .or_default()
                    .insert(def.name.clone());
                if self.flush_pending.contains(&f) {
                    self.flush_set(index, f, &def.name)?;
                } else {
                    self.deferred_flush(f, Object::Set(def.name.clone()))?;
                }
            }
            Op::FlushSet(name) => self.defer_flush(index, f, Object::Set(name.clone()))?,
            Op::DeleteSet(name) => {
                let set = self.nft_set(index, f, name, None)?;
                self.add(index, &set, MsgType::Del);
                self.schema.learn_one(cmd);
                if let Some(s) = self.added_sets.get_mut(&f) {
                    s.remove(name);
                }
            }
            Op::AddRule { chain, rule } => self.rule(index, f, chain, rule)?,
        }
        Ok(())
    }

    /// Flushes `obj` (operation `index`), or, when the next operation of the transaction that
    /// touches it is its `add`, right after that `add` instead: nothing changes its contents
    /// in between, so the result is the same, and the flush no longer needs the object to exist
    /// beforehand. That is what makes a full sync (flush everything, add everything) repair a
    /// table someone deleted.
    fn defer_flush(&mut self, index: usize, f: Family, obj: Object) -> Result<(), EncodeError> {
        let next_is_add = self
            .touches
            .get(&(f, obj.clone()))
            .and_then(|ops| ops.iter().find(|(i, _)| *i > index))
            .is_some_and(|(_, is_add)| *is_add);
        if next_is_add {
            self.deferred.insert((f, obj), index);
            Ok(())
        } else {
            self.flush_now(index, f, &obj)
        }
    }

    /// Emits the flush deferred to the `add` of `obj` just encoded, if any.
    fn deferred_flush(&mut self, f: Family, obj: Object) -> Result<(), EncodeError> {
        match self.deferred.remove(&(f, obj.clone())) {
            Some(index) => self.flush_now(index, f, &obj),
            None => Ok(()),
        }
    }

    fn flush_now(&mut self, index: usize, f: Family, obj: &Object) -> Result<(), EncodeError> {
        match obj {
            Object::Chain(name) => {
                let name = cstring(index, name)?;
                let flush = FlushRules::chain(&self.table, proto_family(f), &name);
                self.add(index, &flush, MsgType::Del);
                Ok(())
            }
            Object::Set(name) => self.flush_set(index, f, name),
        }
    }

    fn flush_set(&mut self, index: usize, f: Family, name: &str) -> Result<(), EncodeError> {
        let set = self.nft_set(index, f, name, None)?;
        self.add(index, &FlushSet::new(&set), MsgType::Del);
        Ok(())
    }

    /// Sends the pending run of element operations, if any.
    fn finish_run(&mut self) {
        if let Some(run) = self.run.take() {
            let op = if run.delete {
                ElemOp::Delete
            } else {
                ElemOp::Add
            };
            let n = run.elems.add_to_batch(&mut self.batch, op);
            for _ in 0..n {
                self.msg_ops.push(run.ops.clone());
            }
        }
    }

    /// Adds an element add (`elem`) or delete (`key`) to the current run.
    fn element(
        &mut self,
        index: usize,
        f: Family,
        set: &str,
        elem: Option<&Element>,
        key: Option<&Vec<Value>>,
    ) -> Result<(), EncodeError> {
        let delete = elem.is_none();
        let same_run = self
            .run
            .as_ref()
            .is_some_and(|r| r.family == f && r.set == set && r.delete == delete);
        if !same_run {
            self.finish_run();
            let def = self
                .schema
                .set(f, set)
                .cloned()
                .ok_or_else(|| EncodeError::UnknownSet {
                    index,
                    family: f.as_str(),
                    set: set.to_owned(),
                })?;
            let nft = self.nft_set(index, f, set, Some(&def))?;
            self.run = Some(Run {
                family: f,
                set: set.to_owned(),
                delete,
                ops: index..index,
                def,
                elems: SetElems::for_set(&nft),
            });
        }
        let Some(run) = self.run.as_mut() else {
            unreachable!("a run was started above")
        };
        let key_values = match (elem, key) {
            (Some(e), _) => &e.key,
            (None, Some(k)) => k,
            (None, None) => unreachable!("an add or a delete"),
        };
        let what = || match elem {
            Some(e) => render::element(e),
            None => key_values
                .iter()
                .map(render::value)
                .collect::<Vec<_>>()
                .join(" . "),
        };
        let err = |reason: String| EncodeError::Element {
            index,
            set: set.to_owned(),
            what: what(),
            reason,
        };
        let elems = element_messages(f, &run.def, key_values, elem).map_err(err)?;
        for e in elems {
            run.elems
                .push_elem(e)
                .map_err(|e: TypeError| EncodeError::Element {
                    index,
                    set: set.to_owned(),
                    what: what(),
                    reason: e.to_string(),
                })?;
        }
        run.ops.end = index + 1;
        Ok(())
    }

    fn rule(
        &mut self,
        index: usize,
        f: Family,
        chain: &str,
        rule: &Rule,
    ) -> Result<(), EncodeError> {
        let t = self.nft_table(f);
        let cname = cstring(index, chain)?;
        let c = NftChain::new(&cname, &t);
        let mut r = NftRule::new(&c);
        for stmt in &rule.stmts {
            stmt_exprs(&mut r, f, stmt).map_err(|reason| EncodeError::Stmt {
                index,
                stmt: render::rule(f, &Rule::new(vec![stmt.clone()])),
                reason,
            })?;
        }
        self.add(index, &r, MsgType::Add);
        Ok(())
    }
}

/// The `ffi` type of a field in the table of `f`.
fn data_type(field: Field) -> DataType {
    match field {
        Field::Ipv4Addr => DataType::Ipv4Addr,
        Field::Ipv6Addr => DataType::Ipv6Addr,
        Field::InetProto => DataType::InetProto,
        Field::InetService => DataType::InetService,
        Field::Slot | Field::Id => DataType::Mark,
    }
}

/// The `ffi` type of a plain value compared with a map's data.
fn value_type(f: Family, v: &Value) -> Result<DataType, String> {
    Ok(match v {
        Value::Addr(_) => data_type(f.addr_field()),
        Value::Proto(_) => DataType::InetProto,
        Value::Port(_) => DataType::InetService,
        Value::Slot(_) | Value::Id(_) => DataType::Mark,
        Value::Prefix(n) => return Err(format!("prefix {n} compared with map data")),
    })
}

fn concat(_f: Family, fields: &[Field]) -> ConcatType {
    ConcatType::new(&fields.iter().map(|x| data_type(*x)).collect::<Vec<_>>())
}

/// The IANA protocol number.
fn proto_number(p: Protocol) -> u8 {
    match p {
        Protocol::Tcp => 6,
        Protocol::Udp => 17,
        Protocol::Sctp => 132,
    }
}

/// A plain (non-range) IR value as an `ffi` value.
fn plain_value(v: &Value) -> Result<NftValue, String> {
    Ok(match v {
        Value::Addr(IpAddr::V4(a)) => NftValue::Ipv4(*a),
        Value::Addr(IpAddr::V6(a)) => NftValue::Ipv6(*a),
        Value::Proto(p) => NftValue::Proto(proto_number(*p)),
        Value::Port(p) => NftValue::Port(*p),
        Value::Slot(s) => NftValue::Mark(*s),
        // In network byte order: only ever compared with itself (a data-map value looked up as
        // a verdict-map key), and `nft` reads a single-field `mark` key or data of a set without
        // user data (ours) as big-endian, so it lists the id as written.
        Value::Id(id) => NftValue::Mark(u32::from_ne_bytes(id.to_be_bytes())),
        Value::Prefix(n) if n.prefix_len() == n.max_prefix_len() => match n.addr() {
            IpAddr::V4(a) => NftValue::Ipv4(a),
            IpAddr::V6(a) => NftValue::Ipv6(a),
        },
        Value::Prefix(n) => return Err(format!("prefix {n} outside an interval set")),
    })
}

fn addr_value(a: IpAddr) -> NftValue {
    match a {
        IpAddr::V4(a) => NftValue::Ipv4(a),
        IpAddr::V6(a) => NftValue::Ipv6(a),
    }
}

/// The first address past `net`, if any.
fn after(net: &IpNet) -> Option<IpAddr> {
    match net.broadcast() {
        IpAddr::V4(b) => u32::from(b)
            .checked_add(1)
            .map(|n| IpAddr::V4(Ipv4Addr::from(n))),
        IpAddr::V6(b) => u128::from(b)
            .checked_add(1)
            .map(|n| IpAddr::V6(Ipv6Addr::from(n))),
    }
}

/// The range a value of an interval set covers: (first, last).
fn range_of(v: &Value) -> Option<IpNet> {
    match v {
        Value::Prefix(n) => Some(n.trunc()),
        Value::Addr(a) => Some(IpNet::from(*a)),
        _ => None,
    }
}

/// The `ffi` elements an IR element (or, without `elem`, a delete of `key`) becomes in `def`.
fn element_messages(
    f: Family,
    def: &SetDef,
    key: &[Value],
    elem: Option<&Element>,
) -> Result<Vec<Elem>, String> {
    let key_type = concat(f, &def.key);
    let data = match elem.and_then(|e| e.data.as_ref()) {
        None => NftElemData::None,
        Some(ElemData::Verdict(v)) => NftElemData::Verdict(elem_verdict(v)?),
        Some(ElemData::Concat(values)) => {
            let Some(SetData::Concat(fields)) = &def.data else {
                return Err("data for a set that is not a data map".into());
            };
            let values = values
                .iter()
                .map(plain_value)
                .collect::<Result<Vec<_>, _>>()?;
            NftElemData::Bytes(
                concat(f, fields)
                    .encode(&values)
                    .map_err(|e| e.to_string())?,
            )
        }
    };
    // Deletes carry no data.
    let data = if elem.is_some() {
        data
    } else {
        NftElemData::None
    };
    let comment = elem.and_then(|e| e.comment.clone());
    let encode = |values: &[NftValue]| key_type.encode(values).map_err(|e| e.to_string());

    if !def.flags.interval {
        let values = key.iter().map(plain_value).collect::<Result<Vec<_>, _>>()?;
        return Ok(vec![Elem {
            comment,
            ..Elem::new(encode(&values)?, data)
        }]);
    }
    if def.key.len() == 1 {
        let [v] = key else {
            return Err(format!("{} values for a one-field key", key.len()));
        };
        let net = range_of(v).ok_or("an interval set of addresses needs an address or prefix")?;
        let mut out = vec![Elem {
            comment,
            ..Elem::new(encode(&[addr_value(net.network())])?, data)
        }];
        if let Some(end) = after(&net) {
            out.push(Elem {
                interval_end: true,
                ..Elem::new(encode(&[addr_value(end)])?, NftElemData::None)
            });
        }
        return Ok(out);
    }
    // A concatenation of ranges: start and inclusive end key.
    let mut start = Vec::with_capacity(key.len());
    let mut end = Vec::with_capacity(key.len());
    for v in key {
        match v {
            Value::Prefix(n) if n.prefix_len() < n.max_prefix_len() => {
                let n = n.trunc();
                start.push(addr_value(n.network()));
                end.push(addr_value(n.broadcast()));
            }
            v => {
                let p = plain_value(v)?;
                start.push(p);
                end.push(p);
            }
        }
    }
    Ok(vec![Elem {
        key_end: Some(encode(&end)?),
        comment,
        ..Elem::new(encode(&start)?, data)
    }])
}

fn elem_verdict(v: &Verdict) -> Result<ElemVerdict, String> {
    let chain = |c: &str| CString::new(c).map_err(|_| format!("chain name {c:?} contains NUL"));
    Ok(match v {
        Verdict::Accept => ElemVerdict::Accept,
        Verdict::Drop => ElemVerdict::Drop,
        Verdict::Return => ElemVerdict::Return,
        Verdict::Jump(c) => ElemVerdict::Jump(chain(c)?),
        Verdict::Goto(c) => ElemVerdict::Goto(chain(c)?),
    })
}

fn nft_verdict(v: &Verdict) -> Result<NftVerdict, String> {
    let chain = |c: &str| CString::new(c).map_err(|_| format!("chain name {c:?} contains NUL"));
    Ok(match v {
        Verdict::Accept => NftVerdict::Accept,
        Verdict::Drop => NftVerdict::Drop,
        Verdict::Return => NftVerdict::Return,
        Verdict::Jump(c) => NftVerdict::Jump { chain: chain(c)? },
        Verdict::Goto(c) => NftVerdict::Goto { chain: chain(c)? },
    })
}

/// The field type an expression loads in the table of `f`.
fn expr_type(f: Family, e: &Expr) -> DataType {
    let addr = data_type(f.addr_field());
    match e {
        Expr::Ip(_) | Expr::CtOriginalDaddr => addr,
        Expr::L4Proto => DataType::InetProto,
        Expr::ThDport | Expr::CtOriginalProtoDst => DataType::InetService,
        Expr::Numgen { .. } => DataType::Mark,
    }
}

/// Byte offset of `ip[6] saddr|daddr` in the network header, and the address length.
fn addr_offset(f: Family, a: Addr) -> (u32, u32) {
    match (f, a) {
        (Family::Ip, Addr::Saddr) => (12, 4),
        (Family::Ip, Addr::Daddr) => (16, 4),
        (Family::Ip6, Addr::Saddr) => (8, 16),
        (Family::Ip6, Addr::Daddr) => (24, 16),
    }
}

/// Appends the load of `e` into `reg`.
fn load(r: &mut NftRule<'_>, f: Family, e: &Expr, reg: Reg) {
    match e {
        Expr::Ip(a) => {
            let (offset, len) = addr_offset(f, *a);
            r.add_expr(&PayloadLoad::new(PayloadBase::Network, offset, len, reg));
        }
        Expr::L4Proto => r.add_expr(&MetaLoad {
            key: MetaKey::L4Proto,
            dreg: reg,
        }),
        Expr::ThDport => r.add_expr(&PayloadLoad::th_dport(reg)),
        Expr::Numgen { modulus, offset } => r.add_expr(&NumgenRandom {
            modulus: *modulus,
            offset: *offset,
            dreg: reg,
        }),
        Expr::CtOriginalDaddr => r.add_expr(&CtLoad {
            key: match f {
                Family::Ip => CtKey::DstIp,
                Family::Ip6 => CtKey::DstIp6,
            },
            original: true,
            dreg: reg,
        }),
        Expr::CtOriginalProtoDst => r.add_expr(&CtLoad {
            key: CtKey::ProtoDst,
            original: true,
            dreg: reg,
        }),
    }
}

/// Loads a (concatenated) key from word 0 on; returns its type.
fn load_key(r: &mut NftRule<'_>, f: Family, key: &[Expr]) -> Result<ConcatType, String> {
    if key.is_empty() {
        return Err("empty key".into());
    }
    let t = ConcatType::new(&key.iter().map(|e| expr_type(f, e)).collect::<Vec<_>>());
    let words: usize = t.fields().iter().map(|d| d.padded_len() / 4).sum();
    if words > 16 {
        return Err(format!("key of {words} register words, at most 16"));
    }
    for (e, reg) in key.iter().zip(t.registers(Reg::R1)) {
        load(r, f, e, reg);
    }
    Ok(t)
}

/// A 4-byte host-order constant (marks, ct state and status bits).
fn word(v: u32) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

/// `LOAD & mask ^ 0 OP 0`: a test of bits in a 4-byte host-order value.
fn bits(r: &mut NftRule<'_>, mask: u32, op: NftCmpOp) {
    r.add_expr(&Bitwise {
        sreg: Reg::R1,
        dreg: Reg::R1,
        mask: word(mask),
        xor: word(0),
    });
    r.add_expr(&Cmp {
        sreg: Reg::R1,
        op,
        data: word(0),
    });
}

fn cmp_op(op: CmpOp) -> NftCmpOp {
    match op {
        CmpOp::Eq => NftCmpOp::Eq,
        CmpOp::Neq => NftCmpOp::Neq,
    }
}

/// `EXPR [!=] PREFIX` the way `nft` encodes it: a byte-aligned prefix of a packet address
/// loads only its bytes; otherwise the whole value is masked.
fn cmp_prefix(
    r: &mut NftRule<'_>,
    f: Family,
    e: &Expr,
    op: CmpOp,
    net: &IpNet,
) -> Result<(), String> {
    let net = net.trunc();
    let bytes = match net.network() {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    let plen = u32::from(net.prefix_len());
    if let Expr::Ip(a) = e
        && plen > 0
        && plen % 8 == 0
    {
        let (offset, _) = addr_offset(f, *a);
        let len = plen / 8;
        r.add_expr(&PayloadLoad::new(
            PayloadBase::Network,
            offset,
            len,
            Reg::R1,
        ));
        r.add_expr(&Cmp {
            sreg: Reg::R1,
            op: cmp_op(op),
            data: bytes[..len as usize].to_vec(),
        });
        return Ok(());
    }
    load(r, f, e, Reg::R1);
    let mask = match net.netmask() {
        IpAddr::V4(m) => m.octets().to_vec(),
        IpAddr::V6(m) => m.octets().to_vec(),
    };
    r.add_expr(&Bitwise {
        sreg: Reg::R1,
        dreg: Reg::R1,
        xor: vec![0; mask.len()],
        mask,
    });
    r.add_expr(&Cmp {
        sreg: Reg::R1,
        op: cmp_op(op),
        data: bytes,
    });
    Ok(())
}

/// Appends the expressions of one statement.
fn stmt_exprs(r: &mut NftRule<'_>, f: Family, stmt: &Stmt) -> Result<(), String> {
    const CT_STATE_NEW: u32 = 1 << 3;
    const CT_STATUS_DNAT: u32 = 1 << 5;
    match stmt {
        Stmt::CtStateNew => {
            r.add_expr(&CtLoad {
                key: CtKey::State,
                original: false,
                dreg: Reg::R1,
            });
            bits(r, CT_STATE_NEW, NftCmpOp::Neq);
        }
        Stmt::CtStatusDnat => {
            r.add_expr(&CtLoad {
                key: CtKey::Status,
                original: false,
                dreg: Reg::R1,
            });
            bits(r, CT_STATUS_DNAT, NftCmpOp::Neq);
        }
        Stmt::Cmp { expr, op, value } => {
            let ty = expr_type(f, expr);
            match value {
                Value::Prefix(net) if net.prefix_len() < net.max_prefix_len() => {
                    if !matches!(ty, DataType::Ipv4Addr | DataType::Ipv6Addr)
                        || net.addr().is_ipv4() != (ty == DataType::Ipv4Addr)
                    {
                        return Err(format!("prefix {net} compared with a non-address"));
                    }
                    cmp_prefix(r, f, expr, *op, net)?;
                }
                v => {
                    let v = plain_value(v)?;
                    let data = ConcatType::new(&[ty])
                        .encode(&[v])
                        .map_err(|e| e.to_string())?;
                    load(r, f, expr, Reg::R1);
                    r.add_expr(&Cmp {
                        sreg: Reg::R1,
                        op: cmp_op(*op),
                        data,
                    });
                }
            }
        }
        Stmt::Lookup { key, set, negate } => {
            load_key(r, f, key)?;
            let set = CString::new(set.as_str()).map_err(|_| "set name contains NUL".to_owned())?;
            r.add_expr(&Lookup {
                invert: *negate,
                ..Lookup::member(&set, Reg::R1)
            });
        }
        Stmt::Vmap { key, map } => {
            load_key(r, f, key)?;
            let map = CString::new(map.as_str()).map_err(|_| "map name contains NUL".to_owned())?;
            r.add_expr(&Lookup::vmap(&map, Reg::R1));
        }
        Stmt::MapCmp {
            key,
            map,
            op,
            value,
        } => {
            // The id lands in word 0, over the key (read before the data is written), and is
            // compared there: the register allocation `nft` uses for `KEY map @m` in a
            // statement.
            load_key(r, f, key)?;
            let map = CString::new(map.as_str()).map_err(|_| "map name contains NUL".to_owned())?;
            r.add_expr(&Lookup::map(&map, Reg::R1, Reg::R1));
            let v = plain_value(value)?;
            let data = ConcatType::new(&[value_type(f, value)?])
                .encode(&[v])
                .map_err(|e| e.to_string())?;
            r.add_expr(&Cmp {
                sreg: Reg::R1,
                op: cmp_op(*op),
                data,
            });
        }
        Stmt::FibLocal(a) => {
            let addr = match a {
                Addr::Saddr => FibAddr::Saddr,
                Addr::Daddr => FibAddr::Daddr,
            };
            let (fib, is_local) = Fib::local(addr, Reg::R1);
            r.add_expr(&fib);
            r.add_expr(&is_local);
        }
        Stmt::MarkClear(m) => {
            r.add_expr(&MetaLoad {
                key: MetaKey::Mark,
                dreg: Reg::R1,
            });
            bits(r, *m, NftCmpOp::Eq);
        }
        Stmt::MarkOr(m) | Stmt::MarkXor(m) => {
            r.add_expr(&MetaLoad {
                key: MetaKey::Mark,
                dreg: Reg::R1,
            });
            // `mark | m` is `(mark & !m) ^ m`; `mark ^ m` is `(mark & !0) ^ m`.
            let mask = if matches!(stmt, Stmt::MarkOr(_)) {
                !*m
            } else {
                u32::MAX
            };
            r.add_expr(&Bitwise {
                sreg: Reg::R1,
                dreg: Reg::R1,
                mask: word(mask),
                xor: word(*m),
            });
            r.add_expr(&MetaSet {
                key: MetaKey::Mark,
                sreg: Reg::R1,
            });
        }
        Stmt::DnatMap { key, map } => {
            load_key(r, f, key)?;
            let map = CString::new(map.as_str()).map_err(|_| "map name contains NUL".to_owned())?;
            let data = ConcatType::new(&[data_type(f.addr_field()), DataType::InetService]);
            let regs = data.registers(Reg::R1);
            r.add_expr(&Lookup::map(&map, Reg::R1, regs[0]));
            r.add_expr(&Nat {
                kind: NatKind::Dnat,
                family: proto_family(f),
                addr: regs[0],
                port: Some(regs[1]),
            });
        }
        Stmt::Masquerade { fully_random } => r.add_expr(&Masq {
            fully_random: *fully_random,
        }),
        Stmt::Reject => r.add_expr(&match f {
            Family::Ip => Reject::PORT_UNREACHABLE_V4,
            Family::Ip6 => Reject::PORT_UNREACHABLE_V6,
        }),
        Stmt::Dynset {
            op,
            set,
            key,
            data,
            timeout,
        } => {
            let key_type = load_key(r, f, key)?;
            let key_words: usize = key_type.fields().iter().map(|d| d.padded_len() / 4).sum();
            let sreg_data = if data.is_empty() {
                None
            } else {
                let start = Reg::word(key_words as u32);
                let t = ConcatType::new(&data.iter().map(|e| expr_type(f, e)).collect::<Vec<_>>());
                let words: usize = t.fields().iter().map(|d| d.padded_len() / 4).sum();
                if key_words + words > 16 {
                    return Err(format!(
                        "key and data of {} register words, at most 16",
                        key_words + words
                    ));
                }
                for (e, reg) in data.iter().zip(t.registers(start)) {
                    load(r, f, e, reg);
                }
                Some(start)
            };
            let set = CString::new(set.as_str()).map_err(|_| "set name contains NUL".to_owned())?;
            r.add_expr(&Dynset {
                op: match op {
                    DynsetOp::Update => NftDynsetOp::Update,
                    DynsetOp::Delete => NftDynsetOp::Delete,
                },
                set,
                sreg_key: Reg::R1,
                sreg_data,
                timeout: timeout.map(|t| std::time::Duration::from_secs(u64::from(t))),
            });
        }
        Stmt::Verdict(v) => r.add_expr(&nft_verdict(v)?),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Chain, SetDef};

    fn tx(ops: Vec<Op>) -> Transaction {
        let mut tx = Transaction::new("svcproxy");
        for op in ops {
            tx.push(Family::Ip, op);
        }
        tx
    }

    fn elem(key: Vec<Value>) -> Element {
        Element {
            key,
            data: None,
            comment: None,
        }
    }

    #[test]
    fn consecutive_element_operations_share_messages() {
        let mut ops = vec![
            Op::AddTable,
            Op::AddSet(SetDef::set("s", vec![Field::InetService])),
        ];
        for port in 0..100 {
            ops.push(Op::AddElement {
                set: "s".into(),
                elem: elem(vec![Value::Port(port)]),
            });
        }
        let t = tx(ops);
        let enc = encode(&t, &Schema::new(), 0).expect("encodes");
        // table, set, one element message, batch begin and end.
        assert_eq!(enc.messages(), 5);
        let seqs = enc.batch().sequence_numbers();
        let last = seqs.end - 1 - u32::from(seqs.len() == enc.messages());
        assert_eq!(enc.ops_of_seq(last), Some(2..102));
        assert!(enc.bytes() > 100 * 8);
    }

    /// The `NFTA_TABLE_FLAGS` value of each `NEWTABLE` message of `enc`, in order (`None`:
    /// no flags attribute).
    fn newtable_flags(enc: &Encoded) -> Vec<Option<u32>> {
        const NEWTABLE: u16 = (10 << 8) | libc::NFT_MSG_NEWTABLE as u16;
        const NFTA_TABLE_FLAGS: u16 = 2;
        let u16_at = |b: &[u8], at: usize| u16::from_ne_bytes([b[at], b[at + 1]]);
        let u32_at = |b: &[u8], at: usize| u32::from_ne_bytes(b[at..at + 4].try_into().expect("4"));
        let mut out = Vec::new();
        for page in enc.batch().iter() {
            let mut msg = page;
            while msg.len() >= 16 {
                let len = u32_at(msg, 0) as usize;
                if u16_at(msg, 4) == NEWTABLE {
                    // nlmsghdr (16) + nfgenmsg (4), then the attributes.
                    let mut attrs = &msg[20..len];
                    let mut flags = None;
                    while attrs.len() >= 4 {
                        let alen = usize::from(u16_at(attrs, 0));
                        if u16_at(attrs, 2) == NFTA_TABLE_FLAGS {
                            flags = Some(u32::from_be_bytes(attrs[4..8].try_into().expect("4")));
                        }
                        attrs = &attrs[alen.next_multiple_of(4).min(attrs.len())..];
                    }
                    out.push(flags);
                }
                msg = &msg[len.next_multiple_of(4).min(msg.len())..];
            }
        }
        out
    }

    #[test]
    fn table_flags_only_where_the_table_is_created_for_good() {
        let protected = crate::owner::PROTECTED;
        // A fresh full sync: delete-if-exists, then the table for good.
        let fresh = tx(vec![Op::AddTable, Op::DeleteTable, Op::AddTable]);
        let enc = encode(&fresh, &Schema::new(), protected).expect("encodes");
        assert_eq!(newtable_flags(&enc), [None, Some(protected)]);
        // Cleanup: both families delete-if-exists, no flags anywhere.
        let mut cleanup = Transaction::new("svcproxy");
        for f in Family::ALL {
            cleanup.push(f, Op::AddTable);
            cleanup.push(f, Op::DeleteTable);
        }
        let enc = encode(&cleanup, &Schema::new(), protected).expect("encodes");
        assert_eq!(newtable_flags(&enc), [None, None]);
        // A later full sync (`add table` + `flush table`) keeps asking for the flags: a no-op
        // on our own table, the flags on a table recreated after someone deleted it.
        let again = tx(vec![Op::AddTable, Op::FlushTable]);
        let enc = encode(&again, &Schema::new(), protected).expect("encodes");
        assert_eq!(newtable_flags(&enc), [Some(protected)]);
        // Without flags (older kernels, forced): no attribute at all.
        let enc = encode(&fresh, &Schema::new(), 0).expect("encodes");
        assert_eq!(newtable_flags(&enc), [None, None]);
    }

    #[test]
    fn elements_need_a_known_set() {
        let t = tx(vec![Op::DeleteElement {
            set: "nope".into(),
            key: vec![Value::Port(1)],
        }]);
        assert!(matches!(
            encode(&t, &Schema::new(), 0),
            Err(EncodeError::UnknownSet { index: 0, .. })
        ));
        let mut schema = Schema::new();
        schema.learn(&tx(vec![Op::AddSet(SetDef::set(
            "nope",
            vec![Field::InetService],
        ))]));
        assert!(encode(&t, &schema, 0).is_ok());
    }

    #[test]
    fn interval_elements_are_ranges() {
        let v4 = SetDef::set("c", vec![Field::Ipv4Addr]).interval();
        let net: IpNet = "10.244.0.0/16".parse().expect("cidr");
        let e = element_messages(Family::Ip, &v4, &[Value::Prefix(net)], Some(&elem(vec![])))
            .expect("fits");
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].key, vec![10, 244, 0, 0]);
        assert_eq!(
            (e[1].key.clone(), e[1].interval_end),
            (vec![10, 245, 0, 0], true)
        );
        let all: IpNet = "0.0.0.0/0".parse().expect("cidr");
        assert_eq!(
            element_messages(Family::Ip, &v4, &[Value::Prefix(all)], None)
                .expect("fits")
                .len(),
            1,
            "no end past the top of the address space"
        );
        let fw = SetDef::set(
            "fw",
            vec![
                Field::Ipv4Addr,
                Field::InetProto,
                Field::InetService,
                Field::Ipv4Addr,
            ],
        )
        .interval();
        let key = [
            Value::Addr("1.2.3.4".parse().expect("ip")),
            Value::Proto(Protocol::Tcp),
            Value::Port(80),
            Value::Prefix("10.0.0.0/8".parse().expect("cidr")),
        ];
        let e = element_messages(Family::Ip, &fw, &key, None).expect("fits");
        assert_eq!(e.len(), 1);
        assert_eq!(
            e[0].key,
            vec![1, 2, 3, 4, 6, 0, 0, 0, 0, 80, 0, 0, 10, 0, 0, 0]
        );
        assert_eq!(
            e[0].key_end.as_deref(),
            Some(&[1, 2, 3, 4, 6, 0, 0, 0, 0, 80, 0, 0, 10, 255, 255, 255][..])
        );
    }

    #[test]
    fn type_mismatches_are_reported() {
        let t = tx(vec![
            Op::AddTable,
            Op::AddSet(SetDef::set("s", vec![Field::InetService])),
            Op::AddElement {
                set: "s".into(),
                elem: elem(vec![Value::Proto(Protocol::Udp)]),
            },
        ]);
        assert!(matches!(
            encode(&t, &Schema::new(), 0),
            Err(EncodeError::Element { index: 2, .. })
        ));
        let t = tx(vec![Op::AddRule {
            chain: "c".into(),
            rule: Rule::new(vec![Stmt::Cmp {
                expr: Expr::ThDport,
                op: CmpOp::Eq,
                value: Value::Prefix("10.0.0.0/8".parse().expect("cidr")),
            }]),
        }]);
        assert!(matches!(
            encode(&t, &Schema::new(), 0),
            Err(EncodeError::Stmt { index: 0, .. })
        ));
    }

    #[test]
    fn flushes_move_to_right_after_the_add_that_follows() {
        let base = |name: &str| Op::AddChain(Chain::regular(name));
        let t = tx(vec![
            Op::AddTable,
            Op::FlushChain("a".into()),
            Op::FlushChain("b".into()),
            Op::FlushSet("s".into()),
            base("a"),
            Op::AddSet(SetDef::set("s", vec![Field::InetService])),
            Op::AddRule {
                chain: "a".into(),
                rule: Rule::new(vec![Stmt::Verdict(Verdict::Accept)]),
            },
        ]);
        let enc = encode(&t, &Schema::new(), 0).expect("encodes");
        let seqs = enc.batch().sequence_numbers();
        let first = seqs.start + u32::from(seqs.len() == enc.messages());
        let order: Vec<usize> = (first..first + enc.messages() as u32 - 2)
            .map(|seq| enc.ops_of_seq(seq).expect("an operation").start)
            .collect();
        // b has no add after its flush: flushed in place; a and s right after their adds.
        assert_eq!(order, vec![0, 2, 4, 1, 5, 3, 6]);
    }

    #[test]
    fn delete_chain_is_delete_if_exists() {
        let t = tx(vec![Op::DeleteChain("gone".into())]);
        let enc = encode(&t, &Schema::new(), 0).expect("encodes");
        assert_eq!(enc.messages(), 4, "add + delete, and the batch markers");
    }
}
