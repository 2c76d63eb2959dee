//! The planner's output: nftables objects and transactions as plain values, close to the kernel.
//!
//! Everything here mirrors a netlink object so that an encoder can turn it into messages one to
//! one: a [`Table`] per family, [`Chain`]s (base chains carry type, hook and priority), named
//! [`SetDef`]s (sets, data maps and verdict maps with concatenated key and data types and
//! `interval`/`dynamic`/`timeout` flags), [`Element`]s with typed keys and data, and [`Rule`]s
//! as lists of typed statements ([`Stmt`]) over typed expressions ([`Expr`]) — never strings.
//!
//! A [`Transaction`] is an ordered list of [`Command`]s (`add`/`flush`/`delete` of those
//! objects) meant to be sent as ONE netlink batch. [`Ruleset`] is an in-memory kernel: it
//! applies a transaction all-or-nothing with the kernel's checks (missing objects, dangling
//! `jump`/`goto` and `@set` references, re-adding an element with different data, deleting a
//! referenced chain), so planner bugs fail in unit tests, and it is what the renderer prints.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use proxy_core::model::{IpFamily, Protocol};

/// An nftables table family. svcproxy uses `ip` and `ip6`, one table each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// `ip` (IPv4).
    Ip,
    /// `ip6` (IPv6).
    Ip6,
}

impl Family {
    /// Both families, `ip` first.
    pub const ALL: [Family; 2] = [Family::Ip, Family::Ip6];

    /// The table family programming `family`.
    pub fn of(family: IpFamily) -> Self {
        match family {
            IpFamily::V4 => Family::Ip,
            IpFamily::V6 => Family::Ip6,
        }
    }

    /// The IP family this table family handles.
    pub fn ip_family(self) -> IpFamily {
        match self {
            Family::Ip => IpFamily::V4,
            Family::Ip6 => IpFamily::V6,
        }
    }

    /// The `nft` keyword: `ip` or `ip6` (also the payload protocol of `ip daddr`).
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Ip => "ip",
            Family::Ip6 => "ip6",
        }
    }

    /// The address field type of this family.
    pub fn addr_field(self) -> Field {
        match self {
            Family::Ip => Field::Ipv4Addr,
            Family::Ip6 => Field::Ipv6Addr,
        }
    }

    /// The loopback range, never a node-port address: `127.0.0.0/8` or `::1/128`.
    pub fn loopback(self) -> IpNet {
        match self {
            Family::Ip => IpNet::new(IpAddr::from([127, 0, 0, 0]), 8),
            Family::Ip6 => IpNet::new(IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]), 128),
        }
        .expect("valid prefix length")
    }
}

/// A table: `family` + `name`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Table {
    /// The family.
    pub family: Family,
    /// The name.
    pub name: String,
}

/// A base chain's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChainType {
    /// `filter`.
    Filter,
    /// `nat`.
    Nat,
}

/// A netfilter hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hook {
    /// `prerouting`.
    Prerouting,
    /// `input`.
    Input,
    /// `forward`.
    Forward,
    /// `output`.
    Output,
    /// `postrouting`.
    Postrouting,
}

/// Netfilter's `NF_IP_PRI_NAT_DST`: `priority dstnat`.
pub const PRIORITY_DSTNAT: i32 = -100;
/// Netfilter's `NF_IP_PRI_NAT_SRC`: `priority srcnat`.
pub const PRIORITY_SRCNAT: i32 = 100;

/// What makes a chain a base chain: type, hook and priority (policy is always `accept`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BaseChain {
    /// The chain type.
    pub chain_type: ChainType,
    /// The hook.
    pub hook: Hook,
    /// The priority (lower runs first).
    pub priority: i32,
}

/// A chain: a regular chain, or a base chain attached to a hook.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Chain {
    /// The name.
    pub name: String,
    /// Hook attachment, for base chains.
    pub base: Option<BaseChain>,
}

impl Chain {
    /// A regular chain (reached by `jump`/`goto` only).
    pub fn regular(name: impl Into<String>) -> Self {
        Chain {
            name: name.into(),
            base: None,
        }
    }

    /// A base chain.
    pub fn base(name: impl Into<String>, chain_type: ChainType, hook: Hook, priority: i32) -> Self {
        Chain {
            name: name.into(),
            base: Some(BaseChain {
                chain_type,
                hook,
                priority,
            }),
        }
    }
}

