//! `nft` syntax for the IR: a [`Transaction`] as an `nft -f` script of commands, and a
//! [`Ruleset`] as `table ... { ... }` blocks in the shape `nft list ruleset` prints.
//!
//! `nft list` shows every chain svcproxy programs exactly as [`ruleset`] prints it, except that
//! `nft` 1.0.6 prints the id of a dispatch comparison `KEY map @m 0x01000003`
//! ([`Stmt::MapCmp`]) untyped (`0x1000003 [invalid type]`). Both outputs are accepted by `nft
//! -f` (the golden tests load them into a throwaway network namespace) except for that
//! comparison, which `nft` 1.0.6 cannot parse (the tests spell it with the conntrack mark to
//! load it). They are for tests, `svcproxy dump` and humans; the kernel is programmed over
//! netlink from the IR, never from this text.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::ir::{
    Addr, BaseChain, ChainType, CmpOp, Command, DynsetOp, ElemData, Element, Expr, Family, Field,
    Hook, Op, PRIORITY_DSTNAT, PRIORITY_SRCNAT, Rule, Ruleset, SetData, SetDef, Stmt, Transaction,
    Value, Verdict,
};

/// The transaction as an `nft -f` script, one command per line.
///
/// `nft` spells flushing or deleting a map `flush map` / `delete map`; maps the transaction does
/// not add itself are recognised with [`transaction_over`].
pub fn transaction(tx: &Transaction) -> String {
    transaction_over(tx, &Ruleset::new())
}

/// Like [`transaction`], for a transaction applied over `kernel` (which knows the sets the
/// transaction flushes or deletes without adding them).
pub fn transaction_over(tx: &Transaction, kernel: &Ruleset) -> String {
    let mut maps: BTreeSet<(Family, &str)> = BTreeSet::new();
    for (table, t) in &kernel.tables {
        for s in t.sets.iter().filter(|s| s.def.data.is_some()) {
            maps.insert((table.family, s.def.name.as_str()));
        }
    }
    for cmd in &tx.commands {
        if let Op::AddSet(def) = &cmd.op
            && def.data.is_some()
        {
            maps.insert((cmd.family, def.name.as_str()));
        }
    }
    let mut out = String::new();
    for cmd in &tx.commands {
        command(&mut out, &tx.table, cmd, &maps);
        out.push('\n');
    }
    out
}

/// One command of a transaction, without the trailing newline.
fn command(out: &mut String, table: &str, cmd: &Command, maps: &BTreeSet<(Family, &str)>) {
    let f = cmd.family;
    let kind = |name: &str| {
        if maps.contains(&(f, name)) {
            "map"
        } else {
            "set"
        }
    };
    let t = format!("{} {table}", f.as_str());
    let _ = match &cmd.op {
        Op::AddTable => write!(out, "add table {t}"),
        Op::FlushTable => write!(out, "flush table {t}"),
        Op::DeleteTable => write!(out, "delete table {t}"),
        Op::AddChain(c) => match &c.base {
            Some(b) => write!(out, "add chain {t} {} {{ {} }}", c.name, base_chain(b)),
            None => write!(out, "add chain {t} {}", c.name),
        },
        Op::FlushChain(c) => write!(out, "flush chain {t} {c}"),
        Op::DeleteChain(c) => write!(out, "delete chain {t} {c}"),
        Op::AddSet(s) => write!(
            out,
            "add {} {t} {} {{ {} }}",
            set_keyword(s),
            s.name,
            set_properties(s).join("; ") + ";"
        ),
        Op::FlushSet(s) => write!(out, "flush {} {t} {s}", kind(s)),
        Op::DeleteSet(s) => write!(out, "delete {} {t} {s}", kind(s)),
        Op::AddRule { chain, rule: r } => write!(out, "add rule {t} {chain} {}", rule(f, r)),
        Op::AddElement { set, elem } => {
            write!(out, "add element {t} {set} {{ {} }}", element(elem))
        }
        Op::DeleteElement { set, key } => {
            write!(out, "delete element {t} {set} {{ {} }}", values(key))
        }
    };
}

