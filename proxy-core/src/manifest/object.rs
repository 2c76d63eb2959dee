//! Turning one object of a text (a JSON value) into a [`KubeObject`], or saying why not.

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::convert::validate::quoted;
use crate::error::ObjectKind;
use crate::object::KubeObject;

/// The namespace of namespaced objects that name none.
const DEFAULT_NAMESPACE: &str = "default";

/// Why an object of the text was not used, and of which of our kinds it was (if any).
pub(super) struct Skipped {
    /// The kind, when the object claimed to be one svcproxy reads.
    pub kind: Option<ObjectKind>,
    /// The message.
    pub reason: String,
}

impl Skipped {
    /// A skip of an object that is not of our kinds.
    fn other(reason: String) -> Self {
        Skipped { kind: None, reason }
    }
}

/// Whether a mapping is a list of objects: a `kind` ending in `List`.
pub(super) fn is_list_kind(map: &Map<String, Value>) -> bool {
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or_default();
    kind.ends_with("List")
}

/// The `apiVersion` and `kind` the items of a typed list (`ServiceList`) have when they omit
/// them; `None` for a plain `List`, whose items must name their own.
pub(super) fn item_defaults(list: &Map<String, Value>) -> Option<(String, String)> {
    let kind = list.get("kind")?.as_str()?.strip_suffix("List")?;
    let api_version = list.get("apiVersion")?.as_str()?;
    (!kind.is_empty()).then(|| (api_version.to_owned(), kind.to_owned()))
}

/// Whether an item names its own `kind`.
pub(super) fn has_kind(item: &Value) -> bool {
    item.get("kind").and_then(Value::as_str).is_some()
}

/// Sets `apiVersion` and `kind` on an item that lacks them.
pub(super) fn fill_type(item: &mut Value, api_version: &str, kind: &str) {
    if let Value::Object(map) = item {
        map.entry("apiVersion")
            .or_insert_with(|| Value::String(api_version.to_owned()));
        map.entry("kind")
            .or_insert_with(|| Value::String(kind.to_owned()));
    }
}

/// Turns one object of the text into a [`KubeObject`], or says why it cannot be used.
pub(super) fn object(value: Value) -> Result<KubeObject, Skipped> {
    let Value::Object(map) = &value else {
        return Err(Skipped::other(format!(
            "not an object but {}",
            type_name(&value)
        )));
    };
    let field = |key: &str| map.get(key).and_then(Value::as_str).unwrap_or_default();
    let (api_version, kind) = (field("apiVersion"), field("kind"));
    let name = describe(map);
    match (api_version, kind) {
        ("v1", "Service") => typed::<Service>(value, ObjectKind::Service, &name).map(|mut s| {
            default_namespace(&mut s.metadata);
            s.into()
        }),
        ("discovery.k8s.io/v1", "EndpointSlice") => {
            typed::<EndpointSlice>(value, ObjectKind::EndpointSlice, &name).map(|mut s| {
                default_namespace(&mut s.metadata);
                s.into()
            })
        }
        ("v1", "Node") => typed::<Node>(value, ObjectKind::Node, &name).map(KubeObject::from),
        (_, "") => Err(Skipped::other(format!("object {name}has no kind"))),
        (api_version, kind) => Err(Skipped::other(format!(
            "unsupported kind {} ({}) {name}skipped: only v1 Service, \
             discovery.k8s.io/v1 EndpointSlice and v1 Node are read",
            quoted(kind),
            quoted(api_version)
        ))),
    }
}

/// Deserializes an object of a known kind.
fn typed<T: DeserializeOwned>(value: Value, kind: ObjectKind, name: &str) -> Result<T, Skipped> {
    serde_json::from_value(value).map_err(|e| Skipped {
        kind: Some(kind),
        reason: format!("invalid {kind} {name}: {e}"),
    })
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
pub(super) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