/// One field of a set key or of map data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// `ipv4_addr` (4 bytes, network order).
    Ipv4Addr,
    /// `ipv6_addr` (16 bytes, network order).
    Ipv6Addr,
    /// `inet_proto` (1 byte).
    InetProto,
    /// `inet_service` (2 bytes, network order).
    InetService,
    /// A `numgen` slot: a 32-bit host-order integer. `nft` has no `type` keyword for a plain
    /// integer, so a set with a slot field is declared with `typeof ... numgen random mod 1`.
    Slot,
    /// A dispatch id ([`crate::names::Target::id`]): a 32-bit host-order integer, declared as
    /// `mark` (the `nft` type of that size and byte order).
    Id,
}

/// What a map maps to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SetData {
    /// A verdict map (`vmap`): elements carry a [`Verdict`].
    Verdict,
    /// A data map with a (possibly concatenated) data type.
    Concat(Vec<Field>),
}

/// The flags of a set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SetFlags {
    /// `interval`: keys (or the last field of a concatenation) may be prefixes.
    pub interval: bool,
    /// `dynamic`: the packet path may add elements (`update @set`).
    pub dynamic: bool,
    /// `timeout`: elements may expire.
    pub timeout: bool,
}

/// A named set or map.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SetDef {
    /// The name.
    pub name: String,
    /// The key type (more than one field: a concatenation).
    pub key: Vec<Field>,
    /// `None` for a plain set, else what the map maps to.
    pub data: Option<SetData>,
    /// Flags.
    pub flags: SetFlags,
    /// The default element timeout in seconds, if any.
    pub timeout: Option<u32>,
    /// The maximum number of elements, if bounded.
    pub size: Option<u32>,
}

impl SetDef {
    /// A plain set keyed by `key`.
    pub fn set(name: impl Into<String>, key: Vec<Field>) -> Self {
        SetDef {
            name: name.into(),
            key,
            data: None,
            flags: SetFlags::default(),
            timeout: None,
            size: None,
        }
    }

    /// A verdict map keyed by `key`.
    pub fn vmap(name: impl Into<String>, key: Vec<Field>) -> Self {
        SetDef {
            data: Some(SetData::Verdict),
            ..SetDef::set(name, key)
        }
    }

    /// A data map from `key` to `data`.
    pub fn map(name: impl Into<String>, key: Vec<Field>, data: Vec<Field>) -> Self {
        SetDef {
            data: Some(SetData::Concat(data)),
            ..SetDef::set(name, key)
        }
    }

    /// The same set with the `interval` flag.
    pub fn interval(mut self) -> Self {
        self.flags.interval = true;
        self
    }

    /// Whether a field of the key or data is a `numgen` slot (declared with `typeof`).
    pub fn has_slot(&self) -> bool {
        self.key.contains(&Field::Slot)
            || matches!(&self.data, Some(SetData::Concat(d)) if d.contains(&Field::Slot))
    }
}

/// One value of a key or data field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Value {
    /// An address.
    Addr(IpAddr),
    /// A prefix (interval sets only).
    Prefix(IpNet),
    /// A transport protocol (`inet_proto`).
    Proto(Protocol),
    /// A port (`inet_service`).
    Port(u16),
    /// A `numgen` slot.
    Slot(u32),
    /// A dispatch id.
    Id(u32),
}

/// A verdict, in a rule or as the data of a verdict-map element.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verdict {
    /// `accept`.
    Accept,
    /// `drop`.
    Drop,
    /// `return`.
    Return,
    /// `jump CHAIN`.
    Jump(String),
    /// `goto CHAIN`.
    Goto(String),
}

impl Verdict {
    /// The chain this verdict transfers to, if any.
    pub fn target(&self) -> Option<&str> {
        match self {
            Verdict::Jump(c) | Verdict::Goto(c) => Some(c),
            _ => None,
        }
    }
}

/// The data of a map element.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ElemData {
    /// A verdict (verdict maps).
    Verdict(Verdict),
    /// Concatenated values (data maps).
    Concat(Vec<Value>),
}

/// A set or map element.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Element {
    /// The key, one value per key field.
    pub key: Vec<Value>,
    /// The data, for maps.
    pub data: Option<ElemData>,
    /// A comment (element user data), at most [`MAX_COMMENT`] bytes.
    pub comment: Option<String>,
}

