//! The `iptables-restore` input format, written (never parsed) from values.
//!
//! A [`RestoreDoc`] is one run of `iptables-restore --noflush` (or `ip6tables-restore`): one
//! section per table, each
//!
//! ```text
//! *nat
//! :SVCP-SVC-... - [0:0]      declares a chain: creates it, or flushes it if it exists
//! -A SVCP-SVC-... <spec>     appends a rule
//! -X SVCP-SEP-...            deletes a chain (declared above, so already flushed)
//! COMMIT                     the table's changes, as one kernel transaction
//! ```
//!
//! With `--noflush`, chains the input does not declare keep their rules: a partial input
//! rewrites exactly the chains it declares. Built-in chains (`PREROUTING`, `INPUT`, ...) are
//! never declared: that would flush everyone else's rules from them.
//!
//! Each table section is atomic (one `COMMIT`); a document holding both tables is two
//! transactions.

use std::fmt;
use std::sync::Arc;

/// An iptables table svcproxy writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// `nat`: dispatch, DNAT, masquerade.
    Nat,
    /// `filter`: REJECT / DROP checks.
    Filter,
}

impl Table {
    /// Both tables, in the order documents hold them.
    pub const ALL: [Table; 2] = [Table::Nat, Table::Filter];

    /// The table's name (`nat`, `filter`).
    pub fn name(self) -> &'static str {
        match self {
            Table::Nat => "nat",
            Table::Filter => "filter",
        }
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One table's part of a [`RestoreDoc`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSection {
    /// The table.
    pub table: Table,
    /// Chains declared (created or flushed), then filled by `rules`, in order.
    pub chains: Vec<Arc<str>>,
    /// `(chain, spec)`: the rules appended, `-A chain spec`, in order.
    pub rules: Vec<(Arc<str>, String)>,
    /// Chains flushed and deleted (`:` then `-X`), in order.
    pub deleted: Vec<Arc<str>>,
}

impl TableSection {
    /// An empty section of `table`.
    pub fn new(table: Table) -> Self {
        TableSection {
            table,
            chains: Vec::new(),
            rules: Vec::new(),
            deleted: Vec::new(),
        }
    }

    /// Declares `chain` (creating or flushing it).
    pub fn chain(&mut self, chain: impl Into<Arc<str>>) -> &mut Self {
        self.chains.push(chain.into());
        self
    }

    /// Appends `-A chain spec`.
    pub fn rule(&mut self, chain: impl Into<Arc<str>>, spec: impl Into<String>) -> &mut Self {
        self.rules.push((chain.into(), spec.into()));
        self
    }

    /// Flushes and deletes `chain`.
    pub fn delete(&mut self, chain: impl Into<Arc<str>>) -> &mut Self {
        self.deleted.push(chain.into());
        self
    }

    /// Whether the section changes nothing.
    pub fn is_empty(&self) -> bool {
        self.chains.is_empty() && self.rules.is_empty() && self.deleted.is_empty()
    }

    /// The length in bytes of the section's text (without rendering it).
    pub fn text_len(&self) -> usize {
        let table = 1 + self.table.name().len() + 1;
        let decls: usize = self
            .chains
            .iter()
            .chain(&self.deleted)
            .map(|c| 1 + c.len() + " - [0:0]\n".len())
            .sum();
        let rules: usize = self
            .rules
            .iter()
            .map(|(c, spec)| "-A ".len() + c.len() + usize::from(!spec.is_empty()) + spec.len() + 1)
            .sum();
        let deletes: usize = self.deleted.iter().map(|c| "-X ".len() + c.len() + 1).sum();
        table + decls + rules + deletes + "COMMIT\n".len()
    }

    /// Appends the section's text to `out`.
    pub fn write_to(&self, out: &mut String) {
        out.push('*');
        out.push_str(self.table.name());
        out.push('\n');
        for chain in self.chains.iter().chain(&self.deleted) {
            out.push(':');
            out.push_str(chain);
            out.push_str(" - [0:0]\n");
        }
        for (chain, spec) in &self.rules {
            out.push_str("-A ");
            out.push_str(chain);
            if !spec.is_empty() {
                out.push(' ');
                out.push_str(spec);
            }
            out.push('\n');
        }
        for chain in &self.deleted {
            out.push_str("-X ");
            out.push_str(chain);
            out.push('\n');
        }
        out.push_str("COMMIT\n");
    }
}

