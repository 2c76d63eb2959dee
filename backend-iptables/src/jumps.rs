//! The jump rules from the built-in chains (`PREROUTING`, `INPUT`, ...) to ours: what a full
//! sync adds or removes so that each built-in chain holds exactly the planned jumps among its
//! rules that lead to our chains, written so that concurrent writers cannot lose a jump.
//!
//! Built-in chains hold other programs' rules too, so they are never declared in a restore
//! (that would flush them): the jumps are read first, then fixed by `-D`/`-I` lines in a
//! restore. That is a read-modify-write, and two writers can interleave between the read and
//! the write (a `sync` overlapping `run`, two agents during a DaemonSet update; the agent's
//! instance lock prevents this between svcproxy processes of one node, but not with other
//! tools or versions). The fixes are therefore made safe on their own:
//!
//! * **Only the kernel's state at restore time counts.** Each table's section of a restore is
//!   one transaction: `iptables-legacy-restore` reads, edits and commits the table blob while
//!   holding the xtables lock; `iptables-nft-restore` sends one nf_tables batch tagged with the
//!   ruleset generation it read, which the kernel refuses if the ruleset changed meanwhile
//!   (the tool then rebuilds it on a fresh read), and its deletions name rules by handle,
//!   which are never reused. A `-D CHAIN RULE` whose rule is no longer there fails that whole
//!   transaction, so a fix computed from a stale read is refused, not half applied (the
//!   kernel test `jumps` races two writers to check exactly this, for both variants).
//! * **A planned jump is never deleted without being inserted again in the same
//!   transaction.** A planned jump present once is left alone. One present `k != 1` times
//!   (duplicates, left by two writers that both inserted it) is replaced: `k` times `-D`, then
//!   one `-I`. So whatever the interleaving, every planned jump keeps at least one copy: two
//!   writers that both see a duplicate and both delete "the extra one" (which left none before
//!   this design) now both try to delete every copy, and the second one's transaction fails.
//! * **Deletion is by rule spec, never by position** (positions shift under other writers).
//! * **Re-verified.** A sync that changed any jump reads the built-in chains again and repeats
//!   the fixes (a few times at most) until none is needed, so duplicates that a concurrent
//!   writer's insertion created are gone when the sync reports success; a fix refused because
//!   the chain changed under it is simply recomputed.
//!
//! Stale jumps of ours (an older form of a jump, or one the plan no longer has) are deleted
//! with `-D`, one per copy.

use std::collections::{BTreeMap, BTreeSet};

use crate::names;
use crate::plan::JumpRule;
use crate::restore::Table;
use crate::runner;

/// The restore lines, per table, after which the built-in chains hold exactly `jumps` among
/// their rules jumping to chains of ours, given `existing` (a save text or `-S` listings, see
/// [`runner::chain_rules`]): see the module documentation. Rules jumping elsewhere are not
/// ours and not touched. Per chain: the `-D` lines first, then the `-I CHAIN 1` lines in
/// reverse plan order, so that inserted jumps end up in plan order.
pub fn jump_fixes(jumps: &[JumpRule], existing: &str) -> BTreeMap<Table, Vec<String>> {
    let mut out: BTreeMap<Table, Vec<String>> = BTreeMap::new();
    let chains: BTreeSet<(Table, &str)> = jumps.iter().map(|j| (j.table, j.chain)).collect();
    for (table, chain) in chains {
        let wanted: Vec<&[String]> = jumps
            .iter()
            .filter(|j| j.table == table && j.chain == chain)
            .map(|j| j.rule.as_slice())
            .collect();
        let ours: Vec<Vec<String>> = runner::chain_rules(existing, table.name(), chain)
            .into_iter()
            .filter(|rule| runner::target_of(rule).is_some_and(names::is_ours))
            .collect();
        let lines = chain_fixes(chain, &wanted, &ours);
        if !lines.is_empty() {
            out.entry(table).or_default().extend(lines);
        }
    }
    out
}