/// The longest comment the kernel stores (`NFT_USERDATA_MAXLEN` allows more; `nft` caps at 128).
pub const MAX_COMMENT: usize = 128;

/// Which address of the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Addr {
    /// Source.
    Saddr,
    /// Destination.
    Daddr,
}

/// A value loaded from the packet, its metadata or its conntrack entry (a register load).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Expr {
    /// `ip saddr` / `ip daddr` (`ip6 ...` in the `ip6` family): network-header payload.
    Ip(Addr),
    /// `meta l4proto`.
    L4Proto,
    /// `th dport`: the transport header's destination port (TCP, UDP, SCTP alike).
    ThDport,
    /// `numgen random mod M offset O`.
    Numgen {
        /// The modulus.
        modulus: u32,
        /// The offset added to the result.
        offset: u32,
    },
    /// `ct original ip daddr`: the destination before DNAT.
    CtOriginalDaddr,
    /// `ct original proto-dst`: the destination port before DNAT.
    CtOriginalProtoDst,
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `==`.
    Eq,
    /// `!=`.
    Neq,
}

/// What a [`Stmt::Dynset`] does to the set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DynsetOp {
    /// `update`: add the element, or refresh its timeout if it exists.
    Update,
    /// `delete`: remove the element.
    Delete,
}

/// One statement of a rule; a rule's statements run in order and stop at the first that does
/// not match.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Stmt {
    /// `ct state new`.
    CtStateNew,
    /// `ct status dnat`: the connection was destination-NATed.
    CtStatusDnat,
    /// `EXPR [!=] VALUE`; a [`Value::Prefix`] compares under its mask.
    Cmp {
        /// The loaded value.
        expr: Expr,
        /// The operator.
        op: CmpOp,
        /// The constant (an address or a prefix).
        value: Value,
    },
    /// `KEY [!=] @set`: set membership of a (concatenated) key.
    Lookup {
        /// The key expressions, concatenated.
        key: Vec<Expr>,
        /// The set.
        set: String,
        /// Match when the key is NOT in the set.
        negate: bool,
    },
    /// `KEY vmap @map`: jump/goto/drop... as the verdict-map element says; no match continues.
    Vmap {
        /// The key expressions, concatenated.
        key: Vec<Expr>,
        /// The verdict map.
        map: String,
    },
    /// `KEY map @map [!=] VALUE`: the key is looked up in a data map and the data it maps to (a
    /// dispatch id) compared with a constant, through a register; a miss, or a failed
    /// comparison, stops the rule. `nft` 1.0.6 lists this statement but cannot parse it.
    MapCmp {
        /// The key expressions, concatenated.
        key: Vec<Expr>,
        /// The data map (key -> id).
        map: String,
        /// The operator.
        op: CmpOp,
        /// The constant the data is compared with.
        value: Value,
    },
    /// `fib ADDR type local`: the address is local to this host.
    FibLocal(Addr),
    /// `meta mark & MASK == 0`.
    MarkClear(u32),
    /// `meta mark set meta mark | BITS`.
    MarkOr(u32),
    /// `meta mark set meta mark ^ BITS`.
    MarkXor(u32),
    /// `dnat <family> to KEY map @map`: address and port from a data map typed `addr . port`.
    DnatMap {
        /// The key expressions, concatenated.
        key: Vec<Expr>,
        /// The data map.
        map: String,
    },
    /// `masquerade [fully-random]`.
    Masquerade {
        /// `fully-random` port allocation.
        fully_random: bool,
    },
    /// `reject` (ICMP port unreachable / TCP reset as the kernel picks).
    Reject,
    /// `update @set { KEY [timeout T] [: DATA] }` or `delete @set { KEY [: DATA] }`: the packet
    /// path writes a dynamic set (`dynset`).
    Dynset {
        /// Update (add, or refresh the timeout of an existing element) or delete.
        op: DynsetOp,
        /// The dynamic set or map.
        set: String,
        /// The key expressions, concatenated.
        key: Vec<Expr>,
        /// The data expressions for a map (the kernel wants them even to delete), else empty.
        data: Vec<Expr>,
        /// The element timeout in seconds (update only).
        timeout: Option<u32>,
    },
    /// A verdict.
    Verdict(Verdict),
}