/// The ruleset as `table` blocks, the way `nft list ruleset` shows them (sets, then chains,
/// each in creation order; elements sorted by key).
pub fn ruleset(r: &Ruleset) -> String {
    let mut out = String::new();
    for (table, t) in &r.tables {
        let f = table.family;
        let _ = writeln!(out, "table {} {} {{", f.as_str(), table.name);
        let mut first = true;
        let mut gap = |out: &mut String| {
            if !first {
                out.push('\n');
            }
            first = false;
        };
        for s in &t.sets {
            gap(&mut out);
            let _ = writeln!(out, "\t{} {} {{", set_keyword(&s.def), s.def.name);
            for p in set_properties(&s.def) {
                let _ = writeln!(out, "\t\t{p}");
            }
            if !s.elements.is_empty() {
                out.push_str("\t\telements = {\n");
                for e in s.elements.values() {
                    let _ = writeln!(out, "\t\t\t{},", element(e));
                }
                out.push_str("\t\t}\n");
            }
            out.push_str("\t}\n");
        }
        for c in &t.chains {
            gap(&mut out);
            let _ = writeln!(out, "\tchain {} {{", c.chain.name);
            if let Some(b) = &c.chain.base {
                let _ = writeln!(out, "\t\t{}", base_chain(b));
            }
            for r in &c.rules {
                let _ = writeln!(out, "\t\t{}", rule(f, r));
            }
            out.push_str("\t}\n");
        }
        out.push_str("}\n");
    }
    out
}

/// `type filter hook prerouting priority dstnat - 10; policy accept;`
fn base_chain(b: &BaseChain) -> String {
    let ty = match b.chain_type {
        ChainType::Filter => "filter",
        ChainType::Nat => "nat",
    };
    let hook = match b.hook {
        Hook::Prerouting => "prerouting",
        Hook::Input => "input",
        Hook::Forward => "forward",
        Hook::Output => "output",
        Hook::Postrouting => "postrouting",
    };
    format!(
        "type {ty} hook {hook} priority {}; policy accept;",
        priority(b.hook, b.priority)
    )
}

/// A priority, symbolic where `nft` accepts the symbol for the hook (`dstnat` only in
/// prerouting, `srcnat` only in postrouting), numeric elsewhere.
fn priority(hook: Hook, p: i32) -> String {
    let relative = |name: &str, base: i32| match p - base {
        0 => name.to_string(),
        d if d < 0 => format!("{name} - {}", -d),
        d => format!("{name} + {d}"),
    };
    match hook {
        Hook::Prerouting => relative("dstnat", PRIORITY_DSTNAT),
        Hook::Postrouting => relative("srcnat", PRIORITY_SRCNAT),
        _ => p.to_string(),
    }
}

fn set_keyword(s: &SetDef) -> &'static str {
    if s.data.is_some() { "map" } else { "set" }
}

/// The declaration lines of a set: type (or typeof), flags, timeout, size.
fn set_properties(s: &SetDef) -> Vec<String> {
    let mut props = Vec::new();
    let typeof_ = s.has_slot();
    let fields = |fs: &[Field], data: bool| {
        fs.iter()
            .map(|x| match (typeof_, data) {
                (false, _) => type_name(*x),
                (true, false) => typeof_key(*x),
                (true, true) => typeof_data(*x),
            })
            .collect::<Vec<_>>()
            .join(" . ")
    };
    let kw = if typeof_ { "typeof" } else { "type" };
    let mut decl = format!("{kw} {}", fields(&s.key, false));
    match &s.data {
        None => {}
        Some(SetData::Verdict) => decl.push_str(" : verdict"),
        Some(SetData::Concat(d)) => {
            let _ = write!(decl, " : {}", fields(d, true));
        }
    }
    props.push(decl);
    let flags: Vec<&str> = [
        (s.flags.interval, "interval"),
        (s.flags.dynamic, "dynamic"),
        (s.flags.timeout, "timeout"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    if !flags.is_empty() {
        props.push(format!("flags {}", flags.join(",")));
    }
    if let Some(t) = s.timeout {
        props.push(format!("timeout {t}s"));
    }
    if let Some(n) = s.size {
        props.push(format!("size {n}"));
    }
    props
}

/// The `type` name of a field.
fn type_name(f: Field) -> &'static str {
    match f {
        Field::Ipv4Addr => "ipv4_addr",
        Field::Ipv6Addr => "ipv6_addr",
        Field::InetProto => "inet_proto",
        Field::InetService => "inet_service",
        Field::Slot => "integer",
        Field::Id => "mark",
    }
}

/// The `typeof` expression of a key field (only its data type matters to the kernel).
fn typeof_key(f: Field) -> &'static str {
    match f {
        Field::Ipv4Addr => "ip daddr",
        Field::Ipv6Addr => "ip6 daddr",
        Field::InetProto => "meta l4proto",
        Field::InetService => "th dport",
        Field::Slot => "numgen random mod 1",
        Field::Id => "meta mark",
    }
}