/// One `iptables-restore --noflush` input: a section per table (nat first), each atomic.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestoreDoc {
    /// The sections, at most one per table, in [`Table::ALL`] order.
    pub sections: Vec<TableSection>,
}

impl RestoreDoc {
    /// An empty document.
    pub fn new() -> Self {
        RestoreDoc::default()
    }

    /// The section of `table`, created (in table order) if missing.
    pub fn table(&mut self, table: Table) -> &mut TableSection {
        let at = match self.sections.binary_search_by(|s| s.table.cmp(&table)) {
            Ok(i) => i,
            Err(i) => {
                self.sections.insert(i, TableSection::new(table));
                i
            }
        };
        &mut self.sections[at]
    }

    /// The section of `table`, if any.
    pub fn section(&self, table: Table) -> Option<&TableSection> {
        self.sections.iter().find(|s| s.table == table)
    }

    /// Whether the document changes nothing (an empty document need not be run).
    pub fn is_empty(&self) -> bool {
        self.sections.iter().all(TableSection::is_empty)
    }

    /// Chains declared to be (re)written.
    pub fn chains_written(&self) -> usize {
        self.sections.iter().map(|s| s.chains.len()).sum()
    }

    /// Chains deleted.
    pub fn chains_deleted(&self) -> usize {
        self.sections.iter().map(|s| s.deleted.len()).sum()
    }

    /// Rules appended.
    pub fn rules(&self) -> usize {
        self.sections.iter().map(|s| s.rules.len()).sum()
    }

    /// Chains the document touches: written plus deleted.
    pub fn chains_touched(&self) -> usize {
        self.chains_written() + self.chains_deleted()
    }

    /// The length in bytes of [`RestoreDoc::text`].
    pub fn text_len(&self) -> usize {
        self.sections
            .iter()
            .filter(|s| !s.is_empty())
            .map(TableSection::text_len)
            .sum()
    }

    /// The input text; empty sections are left out.
    pub fn text(&self) -> String {
        let mut out = String::with_capacity(self.text_len());
        for section in self.sections.iter().filter(|s| !s.is_empty()) {
            section.write_to(&mut out);
        }
        out
    }
}

impl fmt::Display for RestoreDoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

/// Quotes `word` for the restore parser when needed: words with whitespace or quotes are put
/// in double quotes, with `"` and `\` escaped.
pub fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && !word
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '\\' || c == '\'');
    if plain {
        return word.to_owned();
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('"');
    for c in word.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_sections_in_table_order() {
        let mut doc = RestoreDoc::new();
        doc.table(Table::Filter)
            .chain("SVCP-SERVICES")
            .rule("SVCP-SERVICES", "-d 10.96.0.10/32 -j REJECT");
        doc.table(Table::Nat)
            .chain("SVCP-SVC-A")
            .rule("SVCP-SVC-A", "-j SVCP-SEP-B")
            .delete("SVCP-SEP-OLD");
        assert_eq!(
            doc.text(),
            "*nat\n:SVCP-SVC-A - [0:0]\n:SVCP-SEP-OLD - [0:0]\n-A SVCP-SVC-A -j SVCP-SEP-B\n\
             -X SVCP-SEP-OLD\nCOMMIT\n*filter\n:SVCP-SERVICES - [0:0]\n\
             -A SVCP-SERVICES -d 10.96.0.10/32 -j REJECT\nCOMMIT\n"
        );
        assert_eq!(
            (doc.chains_written(), doc.chains_deleted(), doc.rules()),
            (2, 1, 2)
        );
        assert_eq!(doc.text_len(), doc.text().len());
        assert!(RestoreDoc::new().text().is_empty());
    }

    #[test]
    fn quotes_what_the_parser_would_split() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote("two words"), "\"two words\"");
        assert_eq!(quote("a\"b"), "\"a\\\"b\"");
        assert_eq!(quote(""), "\"\"");
    }
}