impl Stmt {
    /// The chain this statement transfers to, if any.
    pub fn target(&self) -> Option<&str> {
        match self {
            Stmt::Verdict(v) => v.target(),
            _ => None,
        }
    }

    /// The sets and maps this statement reads or writes.
    pub fn set_refs(&self) -> Vec<&str> {
        match self {
            Stmt::Lookup { set, .. } => vec![set],
            Stmt::Vmap { map, .. } | Stmt::DnatMap { map, .. } => vec![map],
            Stmt::MapCmp { map, .. } => vec![map],
            Stmt::Dynset { set, .. } => vec![set],
            _ => Vec::new(),
        }
    }
}

/// A rule: statements in order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    /// The statements.
    pub stmts: Vec<Stmt>,
}

impl Rule {
    /// A rule of these statements.
    pub fn new(stmts: Vec<Stmt>) -> Self {
        Rule { stmts }
    }
}

/// One operation of a transaction, inside the table of its [`Command`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `add table` (no error if it exists).
    AddTable,
    /// `flush table`: remove every rule and every set element, keep chains and sets.
    FlushTable,
    /// `delete table` with everything in it.
    DeleteTable,
    /// `add chain` (no error if it exists with the same properties).
    AddChain(Chain),
    /// `flush chain`: remove its rules.
    FlushChain(String),
    /// `delete chain`: it must be empty and unreferenced.
    DeleteChain(String),
    /// `add set` / `add map` (no error if it exists).
    AddSet(SetDef),
    /// `flush set`: remove its elements.
    FlushSet(String),
    /// `delete set`.
    DeleteSet(String),
    /// `add rule` (appended to the chain).
    AddRule {
        /// The chain.
        chain: String,
        /// The rule.
        rule: Rule,
    },
    /// `add element` (no error if it exists with the same data).
    AddElement {
        /// The set or map.
        set: String,
        /// The element.
        elem: Element,
    },
    /// `delete element` (error if missing).
    DeleteElement {
        /// The set or map.
        set: String,
        /// The key.
        key: Vec<Value>,
    },
}

/// An operation applied to the table of one family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// The family of the table.
    pub family: Family,
    /// The operation.
    pub op: Op,
}

/// What a transaction does, counted by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpCounts {
    /// Table adds, flushes and deletes.
    pub tables: usize,
    /// Chain adds, flushes and deletes.
    pub chains: usize,
    /// Set adds, flushes and deletes.
    pub sets: usize,
    /// Rules added.
    pub rules: usize,
    /// Elements added.
    pub elements_added: usize,
    /// Elements deleted.
    pub elements_deleted: usize,
}

impl OpCounts {
    /// Every operation that is not an element add or delete.
    pub fn non_element(&self) -> usize {
        self.tables + self.chains + self.sets + self.rules
    }
}

/// An ordered list of operations on the tables named `table`, applied atomically.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transaction {
    /// The table name (one table per family).
    pub table: String,
    /// The operations, in order.
    pub commands: Vec<Command>,
}

impl Transaction {
    /// An empty transaction on the tables named `table`.
    pub fn new(table: impl Into<String>) -> Self {
        Transaction {
            table: table.into(),
            commands: Vec::new(),
        }
    }

    /// Appends `op` on the table of `family`.
    pub fn push(&mut self, family: Family, op: Op) {
        self.commands.push(Command { family, op });
    }

    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// The operations counted by kind.
    pub fn counts(&self) -> OpCounts {
        let mut c = OpCounts::default();
        for cmd in &self.commands {
            match cmd.op {
                Op::AddTable | Op::FlushTable | Op::DeleteTable => c.tables += 1,
                Op::AddChain(_) | Op::FlushChain(_) | Op::DeleteChain(_) => c.chains += 1,
                Op::AddSet(_) | Op::FlushSet(_) | Op::DeleteSet(_) => c.sets += 1,
                Op::AddRule { .. } => c.rules += 1,
                Op::AddElement { .. } => c.elements_added += 1,
                Op::DeleteElement { .. } => c.elements_deleted += 1,
            }
        }
        c
    }
}

