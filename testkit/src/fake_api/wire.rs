//! The JSON the server writes: single objects and watch events carry `kind`/`apiVersion`
//! first; list items do not (as on the real server); watch events are one JSON object a line.

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::{Value, json};

use super::kind::Kind;
use super::status::ApiError;

/// A stored object written with its `kind` and `apiVersion` in front.
struct Typed<'a> {
    kind: Kind,
    object: &'a Value,
}

impl Serialize for Typed<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("kind", self.kind.name())?;
        map.serialize_entry("apiVersion", self.kind.api_version())?;
        if let Some(fields) = self.object.as_object() {
            for (name, value) in fields
                .iter()
                .filter(|(n, _)| !matches!(n.as_str(), "kind" | "apiVersion"))
            {
                map.serialize_entry(name, value)?;
            }
        }
        map.end()
    }
}

/// A watch event line.
#[derive(Serialize)]
struct Event<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    object: T,
}

/// A list response.
#[derive(Serialize)]
struct List<'a> {
    kind: String,
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    metadata: Value,
    items: Vec<&'a Value>,
}

/// The body of a GET of one object.
pub(crate) fn object(kind: Kind, object: &Value) -> Vec<u8> {
    to_json(&Typed { kind, object })
}

/// A watch event line (`ADDED`, `MODIFIED`, `DELETED`), newline included.
pub(crate) fn event(event_type: &str, kind: Kind, object: &Value) -> Vec<u8> {
    line(&Event {
        kind: event_type,
        object: Typed { kind, object },
    })
}

/// A `BOOKMARK` line at `rv`; `initial_end` adds the annotation that ends a streaming list.
pub(crate) fn bookmark(kind: Kind, rv: u64, initial_end: bool) -> Vec<u8> {
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    let object = json!({"metadata": metadata});
    line(&Event {
        kind: "BOOKMARK",
        object: Typed {
            kind,
            object: &object,
        },
    })
}

/// An `ERROR` line carrying the error's Status.
pub(crate) fn error(error: &ApiError) -> Vec<u8> {
    line(&Event {
        kind: "ERROR",
        object: error.status(),
    })
}

/// A list body: `metadata.resourceVersion` is `rv`, `continue` is set when more pages follow.
pub(crate) fn list(
    kind: Kind,
    rv: u64,
    continue_token: Option<&str>,
    items: Vec<&Value>,
) -> Vec<u8> {
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if let Some(token) = continue_token {
        metadata["continue"] = json!(token);
    }
    to_json(&List {
        kind: kind.list_name(),
        api_version: kind.api_version(),
        metadata,
        items,
    })
}

fn line(value: &impl Serialize) -> Vec<u8> {
    let mut bytes = to_json(value);
    bytes.push(b'\n');
    bytes
}

/// JSON text of values that cannot fail to serialize (string keys only); logged if one does.
fn to_json(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_else(|e| {
        tracing::error!(error = %e, "fake API server: cannot write JSON");
        b"{}".to_vec()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let svc = json!({"metadata": {"name": "a", "resourceVersion": "3"}, "spec": {}});
        let line = String::from_utf8(event("ADDED", Kind::Service, &svc)).expect("utf-8");
        assert!(line.ends_with('\n'));
        assert!(line.starts_with(
            r#"{"type":"ADDED","object":{"kind":"Service","apiVersion":"v1","metadata""#
        ));
        let body: Value =
            serde_json::from_slice(&list(Kind::Service, 7, Some("t"), vec![&svc])).expect("json");
        assert_eq!(body["kind"], "ServiceList");
        assert_eq!(
            body["metadata"],
            json!({"resourceVersion": "7", "continue": "t"})
        );
        assert!(body["items"][0].get("kind").is_none());
        let mark: Value = serde_json::from_slice(&bookmark(Kind::Node, 9, true)).expect("json");
        assert_eq!(
            mark["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
            "true"
        );
        assert_eq!(mark["object"]["kind"], "Node");
    }
}
