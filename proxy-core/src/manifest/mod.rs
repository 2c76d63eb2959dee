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
//! next object would have had, and the objects before it are kept, but the text is marked
//! unreadable ([`Manifest::unreadable`]).
//!
//! # JSON or YAML
//!
//! A text whose first character (after a byte-order mark and whitespace) is `{` or `[` is
//! JSON, and only JSON: a truncated JSON text must not be read again as YAML, where it would
//! lose everything. YAML written in flow style at the top level is therefore not read.
//!
//! # Limits
//!
//! - Size: a text over [`MAX_BYTES`] (1 GiB) is refused, unread beyond the limit.
//! - Nesting: JSON and YAML nested deeper than [`MAX_DEPTH`] (128) levels is refused, at a
//!   cost linear in the text (YAML documents are checked before parsing: the YAML scanner is
//!   quadratic in flow nesting). Kubernetes objects nest about ten levels.
//! - Memory: a JSON text is read from its reader, and a `List` one item at a time, so memory
//!   holds the objects read and one item, never a tree of the whole text. A YAML text is held
//!   whole, and each document is parsed on its own (the YAML parser holds one document's
//!   events at a time, many times the document's size); a block-style `List` is cut into its
//!   items, each parsed alone.
//!
//! # Whether to apply a read
//!
//! A source that hands a whole cluster's objects to a tracker replaces what it had: a read that
//! lost objects deletes their services. [`Manifest::check`] says whether a read may be applied
//! (see [`Unusable`] for the rules).

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read};

use crate::error::{Error, ObjectKind};
use crate::object::KubeObject;

mod json;
mod object;
mod sink;
mod stream;
mod verdict;
mod yaml;
mod yaml_list;

pub use verdict::Unusable;

/// The largest text read, in bytes (1 GiB); a larger one is refused.
pub const MAX_BYTES: u64 = 1 << 30;

/// The deepest nesting of JSON or YAML collections read; a deeper text is refused.
pub const MAX_DEPTH: usize = 128;

/// What a text yielded: the objects, the errors, and whether the text as a whole can be trusted.
#[derive(Debug, Default)]
pub struct Manifest {
    /// The objects read, in reading order.
    pub objects: Vec<KubeObject>,
    /// One [`Error::Manifest`] per object or document that could not be used (a bad object
    /// never hides the others).
    pub errors: Vec<Error>,
    /// Why the text as a whole cannot be trusted (truncated or invalid JSON, too large, too
    /// deep, a `List` that failed to read, unreadable bytes), if it cannot.
    pub unreadable: Option<String>,
    /// How many objects of each kind svcproxy reads were skipped as invalid.
    pub skipped: BTreeMap<ObjectKind, usize>,
    /// The size of the text in bytes.
    pub bytes: u64,
}

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
    let manifest = read(text.as_bytes());
    (manifest.objects, manifest.errors)
}

/// Reads every Service, EndpointSlice and Node from a reader of YAML or JSON (a file), within
/// the [limits](self#limits). Never fails: an unreadable text is a [`Manifest`] whose
/// [`unreadable`](Manifest::unreadable) says why.
pub fn read(reader: impl Read) -> Manifest {
    read_with_limit(reader, MAX_BYTES)
}

/// [`read`] with another size limit.
pub fn read_with_limit(reader: impl Read, max_bytes: u64) -> Manifest {
    let mut reader = BufReader::with_capacity(1 << 16, Limited::new(reader, max_bytes));
    let mut sink = sink::Sink::default();
    let unreadable = match skip_to_content(&mut reader) {
        Err(e) => Some(cannot_read(&mut sink, &e)),
        Ok(None) => None,
        Ok(Some(b'{' | b'[')) => json::read(&mut reader, &mut sink).err(),
        Ok(Some(_)) => match read_text(&mut reader) {
            Ok(text) => yaml::read(&text, &mut sink).err(),
            Err(e) => Some(cannot_read(&mut sink, &e)),
        },
    };
    let bytes = reader.get_ref().read;
    let (objects, errors, skipped) = sink.finish();
    Manifest {
        objects,
        errors,
        unreadable,
        skipped,
        bytes,
    }
}

/// Records that the text could not be read; returns why.
fn cannot_read(sink: &mut sink::Sink, e: &io::Error) -> String {
    let reason = format!("cannot read the text: {e}");
    sink.fail_here(reason.clone());
    reason
}

/// Skips a byte-order mark and whitespace; returns the first byte of content, if any.
fn skip_to_content(reader: &mut impl BufRead) -> io::Result<Option<u8>> {
    let mut first = true;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        let mut skip = 0;
        if first && buf.starts_with(b"\xef\xbb\xbf") {
            skip = 3;
        }
        first = false;
        let rest = &buf[skip..];
        let blank = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
        let next = rest.get(blank).copied();
        reader.consume(skip + blank);
        if next.is_some() {
            return Ok(next);
        }
    }
}

/// Reads the rest of a text as UTF-8.
fn read_text(reader: &mut impl Read) -> io::Result<String> {
    let mut text = String::new();
    reader.read_to_string(&mut text)?;
    Ok(text)
}

/// A reader that fails once more than its limit was read.
struct Limited<R> {
    inner: R,
    limit: u64,
    read: u64,
}

impl<R> Limited<R> {
    fn new(inner: R, limit: u64) -> Self {
        Limited {
            inner,
            limit,
            read: 0,
        }
    }
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(io::Error::other(format!(
                "the text is larger than the limit of {} bytes",
                self.limit
            )));
        }
        Ok(n)
    }
}
