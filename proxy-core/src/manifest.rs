//! Reading a text of Kubernetes objects (multi-document YAML, JSON, or a `List`).
//!
//! [`parse`] accepts what people feed `kubectl apply -f` and what `kubectl get -o yaml|json`
//! prints:
//!
//! - YAML, one object per `---`-separated document;
//! - JSON: one object, several concatenated objects, or an array of objects;
//! - a `List` (`kind: List`, or a typed list such as `ServiceList`) whose `items` are the
//!   objects, in either format. Items of a typed list may omit `apiVersion`/`kind` (the API
//!   server omits them); they take the list's.
//!
//! Only `v1` Services, `discovery.k8s.io/v1` EndpointSlices and `v1` Nodes are kept. A Service
//! or EndpointSlice without `metadata.namespace` is put in `default`, as `kubectl apply` does
//! with the default context.
//!
//! # Error indices
//!
//! Each object of the text (a non-empty document, or one item of a `List`) has an index: its
//! 0-based position among the text's objects, in reading order. Empty documents have none, a
//! `List` document counts as its items. So if every object were valid, the object with index
//! `i` would be `objects[i]` of the result; an [`Error::Manifest`] carries the index of the
//! object it is about.
//!
//! A YAML syntax error costs only its document (documents are split at their `---` / `...`
//! marker lines, which YAML forbids inside content): one error, with the index the document's
//! first object would have had, and the documents before and after it are read. A JSON syntax
//! error ends the reading (JSON has no resynchronisation point): one error, with the index the
//! next object would have had, and the objects before it are kept.

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::convert::validate::quoted;
use crate::error::Error;
use crate::object::KubeObject;

/// The namespace of namespaced objects that name none.
const DEFAULT_NAMESPACE: &str = "default";

/// Reads every Service, EndpointSlice and Node of a YAML or JSON text. Returns the objects read,
/// in order, and one [`Error::Manifest`] per object that could not be used (see the module
/// documentation for the meaning of its index); a bad object never hides the others.
///
/// ```
/// use proxy_core::{Error, KubeObject, manifest};
///
/// let text = r#"
/// apiVersion: v1
/// kind: Service
/// metadata: {name: web, namespace: shop}
/// spec:
///   clusterIP: 10.96.0.10
///   ports: [{port: 80}]
/// ---
/// apiVersion: apps/v1
/// kind: Deployment
/// metadata: {name: web}
/// ---
/// apiVersion: discovery.k8s.io/v1
/// kind: EndpointSlice
/// metadata:
///   name: web-abc12
///   labels: {kubernetes.io/service-name: web}
/// addressType: IPv4
/// endpoints: [{addresses: [10.0.0.5]}]
/// ports: [{port: 8080}]
/// "#;
/// let (objects, errors) = manifest::parse(text);
///
/// assert_eq!(objects.len(), 2);
/// assert!(matches!(&objects[0], KubeObject::Service(s) if s.metadata.name.as_deref() == Some("web")));
/// // The slice named no namespace: it is put in `default`.
/// assert!(matches!(&objects[1], KubeObject::EndpointSlice(s)
///     if s.metadata.namespace.as_deref() == Some("default")));
/// // The Deployment is the text's second object: index 1.
/// assert!(matches!(&errors[..], [Error::Manifest { index: 1, reason }] if reason.contains("Deployment")));
/// ```
pub fn parse(text: &str) -> (Vec<KubeObject>, Vec<Error>) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader::default();
    if !(looks_like_json(text) && reader.read_json(text)) {
        reader.read_yaml(text);
    }
    (reader.objects, reader.errors)
}

/// Whether the text starts like JSON (`{` or `[`); YAML flow style may too, so JSON reading
/// falls back to YAML when the first value is not JSON.
fn looks_like_json(text: &str) -> bool {
    matches!(text.trim_start().as_bytes().first(), Some(b'{' | b'['))
}

/// Accumulates the objects and errors of one text.
#[derive(Default)]
struct Reader {
    /// The objects read so far.
    objects: Vec<KubeObject>,
    /// The errors so far.
    errors: Vec<Error>,
    /// The index of the next object.
    next_index: usize,
}

impl Reader {
    /// Reads a stream of JSON values. Returns `false`, having read nothing, when the first value
    /// is not valid JSON (the text is then read as YAML).
    fn read_json(&mut self, text: &str) -> bool {
        let stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
        for (n, value) in stream.enumerate() {
            match value {
                Ok(value) => self.read_document(value),
                Err(_) if n == 0 => return false,
                Err(e) => {
                    self.fail_here(format!("invalid JSON, the rest of the text is unread: {e}"));
                    break;
                }
            }
        }
        true
    }

    /// Reads a stream of YAML documents, each parsed on its own, so a syntax error costs only
    /// its document.
    fn read_yaml(&mut self, text: &str) {
        for document in yaml_documents(text) {
            if !document.has_content {
                continue;
            }
            match serde_yaml_ng::from_str::<Value>(document.text) {
                Ok(value) => self.read_document(value),
                Err(e) => self.fail_here(format!(
                    "invalid YAML in the document starting at line {} \
                     (positions are relative to it): {e}",
                    document.line
                )),
            }
        }
    }

