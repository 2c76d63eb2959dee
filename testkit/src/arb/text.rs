//! Strategies for manifest text: the generated objects written as `kubectl` reads and prints
//! them (YAML streams, JSON values, arrays and `List`s), and mutations of such text (cut short,
//! garbage inserted, characters replaced, nested deeply, YAML alias bombs, random bytes).

use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::objects;

/// How a manifest is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// YAML documents separated by `---`.
    YamlStream,
    /// A YAML `kind: List`.
    YamlList,
    /// JSON values one after the other.
    JsonStream,
    /// A JSON array.
    JsonArray,
    /// A JSON `kind: List`.
    JsonList,
}

/// A manifest and the values it was written from.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// The text.
    pub text: String,
    /// The values, in order (objects of kinds svcproxy does not read included).
    pub values: Vec<Value>,
    /// How the text was written.
    pub format: Format,
}

/// An object of a kind svcproxy does not read.
fn other_kind() -> impl Strategy<Value = Value> {
    "[a-z]{1,8}".prop_map(
        |name| json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}}),
    )
}

/// A value for a manifest: mostly objects svcproxy reads.
fn value() -> impl Strategy<Value = Value> {
    prop_oneof![12 => objects::object_value(), 1 => other_kind()]
}

/// Writes `values` in `format`.
pub fn write(values: &[Value], format: Format) -> String {
    let list = || json!({"apiVersion": "v1", "kind": "List", "items": values});
    let yaml = |v: &Value| serde_yaml_ng::to_string(v).expect("JSON values are YAML");
    match format {
        Format::YamlStream => values.iter().map(yaml).collect::<Vec<_>>().join("---\n"),
        Format::YamlList => yaml(&list()),
        Format::JsonStream => values
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
        Format::JsonArray => Value::Array(values.to_vec()).to_string(),
        Format::JsonList => serde_json::to_string_pretty(&list()).expect("a JSON value"),
    }
}

/// A well-formed manifest of 1 to `max` values.
pub fn manifest(max: usize) -> impl Strategy<Value = Manifest> {
    let format = proptest::sample::select(vec![
        Format::YamlStream,
        Format::YamlList,
        Format::JsonStream,
        Format::JsonArray,
        Format::JsonList,
    ]);
    (vec(value(), 1..max.max(2)), format).prop_map(|(values, format)| Manifest {
        text: write(&values, format),
        values,
        format,
    })
}

/// A change to a text.
#[derive(Clone, Debug)]
enum Mutation {
    /// Cut at this fraction of the length (a half-written file).
    Truncate(f64),
    /// Insert this text at this fraction of the length.
    Insert(f64, String),
    /// Replace the character at this fraction of the length.
    Replace(f64, char),
    /// Put the text inside this many `{"a":` or `[` (JSON) or `- ` levels (YAML).
    Nest(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = 0.0..1.0f64;
    prop_oneof![
        3 => at.clone().prop_map(Mutation::Truncate),
        2 => (at.clone(), garbage()).prop_map(|(a, g)| Mutation::Insert(a, g)),
        2 => (at, any::<char>()).prop_map(|(a, c)| Mutation::Replace(a, c)),
        1 => (1..1500usize, 0..3u8).prop_map(|(n, k)| Mutation::Nest(n, k)),
    ]
}

/// Short text likely to break a parser.
fn garbage() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(vec![
            "---\n",
            "...\n",
            "{",
            "}",
            "[",
            "]",
            "\"",
            ":",
            "- ",
            "&a ",
            "*a",
            "!!binary ",
            "%YAML 1.2\n",
            "\t",
            "\u{feff}",
            "\u{0}",
            "kind: List\nitems: 3\n",
            ",",
            "\\",
        ])
        .prop_map(str::to_owned),
        ".{0,16}",
    ]
}

/// The byte offset at `fraction` of `text`, moved back to a character boundary.
fn offset(text: &str, fraction: f64) -> usize {
    let mut at = ((text.len() as f64) * fraction) as usize;
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(text: &str, m: &Mutation) -> String {
    match m {
        Mutation::Truncate(f) => text[..offset(text, *f)].to_owned(),
        Mutation::Insert(f, g) => {
            let at = offset(text, *f);
            format!("{}{g}{}", &text[..at], &text[at..])
        }
        Mutation::Replace(f, c) => {
            let at = offset(text, *f);
            let rest = text[at..].chars().skip(1).collect::<String>();
            format!("{}{c}{rest}", &text[..at])
        }
        Mutation::Nest(n, 0) => format!("{}{text}{}", "{\"a\":".repeat(*n), "}".repeat(*n)),
        Mutation::Nest(n, 1) => format!("{}{text}{}", "[".repeat(*n), "]".repeat(*n)),
        Mutation::Nest(n, _) => {
            let mut out = String::new();
            for i in 0..*n {
                out.push_str(&" ".repeat(i));
                out.push_str("- \n");
            }
            out + text
        }
    }
}

/// A YAML alias bomb: each level lists the previous one `width` times.
pub fn alias_bomb(levels: usize, width: usize) -> String {
    let mut out = String::from("a0: &a0 [x, x]\n");
    for i in 1..=levels {
        let refs = vec![format!("*a{}", i - 1); width].join(", ");
        out.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    out
}

/// Manifest text that may be anything: a well-formed manifest with up to three mutations, an
/// alias bomb, deep nesting alone, or random characters.
pub fn broken_text() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (manifest(6), vec(mutation(), 1..4)).prop_map(|(m, muts)| {
            muts.iter().fold(m.text, |t, mu| apply(&t, mu))
        }),
        1 => (1..10usize, 2..10usize).prop_map(|(l, w)| alias_bomb(l, w)),
        1 => (1..3000usize, 0..3u8).prop_map(|(n, k)| apply("", &Mutation::Nest(n, k))),
        2 => ".{0,200}",
        1 => vec(any::<u8>(), 0..200).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}
