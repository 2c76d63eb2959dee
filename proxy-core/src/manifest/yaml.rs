//! Reading a YAML stream: split at document markers, each document read on its own so a
//! syntax error costs only its document, after a cheap check of its flow nesting (the YAML
//! scanner's cost is quadratic in it).

use super::MAX_DEPTH;
use super::sink::Sink;
use super::stream::Document;

/// The outcome of reading a YAML stream: `Err` when the stream as a whole must not be trusted
/// (a document that declares a `List` failed to read).
pub(super) fn read(text: &str, sink: &mut Sink) -> Result<(), String> {
    for document in yaml_documents(text) {
        if !document.has_content {
            continue;
        }
        if let Err(reason) = read_document(&document, sink) {
            let reason = format!(
                "invalid YAML in the document starting at line {} \
                 (positions are relative to it): {reason}",
                document.line
            );
            if declares_list(document.text) {
                let reason = format!("a List failed to read: {reason}");
                sink.fail_here(reason.clone());
                return Err(reason);
            }
            sink.fail_here(reason);
        }
    }
    Ok(())
}

/// Reads one document into the sink; on failure adds nothing.
fn read_document(document: &YamlDocument<'_>, sink: &mut Sink) -> Result<(), String> {
    if let Some(line) = flow_too_deep(document.text) {
        return Err(format!(
            "nested deeper than {MAX_DEPTH} levels at line {line}"
        ));
    }
    if let Some(list) = super::yaml_list::read(document.text) {
        return list.map(|part| sink.absorb(part));
    }
    let deserializer = serde_yaml_ng::Deserializer::from_str(document.text);
    match serde::Deserialize::deserialize(deserializer) {
        Ok(Document(part)) => {
            sink.absorb(part);
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// The 1-based line (relative to the document) where flow collections (`[`, `{`) nest deeper
/// than [`MAX_DEPTH`], if they do. Brackets inside quoted scalars are counted too: balanced
/// ones (JSON in an annotation) cancel out, so only absurd texts are refused wrongly.
fn flow_too_deep(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut line = 1;
    for byte in text.bytes() {
        match byte {
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some(line);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'\n' => line += 1,
            _ => {}
        }
    }
    None
}

/// Whether a document says it is a list (a top-level `kind: ...List` line).
fn declares_list(text: &str) -> bool {
    text.lines().any(|line| {
        line.strip_prefix("kind:")
            .map(|kind| kind.trim().trim_matches(['"', '\'']).ends_with("List"))
            .unwrap_or(false)
    })
}

/// One document of a YAML stream.
struct YamlDocument<'a> {
    /// Its text, markers included.
    text: &'a str,
    /// The 1-based line of the stream it starts on.
    line: usize,
    /// Whether it holds anything but markers, directives, comments and blank lines.
    has_content: bool,
}

/// A YAML document marker line: `---` (start) or `...` (end), alone or followed by whitespace.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Marker {
    /// `---`: a document starts (its content may follow on the same line).
    Start,
    /// `...`: the document ends.
    End,
}

/// The marker a line is, if any, with the rest of the line.
fn marker(line: &str) -> Option<(Marker, &str)> {
    let (kind, rest) = if let Some(rest) = line.strip_prefix("---") {
        (Marker::Start, rest)
    } else {
        (Marker::End, line.strip_prefix("...")?)
    };
    let separated = rest.is_empty() || rest.starts_with(|c: char| c.is_ascii_whitespace());
    separated.then_some((kind, rest))
}

/// Whether a (non-marker) line is content: not blank, a comment or a directive.
fn is_content(line: &str) -> bool {
    let trimmed = line.trim();
    !(trimmed.is_empty() || trimmed.starts_with('#') || line.starts_with('%'))
}

/// Splits a YAML stream into its documents at marker lines. YAML forbids such lines inside
/// content (block and quoted scalars included), so the split is exact for a valid stream, and a
/// broken document cannot swallow the next ones. Directives before a `---` stay with it.
fn yaml_documents(text: &str) -> Vec<YamlDocument<'_>> {
    let mut split = Splitter {
        text,
        documents: Vec::new(),
        start: 0,
        line: 1,
        has_content: false,
        started: false,
    };
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let end = offset + line.len();
        match marker(line) {
            Some((Marker::Start, rest)) => {
                if split.has_content || split.started {
                    split.cut(offset, i + 1);
                }
                split.started = true;
                split.has_content = is_content(rest);
            }
            Some((Marker::End, _)) => split.cut(end, i + 2),
            None => split.has_content |= is_content(line),
        }
        offset = end;
    }
    split.cut(text.len(), 0);
    split.documents
}

/// The state of [`yaml_documents`].
struct Splitter<'a> {
    /// The whole stream.
    text: &'a str,
    /// The documents cut so far.
    documents: Vec<YamlDocument<'a>>,
    /// Where the current document starts (a byte offset).
    start: usize,
    /// The line the current document starts on.
    line: usize,
    /// Whether the current document has content so far.
    has_content: bool,
    /// Whether the current document has had its `---`.
    started: bool,
}

impl<'a> Splitter<'a> {
    /// Ends the current document before byte `end`; the next one starts there, on `next_line`.
    fn cut(&mut self, end: usize, next_line: usize) {
        self.documents.push(YamlDocument {
            text: self.text.get(self.start..end).unwrap_or_default(),
            line: self.line,
            has_content: self.has_content,
        });
        self.start = end;
        self.line = next_line;
        self.has_content = false;
        self.started = false;
    }
}