/// The `typeof` expression of a data field. A port is spelled `tcp dport`: nft 1.0.6 fails
/// ("conflicting protocols specified: ip vs. th") on `ip daddr . th dport` as map data once it
/// reads the map back from the kernel, and `tcp dport` has the same type (`inet_service`); the
/// map holds ports of every protocol.
fn typeof_data(f: Field) -> &'static str {
    match f {
        Field::InetService => "tcp dport",
        other => typeof_key(other),
    }
}

/// A rule's statements separated by spaces.
pub fn rule(f: Family, r: &Rule) -> String {
    r.stmts
        .iter()
        .map(|s| stmt(f, s))
        .collect::<Vec<_>>()
        .join(" ")
}

fn stmt(f: Family, s: &Stmt) -> String {
    let neg = |negate: bool| if negate { "!= " } else { "" };
    match s {
        Stmt::CtStateNew => "ct state new".into(),
        Stmt::CtStatusDnat => "ct status dnat".into(),
        Stmt::Cmp { expr: e, op, value } => {
            format!(
                "{} {}{}",
                expr(f, e),
                neg(*op == CmpOp::Neq),
                self::value(value)
            )
        }
        Stmt::Lookup { key, set, negate } => {
            format!("{} {}@{set}", concat(f, key), neg(*negate))
        }
        Stmt::Vmap { key, map } => format!("{} vmap @{map}", concat(f, key)),
        Stmt::MapCmp {
            key,
            map,
            op,
            value,
        } => format!(
            "{} map @{map} {}{}",
            concat(f, key),
            neg(*op == CmpOp::Neq),
            self::value(value)
        ),
        Stmt::FibLocal(a) => format!("fib {} type local", addr(*a)),
        Stmt::MarkClear(m) => format!("meta mark & {m:#010x} == 0x00000000"),
        Stmt::MarkOr(m) => format!("meta mark set meta mark | {m:#010x}"),
        Stmt::MarkXor(m) => format!("meta mark set meta mark ^ {m:#010x}"),
        Stmt::DnatMap { key, map } => {
            format!("dnat {} to {} map @{map}", f.as_str(), concat(f, key))
        }
        Stmt::Masquerade { fully_random } => {
            if *fully_random {
                "masquerade fully-random".into()
            } else {
                "masquerade".into()
            }
        }
        Stmt::Reject => "reject".into(),
        Stmt::Dynset {
            op,
            set,
            key,
            data,
            timeout,
        } => {
            let mut s = format!(
                "{} @{set} {{ {}",
                match op {
                    DynsetOp::Update => "update",
                    DynsetOp::Delete => "delete",
                },
                concat(f, key)
            );
            if let Some(t) = timeout {
                let _ = write!(s, " timeout {t}s");
            }
            if !data.is_empty() {
                let _ = write!(s, " : {}", concat(f, data));
            }
            s.push_str(" }");
            s
        }
        Stmt::Verdict(v) => verdict(v),
    }
}

fn addr(a: Addr) -> &'static str {
    match a {
        Addr::Saddr => "saddr",
        Addr::Daddr => "daddr",
    }
}

fn concat(f: Family, key: &[Expr]) -> String {
    key.iter()
        .map(|e| expr(f, e))
        .collect::<Vec<_>>()
        .join(" . ")
}

