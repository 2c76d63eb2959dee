//! Reading a block-style YAML `List` (what `kubectl get -o yaml` prints) one item at a time.
//!
//! The YAML parser holds all of a document's events at once, about 17 times the text, so a
//! large List read as one document costs gigabytes. In block style a List's `items:` sequence
//! can be cut exactly from the text: each entry starts with `-` at the sequence's indentation,
//! and every line of an entry (block and flow scalars included) is indented deeper, so the
//! next line at that indentation or less ends it. Each entry is then parsed alone, as a
//! document whose root is indented. A document that does not have this shape is read whole.

use serde_json::{Map, Value};

use super::object::{fill_type, has_kind, is_list_kind, item_defaults};
use super::sink::Sink;

/// Where a document's top-level `items:` block sequence is.
struct Block {
    /// Byte offset of the `items:` line.
    key: usize,
    /// Byte offset of the first entry.
    start: usize,
    /// Byte offset just past the sequence.
    end: usize,
    /// The column of its entries' `-`.
    column: usize,
}

/// Reads a document that is a block-style List, item by item, into a sink of its own: memory
/// holds one item's text at a time. `None` when the document does not have that shape (read
/// it whole); `Some(Err)` when an item fails to read.
pub(super) fn read(text: &str) -> Option<Result<Sink, String>> {
    let block = find_block(text)?;
    let rest = format!("{}{}", &text[..block.key], &text[block.end..]);
    let rest: Map<String, Value> = serde_yaml_ng::from_str(&rest).ok()?;
    if !is_list_kind(&rest) {
        return None;
    }
    let defaults = item_defaults(&rest);
    let mut sink = Sink::default();
    let entries = Entries {
        text: &text[block.start..block.end],
        column: block.column,
    };
    for (n, item) in entries.enumerate() {
        let mut value: Value = match serde_yaml_ng::from_str(&item) {
            Ok(value) => value,
            Err(e) => return Some(Err(format!("item {n} of the List: {e}"))),
        };
        if let (false, Some((api_version, kind))) = (has_kind(&value), &defaults) {
            fill_type(&mut value, api_version, kind);
        }
        sink.read_object(value);
    }
    Some(Ok(sink))
}

/// Finds the top-level `items:` block sequence of a document, if it has one.
fn find_block(text: &str) -> Option<Block> {
    let mut offset = 0;
    let mut key = None;
    let mut start = None;
    let mut column = 0;
    for line in text.split_inclusive('\n') {
        let here = offset;
        offset += line.len();
        match (key, start) {
            (None, _) if is_items_key(line) => key = Some(here),
            (None, _) => {}
            (Some(_), None) if is_blank(line) => {}
            (Some(_), None) => {
                column = entry_column(line)?;
                start = Some(here);
            }
            (Some(key), Some(start)) => {
                let inside = is_blank(line)
                    || indentation(line) > column
                    || entry_column(line) == Some(column);
                if !inside {
                    return Some(Block {
                        key,
                        start,
                        end: here,
                        column,
                    });
                }
            }
        }
    }
    Some(Block {
        key: key?,
        start: start?,
        end: text.len(),
        column,
    })
}

/// The entries of a block sequence, each as a document: its `-` replaced by a space.
struct Entries<'a> {
    /// What is left of the sequence; it starts with an entry.
    text: &'a str,
    /// The column of the entries' `-`.
    column: usize,
}

impl Iterator for Entries<'_> {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        if self.text.is_empty() {
            return None;
        }
        let mut len = 0;
        for (n, line) in self.text.split_inclusive('\n').enumerate() {
            if n > 0 && !is_blank(line) && entry_column(line) == Some(self.column) {
                break;
            }
            len += line.len();
        }
        let (entry, rest) = self.text.split_at(len);
        self.text = rest;
        let mut entry = entry.to_owned();
        entry.replace_range(self.column..=self.column, " ");
        Some(entry)
    }
}

/// Whether a line is the top-level key `items:` with nothing after it but a comment.
fn is_items_key(line: &str) -> bool {
    line.strip_prefix("items:")
        .is_some_and(|rest| matches!(rest.trim_start().as_bytes().first(), None | Some(b'#')))
}

/// The column of a sequence entry's `-` (followed by a space or the line's end), if the line
/// is one.
fn entry_column(line: &str) -> Option<usize> {
    let column = indentation(line);
    let after = line[column..].strip_prefix('-')?;
    matches!(after.as_bytes().first(), None | Some(b' ' | b'\n' | b'\r')).then_some(column)
}

/// The number of leading spaces.
fn indentation(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// Whether a line is blank or a comment.
fn is_blank(line: &str) -> bool {
    let trimmed = line.trim();
    trimmed.is_empty() || trimmed.starts_with('#')
}