/// Why [`Ruleset::apply`] refused a transaction (the kernel would refuse it too).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// An operation names a table, chain, set or element that does not exist (`ENOENT`).
    #[error("operation {index}: {what} does not exist")]
    NotFound {
        /// Position of the operation in the transaction.
        index: usize,
        /// The missing object.
        what: String,
    },
    /// An element exists with other data, or a chain with other hook properties (`EEXIST`).
    #[error("operation {index}: {what} already exists with different contents")]
    Exists {
        /// Position of the operation in the transaction.
        index: usize,
        /// The object.
        what: String,
    },
    /// A chain to delete still has rules or references (`EBUSY`).
    #[error("operation {index}: chain {chain} is busy")]
    Busy {
        /// Position of the operation in the transaction.
        index: usize,
        /// The chain.
        chain: String,
    },
    /// A key or data does not fit its set's type (`EINVAL`).
    #[error("operation {index}: {what} does not match the type of set {set}")]
    Type {
        /// Position of the operation in the transaction.
        index: usize,
        /// The set.
        set: String,
        /// The element.
        what: String,
    },
    /// After the transaction a rule or verdict element refers to a missing chain or set.
    #[error("{from} refers to missing {what}")]
    Dangling {
        /// The referring object.
        from: String,
        /// The missing object.
        what: String,
    },
}

/// One set and its elements, in an in-memory table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetState {
    /// The declaration.
    pub def: SetDef,
    /// The elements by key.
    pub elements: BTreeMap<Vec<Value>, Element>,
}

/// One chain and its rules, in an in-memory table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainState {
    /// The declaration.
    pub chain: Chain,
    /// The rules in order.
    pub rules: Vec<Rule>,
}

/// One table: sets and chains in creation order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableState {
    /// Sets and maps, in creation order.
    pub sets: Vec<SetState>,
    /// Chains, in creation order.
    pub chains: Vec<ChainState>,
}

impl TableState {
    /// The set called `name`.
    pub fn set(&self, name: &str) -> Option<&SetState> {
        self.sets.iter().find(|s| s.def.name == name)
    }

    /// The chain called `name`.
    pub fn chain(&self, name: &str) -> Option<&ChainState> {
        self.chains.iter().find(|c| c.chain.name == name)
    }

    fn set_mut(&mut self, name: &str) -> Option<&mut SetState> {
        self.sets.iter_mut().find(|s| s.def.name == name)
    }

    fn chain_mut(&mut self, name: &str) -> Option<&mut ChainState> {
        self.chains.iter_mut().find(|c| c.chain.name == name)
    }

    /// Whether a rule or a verdict element of this table refers to chain `name`.
    fn chain_referenced(&self, name: &str) -> bool {
        self.chains
            .iter()
            .flat_map(|c| &c.rules)
            .flat_map(|r| &r.stmts)
            .any(|s| s.target() == Some(name))
            || self
                .sets
                .iter()
                .flat_map(|s| s.elements.values())
                .any(|e| matches!(&e.data, Some(ElemData::Verdict(v)) if v.target() == Some(name)))
    }
}

/// An in-memory nftables: what the kernel holds after applying transactions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ruleset {
    /// Tables by family and name.
    pub tables: BTreeMap<Table, TableState>,
}

impl Ruleset {
    /// An empty ruleset.
    pub fn new() -> Self {
        Ruleset::default()
    }

    /// The ruleset an empty kernel holds after `tx`.
    pub fn from_transaction(tx: &Transaction) -> Result<Self, ApplyError> {
        let mut r = Ruleset::new();
        r.apply(tx)?;
        Ok(r)
    }

    /// Applies `tx` all-or-nothing, with the kernel's checks; on error nothing changes.
    pub fn apply(&mut self, tx: &Transaction) -> Result<(), ApplyError> {
        let mut next = self.clone();
        for (index, cmd) in tx.commands.iter().enumerate() {
            let table = Table {
                family: cmd.family,
                name: tx.table.clone(),
            };
            next.apply_one(index, &table, &cmd.op)?;
        }
        next.check_references()?;
        *self = next;
        Ok(())
    }

