//! Reading a JSON text: a stream of top-level values (one object, a `List`, an array, or
//! several concatenated), each read straight from the parser. JSON has no point to resume at
//! after a syntax error, so an error ends the reading and makes the whole text untrusted: a
//! truncated `kubectl get -o json` output is a failed read, not a smaller cluster.

use std::io::Read;

use serde_json::error::Category;

use super::MAX_DEPTH;
use super::sink::Sink;
use super::stream::Document;

/// Reads every top-level value of the text into the sink. `Err` says why the text cannot be
/// trusted; the objects of a value that failed half-way are not kept.
pub(super) fn read(reader: impl Read, sink: &mut Sink) -> Result<(), String> {
    let stream = serde_json::Deserializer::from_reader(reader).into_iter::<Document>();
    for value in stream {
        match value {
            Ok(Document(part)) => sink.absorb(part),
            Err(e) => {
                let reason = describe(&e);
                sink.fail_here(reason.clone());
                return Err(reason);
            }
        }
    }
    Ok(())
}

/// Says what a JSON error means for the text as a whole.
fn describe(e: &serde_json::Error) -> String {
    let at = format!("line {} column {}", e.line(), e.column());
    match e.classify() {
        Category::Eof => format!(
            "the JSON text ends in the middle of a value at {at} (truncated, or still being \
             written?)"
        ),
        Category::Io => format!("cannot read the text: {e}"),
        _ if e.to_string().starts_with("recursion limit exceeded") => {
            format!("the JSON text is nested deeper than {MAX_DEPTH} levels at {at}")
        }
        Category::Syntax | Category::Data => format!(
            "invalid JSON (a text starting with '{{' or '[' is read as JSON; write YAML in \
             block style): {e}"
        ),
    }
}