    /// Reads one document: nothing (empty), an array or `List` of objects, or one object.
    fn read_document(&mut self, value: Value) {
        match value {
            Value::Null => {}
            Value::Array(items) => items.into_iter().for_each(|item| self.read_object(item)),
            Value::Object(map) if is_list(&map) => self.read_list(map),
            other => self.read_object(other),
        }
    }

    /// Reads the items of a `List` (or typed list such as `ServiceList`).
    fn read_list(&mut self, mut list: Map<String, Value>) {
        let defaults = item_defaults(&list);
        match list.remove("items") {
            Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for mut item in items {
                    if let (Value::Object(map), Some((api_version, kind))) = (&mut item, &defaults)
                    {
                        fill_type(map, api_version, kind);
                    }
                    self.read_object(item);
                }
            }
            _ => self.fail_here("a List whose items is not an array".to_owned()),
        }
    }

    /// Reads one object of the text, keeping it if it is of a kind svcproxy watches.
    fn read_object(&mut self, value: Value) {
        match object(value) {
            Ok(object) => {
                self.objects.push(object);
                self.next_index += 1;
            }
            Err(reason) => self.fail_here(reason),
        }
    }

    /// Records an error about the object at the current index, and moves past it.
    fn fail_here(&mut self, reason: String) {
        self.errors.push(Error::Manifest {
            index: self.next_index,
            reason,
        });
        self.next_index += 1;
    }
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

/// Whether a mapping is a list of objects: a `kind` ending in `List`, and `items`.
fn is_list(map: &Map<String, Value>) -> bool {
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or_default();
    kind.ends_with("List") && map.contains_key("items")
}

/// The `apiVersion` and `kind` the items of a typed list (`ServiceList`) have when they omit
/// them; `None` for a plain `List`, whose items must name their own.
fn item_defaults(list: &Map<String, Value>) -> Option<(String, String)> {
    let kind = list.get("kind")?.as_str()?.strip_suffix("List")?;
    let api_version = list.get("apiVersion")?.as_str()?;
    (!kind.is_empty()).then(|| (api_version.to_owned(), kind.to_owned()))
}

/// Sets `apiVersion` and `kind` on an item that lacks them.
fn fill_type(item: &mut Map<String, Value>, api_version: &str, kind: &str) {
    item.entry("apiVersion")
        .or_insert_with(|| Value::String(api_version.to_owned()));
    item.entry("kind")
        .or_insert_with(|| Value::String(kind.to_owned()));
}

/// Turns one object of the text into a [`KubeObject`], or says why it cannot be used.
fn object(value: Value) -> Result<KubeObject, String> {
    let Value::Object(map) = &value else {
        return Err(format!("not an object but {}", type_name(&value)));
    };
    let field = |key: &str| map.get(key).and_then(Value::as_str).unwrap_or_default();
    let (api_version, kind) = (field("apiVersion"), field("kind"));
    let name = describe(map);
    match (api_version, kind) {
        ("v1", "Service") => typed::<Service>(value, &name).map(|mut s| {
            default_namespace(&mut s.metadata);
            s.into()
        }),
        ("discovery.k8s.io/v1", "EndpointSlice") => {
            typed::<EndpointSlice>(value, &name).map(|mut s| {
                default_namespace(&mut s.metadata);
                s.into()
            })
        }
        ("v1", "Node") => typed::<Node>(value, &name).map(KubeObject::from),
        (_, "") => Err(format!("object {name}has no kind")),
        (api_version, kind) => Err(format!(
            "unsupported kind {} ({}) {name}skipped: only v1 Service, \
             discovery.k8s.io/v1 EndpointSlice and v1 Node are read",
            quoted(kind),
            quoted(api_version)
        )),
    }
}

/// Deserializes an object of a known kind.
fn typed<T: DeserializeOwned>(value: Value, name: &str) -> Result<T, String> {
    let kind = value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = kind.to_owned();
    serde_json::from_value(value).map_err(|e| format!("invalid {kind} {name}: {e}"))
}

/// `namespace/name ` (or `name `) of an object for messages, or nothing when it has no name.
fn describe(map: &Map<String, Value>) -> String {
    let meta = map.get("metadata");
    let get = |key: &str| meta.and_then(|m| m.get(key)).and_then(Value::as_str);
    match (get("namespace"), get("name")) {
        (Some(ns), Some(name)) => format!("{}/{} ", quoted(ns), quoted(name)),
        (None, Some(name)) => format!("{} ", quoted(name)),
        _ => String::new(),
    }
}

/// Puts a namespaced object without a namespace in `default`.
fn default_namespace(meta: &mut ObjectMeta) {
    meta.namespace
        .get_or_insert_with(|| DEFAULT_NAMESPACE.to_owned());
}

/// The JSON type of a value, for messages.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