/// The fixes of one chain that should hold `wanted` and holds `ours` (its rules jumping to our
/// chains, in order).
fn chain_fixes(chain: &str, wanted: &[&[String]], ours: &[Vec<String>]) -> Vec<String> {
    let count = |rules: &mut dyn Iterator<Item = &[String]>, rule: &[String]| {
        rules.filter(|r| *r == rule).count()
    };
    let mut deletes = Vec::new();
    let mut inserts = Vec::new();
    let mut seen: Vec<&[String]> = Vec::new();
    for rule in wanted.iter().copied() {
        if seen.contains(&rule) {
            continue;
        }
        seen.push(rule);
        let want = count(&mut wanted.iter().copied(), rule);
        let have = count(&mut ours.iter().map(Vec::as_slice), rule);
        if want != have {
            deletes.extend(std::iter::repeat_n(rule, have));
            inserts.extend(std::iter::repeat_n(rule, want));
        }
    }
    for rule in ours {
        if !wanted.contains(&rule.as_slice()) {
            deletes.push(rule.as_slice());
        }
    }
    let mut lines: Vec<String> = deletes
        .iter()
        .map(|rule| format!("-D {chain} {}", quoted(rule)))
        .collect();
    lines.extend(
        inserts
            .iter()
            .rev()
            .map(|rule| format!("-I {chain} 1 {}", quoted(rule))),
    );
    lines
}

