//! The discovery documents clients read before using a resource: `/version`, `/api`, `/apis`
//! and the resource lists of `v1` and `discovery.k8s.io/v1` (only what the fake serves).

use serde_json::{Value, json};

use super::kind::Kind;

/// The Kubernetes version the fake claims to be.
pub const VERSION: (&str, &str) = ("1", "34");

/// The document at `path` (as [`super::request::Route::Discovery`] names it), if any.
pub(crate) fn document(path: &str) -> Option<Value> {
    let (major, minor) = VERSION;
    Some(match path {
        "version" => json!({
            "major": major,
            "minor": minor,
            "gitVersion": format!("v{major}.{minor}.0-svcproxy-fake"),
            "platform": "linux/amd64",
        }),
        "api" => json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [],
        }),
        "apis" => json!({
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [discovery_group()],
        }),
        "apis/discovery.k8s.io" => {
            let mut group = discovery_group();
            group["kind"] = json!("APIGroup");
            group["apiVersion"] = json!("v1");
            group
        }
        "api/v1" => resource_list("v1"),
        "apis/discovery.k8s.io/v1" => resource_list("discovery.k8s.io/v1"),
        _ => return None,
    })
}

fn discovery_group() -> Value {
    let version = json!({"groupVersion": "discovery.k8s.io/v1", "version": "v1"});
    json!({"name": "discovery.k8s.io", "versions": [version], "preferredVersion": version})
}

fn resource_list(group_version: &str) -> Value {
    let resources: Vec<Value> = Kind::ALL
        .into_iter()
        .filter(|k| k.api_version() == group_version)
        .map(|k| {
            json!({
                "name": k.plural(),
                "singularName": k.name().to_lowercase(),
                "namespaced": k.namespaced(),
                "kind": k.name(),
                "verbs": ["get", "list", "watch"],
            })
        })
        .collect();
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    })
}