    fn apply_one(&mut self, index: usize, table: &Table, op: &Op) -> Result<(), ApplyError> {
        let not_found = |what: String| ApplyError::NotFound { index, what };
        let table_name = format!("table {} {}", table.family.as_str(), table.name);
        if let Op::AddTable = op {
            self.tables.entry(table.clone()).or_default();
            return Ok(());
        }
        if let Op::DeleteTable = op {
            return match self.tables.remove(table) {
                Some(_) => Ok(()),
                None => Err(not_found(table_name)),
            };
        }
        let t = self
            .tables
            .get_mut(table)
            .ok_or_else(|| not_found(table_name))?;
        match op {
            Op::AddTable | Op::DeleteTable => unreachable!("handled above"),
            Op::FlushTable => {
                t.chains.iter_mut().for_each(|c| c.rules.clear());
                t.sets.iter_mut().for_each(|s| s.elements.clear());
            }
            Op::AddChain(chain) => match t.chain(&chain.name) {
                Some(existing) if existing.chain.base != chain.base => {
                    return Err(ApplyError::Exists {
                        index,
                        what: format!("chain {}", chain.name),
                    });
                }
                Some(_) => {}
                None => t.chains.push(ChainState {
                    chain: chain.clone(),
                    rules: Vec::new(),
                }),
            },
            Op::FlushChain(name) => t
                .chain_mut(name)
                .ok_or_else(|| not_found(format!("chain {name}")))?
                .rules
                .clear(),
            Op::DeleteChain(name) => {
                let c = t
                    .chain(name)
                    .ok_or_else(|| not_found(format!("chain {name}")))?;
                if !c.rules.is_empty() || t.chain_referenced(name) {
                    return Err(ApplyError::Busy {
                        index,
                        chain: name.clone(),
                    });
                }
                t.chains.retain(|c| c.chain.name != *name);
            }
            Op::AddSet(def) => match t.set(&def.name) {
                Some(existing) if existing.def != *def => {
                    return Err(ApplyError::Exists {
                        index,
                        what: format!("set {}", def.name),
                    });
                }
                Some(_) => {}
                None => t.sets.push(SetState {
                    def: def.clone(),
                    elements: BTreeMap::new(),
                }),
            },
            Op::FlushSet(name) => t
                .set_mut(name)
                .ok_or_else(|| not_found(format!("set {name}")))?
                .elements
                .clear(),
            Op::DeleteSet(name) => {
                if t.set(name).is_none() {
                    return Err(not_found(format!("set {name}")));
                }
                t.sets.retain(|s| s.def.name != *name);
            }
            Op::AddRule { chain, rule } => t
                .chain_mut(chain)
                .ok_or_else(|| not_found(format!("chain {chain}")))?
                .rules
                .push(rule.clone()),
            Op::AddElement { set, elem } => {
                let s = t
                    .set_mut(set)
                    .ok_or_else(|| not_found(format!("set {set}")))?;
                if !elem_fits(&s.def, elem) {
                    return Err(ApplyError::Type {
                        index,
                        set: set.clone(),
                        what: format!("{elem:?}"),
                    });
                }
                match s.elements.get(&elem.key) {
                    Some(existing) if existing.data != elem.data => {
                        return Err(ApplyError::Exists {
                            index,
                            what: format!("element {:?} of {set}", elem.key),
                        });
                    }
                    Some(_) => {}
                    None => {
                        s.elements.insert(elem.key.clone(), elem.clone());
                    }
                }
            }
            Op::DeleteElement { set, key } => {
                let s = t
                    .set_mut(set)
                    .ok_or_else(|| not_found(format!("set {set}")))?;
                if s.elements.remove(key).is_none() {
                    return Err(not_found(format!("element {key:?} of {set}")));
                }
            }
        }
        Ok(())
    }

