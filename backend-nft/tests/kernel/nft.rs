//! Test namespaces, and `nft` as a read-only observer inside them.

use backend_nft::netlink::Socket;
use serde_json::{Value as Json, json};
use testkit::Netns;

/// The namespace and a netlink socket bound to it; `None` (test skipped) when not root.
pub(crate) fn setup(test: &str) -> Option<(Netns, Socket)> {
    if !testkit::root_or_skip(test) {
        return None;
    }
    let ns = Netns::new("bnft").expect("namespace");
    let sock = Socket::open_in(ns.path()).expect("netlink socket in the namespace");
    Some((ns, sock))
}

/// `nft -j list table ip svcproxy` inside `ns`, as JSON; `None` if the table does not exist.
pub(crate) fn list_json(ns: &Netns) -> Option<Json> {
    let out = ns
        .output("nft", ["-j", "list", "table", "ip", "svcproxy"])
        .expect("run nft");
    if !out.status.success() {
        return None;
    }
    Some(serde_json::from_slice(&out.stdout).expect("nft prints JSON"))
}

/// `nft list table ip svcproxy` inside `ns`, as text (for failure messages and the report).
pub(crate) fn list_text(ns: &Netns) -> String {
    let out = ns
        .output("nft", ["list", "table", "ip", "svcproxy"])
        .expect("run nft");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The objects of one kind (`"set"`, `"map"`, `"chain"`, `"rule"`) in nft's JSON.
pub(crate) fn objects<'a>(json: &'a Json, kind: &str) -> Vec<&'a Json> {
    json["nftables"]
        .as_array()
        .expect("nftables array")
        .iter()
        .filter_map(|o| o.get(kind))
        .collect()
}

pub(crate) fn named<'a>(json: &'a Json, kind: &str, name: &str) -> &'a Json {
    objects(json, kind)
        .into_iter()
        .find(|o| o["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {json}"))
}

/// The rules of `chain`, each as its `expr` array.
pub(crate) fn rules<'a>(json: &'a Json, chain: &str) -> Vec<&'a Json> {
    objects(json, "rule")
        .into_iter()
        .filter(|r| r["chain"] == chain)
        .map(|r| &r["expr"])
        .collect()
}

/// A map's elements as `(key, value)` JSON pairs, sorted by their text.
pub(crate) fn elements(json: &Json, map: &str) -> Vec<(Json, Json)> {
    let mut elems: Vec<(Json, Json)> = named(json, "map", map)["elem"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|pair| (pair[0].clone(), pair[1].clone()))
                .collect()
        })
        .unwrap_or_default();
    elems.sort_by_key(|(k, v)| format!("{k}{v}"));
    elems
}

/// The JSON nft prints for `ip daddr . meta l4proto . th dport` (after `prefix` fields).
pub(crate) fn concat_json(fields: &[&str]) -> Json {
    let field = |f: &str| match f {
        "daddr" => json!({"payload": {"field": "daddr", "protocol": "ip"}}),
        "saddr" => json!({"payload": {"field": "saddr", "protocol": "ip"}}),
        "l4proto" => json!({"meta": {"key": "l4proto"}}),
        "dport" => json!({"payload": {"field": "dport", "protocol": "th"}}),
        n => {
            json!({"numgen": {"mod": n.parse::<u32>().expect("modulus"), "mode": "random", "offset": 0}})
        }
    };
    json!({"concat": fields.iter().map(|f| field(f)).collect::<Vec<_>>()})
}

/// `dnat ip to KEY map @set`, as nft's JSON.
pub(crate) fn dnat_json(fields: &[&str], set: &str) -> Json {
    json!([{"dnat": {"addr": {"map": {"data": format!("@{set}"), "key": concat_json(fields)}}, "family": "ip"}}])
}