/// A rule's words as restore input, quoted where needed.
fn quoted(words: &[String]) -> String {
    words
        .iter()
        .map(|w| crate::restore::quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// How many jumps `fixes` insert and delete.
pub fn counts(fixes: &BTreeMap<Table, Vec<String>>) -> (usize, usize) {
    let lines = fixes.values().flatten();
    let inserted = lines.clone().filter(|l| l.starts_with("-I ")).count();
    (inserted, lines.count() - inserted)
}

/// A restore input holding only `fixes`, one section per table.
pub fn input(fixes: &BTreeMap<Table, Vec<String>>) -> String {
    let mut text = String::new();
    splice(&mut text, fixes);
    text
}

/// Adds `fixes` to a restore input: each table's lines before that table's `COMMIT`, or as a
/// section of their own if the input has none for the table.
pub fn splice(text: &mut String, fixes: &BTreeMap<Table, Vec<String>>) {
    for (table, lines) in fixes {
        let header = format!("*{}\n", table.name());
        let start = if text.starts_with(&header) {
            Some(0)
        } else {
            text.find(&format!("\n{header}")).map(|i| i + 1)
        };
        let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
        match start.and_then(|s| text[s..].find("\nCOMMIT\n").map(|c| s + c + 1)) {
            Some(commit) => text.insert_str(commit, &body),
            None => {
                text.push_str(&header);
                text.push_str(&body);
                text.push_str("COMMIT\n");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jump(table: Table, chain: &'static str, words: &str) -> JumpRule {
        JumpRule {
            table,
            chain,
            rule: runner::split_words(words),
        }
    }

    fn jumps() -> [JumpRule; 3] {
        [
            jump(
                Table::Nat,
                "PREROUTING",
                r#"-m comment --comment "svcproxy portals" -j SVCP-SERVICES"#,
            ),
            jump(
                Table::Filter,
                "OUTPUT",
                "-m conntrack --ctstate NEW -j SVCP-FIREWALL",
            ),
            jump(
                Table::Filter,
                "OUTPUT",
                "-m conntrack --ctstate NEW -j SVCP-SERVICES",
            ),
        ]
    }

    #[test]
    fn inserts_the_missing_and_deletes_the_stale() {
        let existing = "*nat\n:PREROUTING ACCEPT [0:0]\n\
            -A PREROUTING -m comment --comment \"svcproxy portals\" -j SVCP-SERVICES\n\
            -A PREROUTING -j FOREIGN\n\
            -A PREROUTING -j SVCP-SERVICES\n\
            COMMIT\n*filter\n-A OUTPUT -m conntrack --ctstate NEW -j SVCP-SERVICES\nCOMMIT\n";
        let fixes = jump_fixes(&jumps(), existing);
        assert_eq!(
            fixes,
            BTreeMap::from([
                (
                    Table::Nat,
                    vec!["-D PREROUTING -j SVCP-SERVICES".to_owned()]
                ),
                (
                    Table::Filter,
                    vec!["-I OUTPUT 1 -m conntrack --ctstate NEW -j SVCP-FIREWALL".to_owned()]
                ),
            ])
        );
        assert_eq!(counts(&fixes), (1, 1));
        let everything = "*nat\n-A PREROUTING -m comment --comment \"svcproxy portals\" -j SVCP-SERVICES\nCOMMIT\n*filter\n-A OUTPUT -m conntrack --ctstate NEW -j SVCP-FIREWALL\n-A OUTPUT -m conntrack --ctstate NEW -j SVCP-SERVICES\nCOMMIT\n";
        assert!(jump_fixes(&jumps(), everything).is_empty());
        let inserts = jump_fixes(&jumps(), "");
        assert_eq!(
            inserts[&Table::Filter],
            [
                "-I OUTPUT 1 -m conntrack --ctstate NEW -j SVCP-SERVICES",
                "-I OUTPUT 1 -m conntrack --ctstate NEW -j SVCP-FIREWALL",
            ],
            "inserted in reverse: they end up in plan order"
        );
        assert_eq!(
            inserts[&Table::Nat],
            [r#"-I PREROUTING 1 -m comment --comment "svcproxy portals" -j SVCP-SERVICES"#]
        );
    }

    /// Two writers that both read a duplicate must not both delete "the extra one": each
    /// deletes every copy and inserts one in the same transaction, so the second one's
    /// transaction fails on its last `-D` instead of leaving no jump.
    #[test]
    fn a_duplicate_is_replaced_whole_never_thinned() {
        let portal = r#"-A PREROUTING -m comment --comment "svcproxy portals" -j SVCP-SERVICES"#;
        let existing = format!("*nat\n{portal}\n-A PREROUTING -j FOREIGN\n{portal}\nCOMMIT\n");
        let fixes = jump_fixes(&jumps()[..1], &existing);
        let d = r#"-D PREROUTING -m comment --comment "svcproxy portals" -j SVCP-SERVICES"#;
        let i = r#"-I PREROUTING 1 -m comment --comment "svcproxy portals" -j SVCP-SERVICES"#;
        assert_eq!(fixes[&Table::Nat], [d, d, i]);
        assert_eq!(counts(&fixes), (1, 2));
    }

    #[test]
    fn every_line_that_deletes_a_planned_jump_comes_with_its_insertion() {
        let plan = jumps();
        let texts = [
            "",
            "*filter\n-A OUTPUT -m conntrack --ctstate NEW -j SVCP-SERVICES\n-A OUTPUT -m conntrack --ctstate NEW -j SVCP-SERVICES\n-A OUTPUT -m conntrack --ctstate NEW -j SVCP-SERVICES\nCOMMIT\n",
            "*filter\n-A OUTPUT -j SVCP-OLD\n-A OUTPUT -m conntrack --ctstate NEW -j SVCP-FIREWALL\n-A OUTPUT -m conntrack --ctstate NEW -j SVCP-FIREWALL\nCOMMIT\n",
        ];
        for existing in texts {
            for (table, lines) in jump_fixes(&plan, existing) {
                for j in plan.iter().filter(|j| j.table == table) {
                    let rule = quoted(&j.rule);
                    let deleted = lines
                        .iter()
                        .filter(|l| **l == format!("-D {} {rule}", j.chain))
                        .count();
                    let inserted = lines
                        .iter()
                        .filter(|l| **l == format!("-I {} 1 {rule}", j.chain))
                        .count();
                    assert!(deleted == 0 || inserted == 1, "{existing}: {lines:?}");
                }
            }
        }
    }

    #[test]
    fn splice_adds_to_the_table_or_a_new_section() {
        let fixes = BTreeMap::from([
            (Table::Nat, vec!["-I PREROUTING 1 -j A".to_owned()]),
            (Table::Filter, vec!["-D INPUT -j B".to_owned()]),
        ]);
        let mut text = "*nat\n:A - [0:0]\n-A A -j ACCEPT\nCOMMIT\n".to_owned();
        splice(&mut text, &fixes);
        assert_eq!(
            text,
            "*nat\n:A - [0:0]\n-A A -j ACCEPT\n-I PREROUTING 1 -j A\nCOMMIT\n*filter\n-D INPUT -j B\nCOMMIT\n"
        );
        let mut text = "*filter\n:F - [0:0]\nCOMMIT\n*nat\n:A - [0:0]\nCOMMIT\n".to_owned();
        splice(&mut text, &fixes);
        assert_eq!(
            text,
            "*filter\n:F - [0:0]\n-D INPUT -j B\nCOMMIT\n*nat\n:A - [0:0]\n-I PREROUTING 1 -j A\nCOMMIT\n"
        );
        assert_eq!(
            input(&fixes),
            "*nat\n-I PREROUTING 1 -j A\nCOMMIT\n*filter\n-D INPUT -j B\nCOMMIT\n"
        );
    }
}