    fn check_references(&self) -> Result<(), ApplyError> {
        for (table, t) in &self.tables {
            let fam = table.family.as_str();
            for c in &t.chains {
                for stmt in c.rules.iter().flat_map(|r| &r.stmts) {
                    let from = || format!("a rule of {fam} chain {}", c.chain.name);
                    if let Some(target) = stmt.target()
                        && t.chain(target).is_none()
                    {
                        return Err(ApplyError::Dangling {
                            from: from(),
                            what: format!("chain {target}"),
                        });
                    }
                    if let Some(set) = stmt.set_refs().into_iter().find(|s| t.set(s).is_none()) {
                        return Err(ApplyError::Dangling {
                            from: from(),
                            what: format!("set {set}"),
                        });
                    }
                }
            }
            for s in &t.sets {
                for e in s.elements.values() {
                    if let Some(ElemData::Verdict(v)) = &e.data
                        && let Some(target) = v.target()
                        && t.chain(target).is_none()
                    {
                        return Err(ApplyError::Dangling {
                            from: format!("an element of {fam} map {}", s.def.name),
                            what: format!("chain {target}"),
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

/// Whether `value` is of type `field` (prefixes only in interval sets).
fn value_fits(field: Field, value: &Value, interval: bool) -> bool {
    match (field, value) {
        (Field::Ipv4Addr, Value::Addr(IpAddr::V4(_)))
        | (Field::Ipv6Addr, Value::Addr(IpAddr::V6(_)))
        | (Field::InetProto, Value::Proto(_))
        | (Field::InetService, Value::Port(_))
        | (Field::Slot, Value::Slot(_))
        | (Field::Id, Value::Id(_)) => true,
        (Field::Ipv4Addr, Value::Prefix(IpNet::V4(_)))
        | (Field::Ipv6Addr, Value::Prefix(IpNet::V6(_))) => interval,
        _ => false,
    }
}

/// Whether `elem` fits the key and data types of `def`.
fn elem_fits(def: &SetDef, elem: &Element) -> bool {
    let all_fit = |fields: &[Field], values: &[Value], interval: bool| {
        fields.len() == values.len()
            && fields
                .iter()
                .zip(values)
                .all(|(f, v)| value_fits(*f, v, interval))
    };
    let key_ok = all_fit(&def.key, &elem.key, def.flags.interval);
    let data_ok = match (&def.data, &elem.data) {
        (None, None) => true,
        (Some(SetData::Verdict), Some(ElemData::Verdict(_))) => true,
        (Some(SetData::Concat(fields)), Some(ElemData::Concat(values))) => {
            all_fit(fields, values, false)
        }
        _ => false,
    };
    key_ok && data_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(ops: Vec<Op>) -> Transaction {
        let mut tx = Transaction::new("t");
        for op in ops {
            tx.push(Family::Ip, op);
        }
        tx
    }

    #[test]
    fn dangling_goto_is_refused_and_nothing_changes() {
        let mut r = Ruleset::new();
        r.apply(&tx(vec![Op::AddTable])).expect("table");
        let before = r.clone();
        let bad = tx(vec![
            Op::AddSet(SetDef::vmap("m", vec![Field::InetService])),
            Op::AddElement {
                set: "m".into(),
                elem: Element {
                    key: vec![Value::Port(80)],
                    data: Some(ElemData::Verdict(Verdict::Goto("missing".into()))),
                    comment: None,
                },
            },
        ]);
        assert!(matches!(r.apply(&bad), Err(ApplyError::Dangling { .. })));
        assert_eq!(r, before);
    }

    #[test]
    fn readding_an_element_with_other_data_is_refused() {
        let elem = |port| Element {
            key: vec![Value::Port(80)],
            data: Some(ElemData::Concat(vec![Value::Port(port)])),
            comment: None,
        };
        let mut r = Ruleset::new();
        let setup = tx(vec![
            Op::AddTable,
            Op::AddSet(SetDef::map(
                "m",
                vec![Field::InetService],
                vec![Field::InetService],
            )),
            Op::AddElement {
                set: "m".into(),
                elem: elem(1),
            },
        ]);
        r.apply(&setup).expect("setup");
        let same = tx(vec![Op::AddElement {
            set: "m".into(),
            elem: elem(1),
        }]);
        r.apply(&same).expect("same data is fine");
        let other = tx(vec![Op::AddElement {
            set: "m".into(),
            elem: elem(2),
        }]);
        assert!(matches!(r.apply(&other), Err(ApplyError::Exists { .. })));
    }

    #[test]
    fn referenced_chain_cannot_be_deleted() {
        let mut r = Ruleset::new();
        let setup = tx(vec![
            Op::AddTable,
            Op::AddChain(Chain::regular("a")),
            Op::AddChain(Chain::regular("b")),
            Op::AddRule {
                chain: "a".into(),
                rule: Rule::new(vec![Stmt::Verdict(Verdict::Jump("b".into()))]),
            },
        ]);
        r.apply(&setup).expect("setup");
        let del = tx(vec![Op::DeleteChain("b".into())]);
        assert!(matches!(r.apply(&del), Err(ApplyError::Busy { .. })));
        let flush_then_del = tx(vec![
            Op::FlushChain("a".into()),
            Op::DeleteChain("b".into()),
        ]);
        r.apply(&flush_then_del).expect("unreferenced now");
    }
}