fn expr(f: Family, e: &Expr) -> String {
    match e {
        Expr::Ip(a) => format!("{} {}", f.as_str(), addr(*a)),
        Expr::L4Proto => "meta l4proto".into(),
        Expr::ThDport => "th dport".into(),
        Expr::Numgen { modulus, offset } => match offset {
            0 => format!("numgen random mod {modulus}"),
            o => format!("numgen random mod {modulus} offset {o}"),
        },
        Expr::CtOriginalDaddr => format!("ct original {} daddr", f.as_str()),
        Expr::CtOriginalProtoDst => "ct original proto-dst".into(),
    }
}

/// A verdict in `nft` syntax.
pub fn verdict(v: &Verdict) -> String {
    match v {
        Verdict::Accept => "accept".into(),
        Verdict::Drop => "drop".into(),
        Verdict::Return => "return".into(),
        Verdict::Jump(c) => format!("jump {c}"),
        Verdict::Goto(c) => format!("goto {c}"),
    }
}

/// A value in `nft` syntax; a full-length prefix prints as its address.
pub fn value(v: &Value) -> String {
    match v {
        Value::Addr(a) => a.to_string(),
        Value::Prefix(n) if n.prefix_len() == n.max_prefix_len() => n.addr().to_string(),
        Value::Prefix(n) => n.trunc().to_string(),
        Value::Proto(p) => p.as_str().to_string(),
        Value::Port(p) => p.to_string(),
        Value::Slot(s) => s.to_string(),
        Value::Id(id) => format!("{id:#010x}"),
    }
}

fn values(vs: &[Value]) -> String {
    vs.iter().map(value).collect::<Vec<_>>().join(" . ")
}

/// An element: `key [comment "..."] [: data]`.
pub fn element(e: &Element) -> String {
    let mut s = values(&e.key);
    if let Some(c) = &e.comment {
        let _ = write!(s, " comment \"{}\"", c.replace('"', ""));
    }
    match &e.data {
        None => {}
        Some(ElemData::Verdict(v)) => {
            let _ = write!(s, " : {}", verdict(v));
        }
        Some(ElemData::Concat(vs)) => {
            let _ = write!(s, " : {}", values(vs));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Chain, PRIORITY_DSTNAT};

    #[test]
    fn priorities_are_symbolic_only_where_nft_accepts_them() {
        assert_eq!(
            priority(Hook::Prerouting, PRIORITY_DSTNAT - 10),
            "dstnat - 10"
        );
        assert_eq!(priority(Hook::Prerouting, PRIORITY_DSTNAT), "dstnat");
        assert_eq!(priority(Hook::Postrouting, PRIORITY_SRCNAT), "srcnat");
        assert_eq!(priority(Hook::Output, PRIORITY_DSTNAT + 10), "-90");
    }

    #[test]
    fn commands_render_as_an_nft_script() {
        let mut tx = Transaction::new("svcproxy");
        tx.push(Family::Ip6, Op::AddTable);
        tx.push(
            Family::Ip6,
            Op::AddChain(Chain::base(
                "nat-output",
                ChainType::Nat,
                Hook::Output,
                -100,
            )),
        );
        tx.push(
            Family::Ip6,
            Op::AddSet(SetDef::map(
                "m",
                vec![
                    Field::Ipv6Addr,
                    Field::InetProto,
                    Field::InetService,
                    Field::Slot,
                ],
                vec![Field::Ipv6Addr, Field::InetService],
            )),
        );
        tx.push(
            Family::Ip6,
            Op::AddRule {
                chain: "nat-output".into(),
                rule: Rule::new(vec![Stmt::DnatMap {
                    key: vec![
                        Expr::Ip(Addr::Daddr),
                        Expr::L4Proto,
                        Expr::ThDport,
                        Expr::Numgen {
                            modulus: 2,
                            offset: 0,
                        },
                    ],
                    map: "m".into(),
                }]),
            },
        );
        assert_eq!(
            transaction(&tx),
            "add table ip6 svcproxy\n\
             add chain ip6 svcproxy nat-output { type nat hook output priority -100; policy accept; }\n\
             add map ip6 svcproxy m { typeof ip6 daddr . meta l4proto . th dport . numgen random mod 1 : ip6 daddr . tcp dport; }\n\
             add rule ip6 svcproxy nat-output dnat ip6 to ip6 daddr . meta l4proto . th dport . numgen random mod 2 map @m\n"
        );
    }
}
