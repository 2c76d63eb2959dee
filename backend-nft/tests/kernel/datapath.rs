//! Kernel tests of [`NftDatapath`]: real `proxy_core::ProxyState` values synced into a fresh
//! network namespace each, observed with `nft` (list only) in that namespace.
//!
//! * `nft` lists every golden state as svcproxy programs it (`nft list ruleset`, `-j`, `list
//!   tables`, `insert rule` into another table), chain for chain as `render` prints it, also
//!   after a partial sync that adds shared chains and rewrites a dispatch chain;
//! * what a full sync programs is what `render` promised for the same state: the rendered
//!   ruleset is loaded with `nft -f` into a second namespace, and both whole tables are
//!   compared as `nft -j` JSON, normalized (see [`normalize`] and [`normalize_reference`] for
//!   the differences that are only cosmetic or due to how nft parses the text);
//! * a one-endpoint change is a partial sync of a few messages, as many at 100 as at 1000
//!   services;
//! * a full sync repairs a deleted or flushed table (also with a stale shared chain to delete);
//! * cleanup removes our tables, leaves a foreign one alone, and may run again;
//! * a batch the kernel refuses (injected) changes nothing, byte for byte, and the next sync
//!   (forced full) succeeds.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use backend_nft::datapath::{NftConfig, NftDatapath};
use backend_nft::ir::Ruleset;
use backend_nft::owner::TableFlags;
use backend_nft::plan::{self, Config};
use backend_nft::render;
use proxy_core::model::{
    Endpoint, NodeInfo, Protocol, ServicePort, ServicePortName, SessionAffinity, SourceRanges,
    TrafficPolicy,
};
use proxy_core::{Datapath, Delta, ProxyState, SyncMode, SyncReport};
use serde_json::Value as Json;
use testkit::Netns;

const NODE: &str = "node-a";

fn ip(s: &str) -> IpAddr {
    s.parse().expect("an IP address")
}

/// A namespace for one test; `None` (skipped, with a message) when not root.
pub(crate) fn netns(test: &str) -> Option<Netns> {
    if !testkit::root_or_skip(test) {
        return None;
    }
    Some(Netns::new("bnft-dp").expect("namespace"))
}

fn config() -> Config {
    testkit::scenarios::node_config(testkit::scenarios::Setting::DualStack)
}

pub(crate) fn datapath(ns: &Netns, config: Config) -> NftDatapath {
    datapath_with(ns, config, TableFlags::Auto)
}

/// A datapath in `ns` whose tables get `table_flags`.
pub(crate) fn datapath_with(ns: &Netns, config: Config, table_flags: TableFlags) -> NftDatapath {
    NftDatapath::new(NftConfig {
        netns: Some(ns.path().to_path_buf()),
        plan: config,
        table_flags,
    })
    .expect("datapath in the namespace")
}

pub(crate) fn sync(
    dp: &mut NftDatapath,
    state: &ProxyState,
    delta: &Delta,
    mode: SyncMode,
) -> proxy_core::Result<SyncReport> {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
        .block_on(dp.sync(state, delta, mode))
}

pub(crate) fn cleanup(dp: &mut NftDatapath) -> proxy_core::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(dp.cleanup())
}

fn port_name(name: &str, proto: Protocol) -> ServicePortName {
    ServicePortName::new("default", name, "p", proto)
}

/// A state built from model values.
struct State(ProxyState);

impl State {
    fn new() -> Self {
        State(ProxyState {
            node: NodeInfo {
                ips: vec![ip("192.168.50.1"), ip("fd00:50::1")],
                ..NodeInfo::new(NODE)
            },
            ..ProxyState::default()
        })
    }

    fn service(
        mut self,
        name: &str,
        proto: Protocol,
        cluster_ip: &str,
        port: u16,
        f: impl FnOnce(&mut ServicePort),
    ) -> Self {
        let n = port_name(name, proto);
        let mut svc = ServicePort::new(n.clone(), ip(cluster_ip), port);
        f(&mut svc);
        self.0.services.insert(n, svc);
        self
    }

    /// Endpoints `(ip, port, local)`.
    fn endpoints(mut self, name: &str, proto: Protocol, eps: &[(&str, u16, bool)]) -> Self {
        let mut list: Vec<Endpoint> = eps
            .iter()
            .map(|(addr, port, local)| {
                let mut e = Endpoint::new(ip(addr), *port);
                e.is_local = *local;
                e.node_name = Some(if *local { NODE } else { "node-b" }.into());
                e
            })
            .collect();
        list.sort();
        self.0.endpoints.insert(port_name(name, proto), list);
        self
    }
}

/// Every kind of service the planner knows, dual-stack.
fn rich_state() -> ProxyState {
    State::new()
        .service("web", Protocol::Tcp, "10.96.0.10", 80, |s| {
            s.cluster_ips.push(ip("fd00:96::10"));
            s.node_port = Some(30080);
            s.external_ips = vec![ip("192.168.60.10")];
        })
        .endpoints(
            "web",
            Protocol::Tcp,
            &[
                ("10.244.0.2", 8080, true),
                ("10.244.1.3", 8080, false),
                ("10.244.1.4", 8080, false),
                ("fd00:244::2", 8080, true),
            ],
        )
        .service("one", Protocol::Tcp, "10.96.0.11", 81, |_| {})
        .endpoints("one", Protocol::Tcp, &[("10.244.1.5", 9000, false)])
        .service("empty", Protocol::Tcp, "10.96.0.12", 80, |s| {
            s.node_port = Some(30081);
        })
        .service("dns", Protocol::Udp, "10.96.0.53", 53, |_| {})
        .endpoints(
            "dns",
            Protocol::Udp,
            &[("10.244.1.6", 5353, false), ("10.244.0.7", 5353, true)],
        )
        .service("sig", Protocol::Sctp, "10.96.0.20", 3868, |_| {})
        .endpoints("sig", Protocol::Sctp, &[("10.244.1.8", 3868, false)])
        .service("lb", Protocol::Tcp, "10.96.0.30", 443, |s| {
            s.node_port = Some(30443);
            s.load_balancer_ips = vec![ip("203.0.113.10")];
            s.source_ranges = SourceRanges::Only(vec![
                "198.51.100.0/24".parse().expect("cidr"),
                "192.168.50.0/24".parse().expect("cidr"),
            ]);
        })
        .endpoints(
            "lb",
            Protocol::Tcp,
            &[("10.244.1.9", 8443, false), ("10.244.1.10", 8443, false)],
        )
        .service("local", Protocol::Tcp, "10.96.0.40", 80, |s| {
            s.node_port = Some(30040);
            s.load_balancer_ips = vec![ip("203.0.113.11")];
            s.external_traffic_policy = TrafficPolicy::Local;
            s.health_check_node_port = Some(32000);
        })
        .endpoints(
            "local",
            Protocol::Tcp,
            &[("10.244.0.11", 8080, true), ("10.244.1.12", 8080, false)],
        )
        .service("itp", Protocol::Tcp, "10.96.0.41", 80, |s| {
            s.internal_traffic_policy = TrafficPolicy::Local;
        })
        .endpoints("itp", Protocol::Tcp, &[("10.244.1.13", 8080, false)])
        .service("sticky", Protocol::Tcp, "10.96.0.50", 80, |s| {
            s.node_port = Some(30050);
            s.session_affinity = Some(SessionAffinity {
                timeout_seconds: 10_800,
            });
        })
        .endpoints(
            "sticky",
            Protocol::Tcp,
            &[
                ("10.244.1.14", 8080, false),
                ("10.244.1.15", 8080, false),
                ("10.244.1.16", 8080, false),
            ],
        )
        .0
}

/// `n` services of two endpoints each, `svc0` .. `svc{n-1}`.
fn many(n: usize) -> ProxyState {
    let mut s = State::new();
    for i in 0..n {
        let (hi, lo) = (i / 250, i % 250 + 1);
        let name = format!("svc{i}");
        let a = format!("10.244.{hi}.{lo}");
        let b = format!("10.245.{hi}.{lo}");
        s = s
            .service(
                &name,
                Protocol::Tcp,
                &format!("10.96.{hi}.{lo}"),
                80,
                |_| {},
            )
            .endpoints(
                &name,
                Protocol::Tcp,
                &[(&a, 8080, false), (&b, 8080, false)],
            );
    }
    s.0
}

/// `nft ARGS` in `ns`: stdout if it succeeded.
fn nft(ns: &Netns, args: &[&str]) -> Option<Vec<u8>> {
    let out = ns.output("nft", args).expect("run nft");
    out.status.success().then_some(out.stdout)
}

pub(crate) fn nft_json(ns: &Netns, args: &[&str]) -> Option<Json> {
    nft(ns, args).map(|b| serde_json::from_slice(&b).expect("nft prints JSON"))
}

/// `nft -j list table FAMILY svcproxy` inside `ns`, or `None` if there is no such table.
fn list_json(ns: &Netns, family: &str) -> Option<Json> {
    nft_json(ns, &["-j", "list", "table", family, "svcproxy"])
}

/// `nft list table FAMILY svcproxy` inside `ns` (empty if there is no such table).
fn list_text(ns: &Netns, family: &str) -> String {
    nft(ns, &["list", "table", family, "svcproxy"])
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// The objects of one table in `nft -j` output, normalized for comparison:
///
/// * handles and the metainfo header are dropped (they depend on history);
/// * sets: `nft` declares a set whose key has a `numgen` slot with `typeof ... numgen random
///   mod 1` (it keeps the expressions in the set's user data, and lists the slot's type as
///   `integer`); over netlink we send key types only, the slot as `mark` (the same 4-byte
///   host-order integer), so `nft` lists our key as `type ... . mark`. `mark` in our key types
///   is read as `integer`; everything else (types, flags, sizes, timeouts, elements, which
///   print the same) is compared as is;
/// * element lists are sorted (`nft` prints a hash set's elements in hash order).
fn normalize(json: &Json) -> BTreeSet<String> {
    normalize_with(json, false)
}

/// [`normalize`], for the reference table loaded from the rendered text:
///
/// * `nft` 1.0.6, parsing `dnat ip to ... th dport . numgen random mod N map @m`, adds a `meta
///   l4proto tcp` dependency of its own and then prints `tcp dport` (the rendered text and our
///   netlink rule have no protocol match, `nft list` prints our rule as `th dport`), so that
///   dependency is dropped and `tcp dport` read as `th dport` on the reference side;
/// * the dispatch comparisons were loaded as `ct mark set KEY map @m ct mark [!=] ID` (see
///   `nft_compat`: nft cannot parse `KEY map @m [!=] ID`); they are turned back into the
///   comparison nft lists for ours, a map lookup compared with the id, which nft 1.0.6 prints
///   `"0x1000003 [invalid type]"` (it does not give the comparison the map's data type).
fn normalize_reference(json: &Json) -> BTreeSet<String> {
    normalize_with(json, true)
}

/// The dispatch comparison `ct mark set KEY map @m` + `ct mark [!=] ID` (as the reference loads
/// it) as nft lists ours: `KEY map @m [!=] ID` with an untyped id.
fn unspell_dispatch(exprs: &mut Vec<Json>) {
    let ct_mark = serde_json::json!({"ct": {"key": "mark"}});
    let mut i = 0;
    while i + 1 < exprs.len() {
        let map = exprs[i]
            .pointer("/mangle")
            .filter(|m| m["key"] == ct_mark)
            .and_then(|m| m.pointer("/value/map"))
            .cloned();
        let cmp = exprs[i + 1]
            .pointer("/match")
            .filter(|m| m["left"] == ct_mark)
            .cloned();
        if let (Some(map), Some(cmp)) = (map, cmp) {
            let id = match &cmp["right"] {
                Json::Number(n) => n.as_u64().expect("an id"),
                Json::String(s) => {
                    u64::from_str_radix(s.trim_start_matches("0x"), 16).expect("a hex id")
                }
                other => panic!("unexpected ct mark value {other}"),
            };
            exprs[i] = serde_json::json!({"match": {
                "op": cmp["op"],
                "left": {"map": map},
                "right": format!("{id:#x} [invalid type]"),
            }});
            exprs.remove(i + 1);
        }
        i += 1;
    }
}

fn normalize_with(json: &Json, reference: bool) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for obj in json["nftables"].as_array().expect("nftables array") {
        if obj.get("metainfo").is_some() {
            continue;
        }
        let mut obj = obj.clone();
        for kind in ["table", "chain", "rule", "set", "map"] {
            if let Some(o) = obj.get_mut(kind).and_then(Json::as_object_mut) {
                o.remove("handle");
                if kind == "table" {
                    // Ownership flags (`owner`, `persist`) are checked by the owner tests.
                    o.remove("flags");
                }
                let set = kind == "set" || kind == "map";
                if set
                    && !reference
                    && let Some(Json::Array(types)) = o.get_mut("type")
                {
                    for t in types.iter_mut().filter(|t| *t == "mark") {
                        *t = Json::from("integer");
                    }
                }
                if set && let Some(Json::Array(elems)) = o.get_mut("elem") {
                    elems.sort_by_key(|e| e.to_string());
                }
            }
        }
        if reference && let Some(Json::Array(exprs)) = obj.pointer_mut("/rule/expr") {
            unspell_dispatch(exprs);
            let dnat_map = exprs.iter().any(|e| e.pointer("/dnat/addr/map").is_some());
            if dnat_map {
                exprs.retain(|e| {
                    e.pointer("/match/left/meta/key") != Some(&Json::from("l4proto"))
                        || e.pointer("/match/right") != Some(&Json::from("tcp"))
                });
                let text = Json::Array(exprs.clone()).to_string().replace(
                    r#"{"field":"dport","protocol":"tcp"}"#,
                    r#"{"field":"dport","protocol":"th"}"#,
                );
                *exprs = serde_json::from_str::<Vec<Json>>(&text).expect("still JSON");
            }
        }
        out.insert(obj.to_string());
    }
    out
}

/// Loads `text` with `nft -f` into `ns`, with the dispatch spelled so that `nft` parses it
/// (see `nft_compat`).
fn nft_load(ns: &Netns, text: &str) {
    let path = std::env::temp_dir().join(format!(
        "svcproxy-render-{}-{}.nft",
        std::process::id(),
        ns.name()
    ));
    std::fs::write(&path, crate::nft_compat::loadable(text)).expect("write the rendered ruleset");
    let out = ns
        .output("nft", ["-f", path.to_str().expect("utf-8 path")])
        .expect("run nft");
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "nft -f refused the rendered ruleset: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn full_sync_programs_what_render_promised() {
    let Some(ns) = netns("full_sync_programs_what_render_promised") else {
        return;
    };
    let state = rich_state();
    let mut dp = datapath(&ns, config());
    let report = sync(&mut dp, &state, &Delta::default(), SyncMode::Full).expect("full sync");
    assert!(report.messages > 10 && report.bytes > 1000, "{report:?}");

    // The same state, rendered by the planner and loaded by nft itself.
    let tx = plan::full_transaction(&state, &config());
    let text = render::ruleset(&Ruleset::from_transaction(&tx).expect("the plan applies"));
    let reference = Netns::new("bnft-ref").expect("namespace");
    nft_load(&reference, &text);

    // The kernel matches ranges, not just stores them: a source inside a load-balancer source
    // range is found in the concatenated interval set, one outside is not; likewise for the
    // cluster CIDR.
    let get = |set: &str, elem: &str| {
        ns.output(
            "nft",
            [
                "get",
                "element",
                "ip",
                "svcproxy",
                set,
                &format!("{{ {elem} }}"),
            ],
        )
        .expect("run nft")
        .status
        .success()
    };
    assert!(get(
        "firewall-allow",
        "203.0.113.10 . tcp . 443 . 198.51.100.77"
    ));
    assert!(!get(
        "firewall-allow",
        "203.0.113.10 . tcp . 443 . 198.51.101.77"
    ));
    assert!(get("cluster-cidrs", "10.244.200.1"));
    assert!(!get("cluster-cidrs", "10.245.0.1"));

    for family in ["ip", "ip6"] {
        let ours = normalize(&list_json(&ns, family).expect("our table exists"));
        let theirs =
            normalize_reference(&list_json(&reference, family).expect("the reference exists"));
        let missing: Vec<_> = theirs.difference(&ours).collect();
        let extra: Vec<_> = ours.difference(&theirs).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{family}: the kernel differs from the rendered ruleset\nmissing: {missing:#?}\nextra: {extra:#?}\n--- ours:\n{}\n--- rendered:\n{text}",
            list_text(&ns, family)
        );
    }
}

/// The `chain NAME { ... }` blocks of `nft list` output (or of [`render::ruleset`]), by table
/// header (without the owner comment) and chain name, each as its lines. nft 1.0.6 prints a dispatch id compared with a map
/// lookup untyped (`0x1000003 [invalid type]`); it is read as the id render prints
/// (`0x01000003`).
fn chain_blocks(text: &str) -> BTreeMap<(String, String), Vec<String>> {
    let mut out = BTreeMap::new();
    let mut table = String::new();
    let mut chain: Option<(String, Vec<String>)> = None;
    for line in text.lines() {
        if line.starts_with("table ") {
            // An owned table's header names its owner: `table ip svcproxy { # progname X`.
            table = line.split(" # ").next().unwrap_or(line).to_owned();
        } else if let Some(name) = line
            .strip_prefix("\tchain ")
            .and_then(|l| l.strip_suffix(" {"))
        {
            chain = Some((name.to_owned(), Vec::new()));
        } else if line == "\t}" {
            if let Some((name, lines)) = chain.take() {
                out.insert((table.clone(), name), lines);
            }
        } else if let Some((_, lines)) = chain.as_mut() {
            lines.push(typed_ids(line));
        }
    }
    out
}

/// `line` with every `0xN [invalid type]` spelled `0x%08x`.
fn typed_ids(line: &str) -> String {
    const UNTYPED: &str = " [invalid type]";
    let mut out = line.to_owned();
    while let Some(end) = out.find(UNTYPED) {
        let start = out[..end].rfind("0x").expect("an untyped hex value");
        let id = u32::from_str_radix(&out[start + 2..end], 16).expect("a hex id");
        out.replace_range(start..end + UNTYPED.len(), &format!("{id:#010x}"));
    }
    out
}

/// Whether `chain` is an affinity recording chain (`affinity-T`, `nodeport-affinity-T`).
fn is_affinity_record(chain: &str) -> bool {
    let t = chain
        .strip_prefix("nodeport-affinity-")
        .or_else(|| chain.strip_prefix("affinity-"));
    t.is_some_and(|t| t.parse::<u32>().is_ok())
}

/// A rendered rule of an affinity recording chain as nft prints it: nft folds the rule's
/// `meta l4proto P` into the `th dport` it guards (`P dport`), and prints a timeout in units
/// (`10800s` as `3h`). Only the spelling differs.
fn affinity_as_nft_lists(line: &str) -> String {
    let mut out = line.to_owned();
    for proto in ["tcp", "udp", "sctp"] {
        let guard = format!("\t\tmeta l4proto {proto} ");
        if let Some(rest) = out.strip_prefix(&guard) {
            out = format!(
                "\t\t{}",
                rest.replace("th dport", &format!("{proto} dport"))
            );
        }
    }
    if let Some(start) = out.find("timeout ") {
        let num = start + "timeout ".len();
        let end = num + out[num..].find('s').expect("a timeout in seconds");
        let secs: u64 = out[num..end].parse().expect("seconds");
        let mut units = String::new();
        for (n, unit) in [
            (secs / 86_400, "d"),
            (secs % 86_400 / 3_600, "h"),
            (secs % 3_600 / 60, "m"),
            (secs % 60, "s"),
        ] {
            if n > 0 {
                units.push_str(&format!("{n}{unit}"));
            }
        }
        out.replace_range(num..=end, &units);
    }
    out
}

/// `nft ARGS` in `ns` must succeed; returns stdout.
fn nft_ok(ns: &Netns, args: &[&str]) -> String {
    let out = ns.output("nft", args).expect("run nft");
    assert!(
        out.status.success(),
        "nft {} failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What operators and host firewalls do with `nft` works on every golden state as svcproxy
/// programs it over netlink: `nft list ruleset` (text and JSON), `nft list tables`, and `nft
/// insert rule` into another table's chain (which fetches every rule of the ruleset first) —
/// nft 1.0.6 aborted on all of them with the former `KEY map @m vmap @d` dispatch. And nft
/// lists every chain exactly as `render` prints it (ids aside, see [`chain_blocks`]).
#[test]
fn nft_lists_every_golden_state() {
    let Some(ns) = netns("nft_lists_every_golden_state") else {
        return;
    };
    ns.sh("nft add table ip foreign && nft add chain ip foreign input '{ type filter hook input priority 0; policy accept; }' && nft add rule ip foreign input tcp dport 22 accept")
        .expect("a foreign table");
    for (case, state, config) in crate::scenarios::cases() {
        let mut dp = datapath(&ns, config.clone());
        sync(&mut dp, &state, &Delta::default(), SyncMode::Full)
            .unwrap_or_else(|e| panic!("{case}: full sync: {e}"));
        let text = nft_ok(&ns, &["list", "ruleset"]);
        let json: Json = serde_json::from_str(&nft_ok(&ns, &["-j", "list", "ruleset"]))
            .unwrap_or_else(|e| panic!("{case}: nft -j prints JSON: {e}"));
        assert!(
            json["nftables"].as_array().is_some_and(|a| a.len() > 10),
            "{case}: {json}"
        );
        let tables = nft_ok(&ns, &["list", "tables"]);
        assert!(tables.contains("table ip svcproxy"), "{case}: {tables}");
        nft_ok(
            &ns,
            &[
                "insert", "rule", "ip", "foreign", "input", "index", "0", "tcp", "dport", "22",
                "accept",
            ],
        );
        if case == "etp_local" {
            let start = text.find("\tchain services {").expect("services");
            println!("{case}: nft list ruleset (excerpt):\n{}", &text[start..]);
        }

        assert_lists_as_rendered(case, &text, &state, &config);
    }
}

/// Asserts that `listing` (`nft list ruleset`) holds, chain for chain and rule for rule, the
/// chains of our tables that a fresh full sync of `state` renders.
fn assert_lists_as_rendered(context: &str, listing: &str, state: &ProxyState, config: &Config) {
    let rendered = render::ruleset(
        &Ruleset::from_transaction(&plan::full_transaction(state, config))
            .expect("the plan applies"),
    );
    let want = chain_blocks(&rendered);
    let got: BTreeMap<_, _> = chain_blocks(listing)
        .into_iter()
        .filter(|((table, _), _)| table.contains(" svcproxy "))
        .collect();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{context}: the chains nft lists"
    );
    for ((table, chain), lines) in &want {
        let lines: Vec<String> = if is_affinity_record(chain) {
            lines.iter().map(|l| affinity_as_nft_lists(l)).collect()
        } else {
            lines.clone()
        };
        assert_eq!(
            got[&(table.clone(), chain.clone())],
            lines,
            "{context}: {table} {chain} as nft lists it (left) and as render prints it (right)"
        );
    }
}

/// A partial sync that needs new shared chains adds them and rewrites the dispatch chains
/// naming them (in id order) in the same transaction; the result is what a full sync
/// programs. Removing and re-adding the same service afterwards is data only.
#[test]
fn partial_sync_adding_a_shared_chain_rewrites_its_dispatch_chain() {
    let Some(ns) = netns("partial_sync_adding_a_shared_chain_rewrites_its_dispatch_chain") else {
        return;
    };
    let mut dp = datapath(&ns, config());
    let rich = rich_state();
    sync(&mut dp, &rich, &Delta::default(), SyncMode::Full).expect("full sync");
    // Five endpoints: no service had five, so endpoints-5 and external-5 are new.
    let with_five = State(rich.clone())
        .service("five", Protocol::Tcp, "10.96.0.60", 80, |s| {
            s.external_ips = vec![ip("192.168.60.60")];
        })
        .endpoints(
            "five",
            Protocol::Tcp,
            &[
                ("10.244.1.20", 8080, false),
                ("10.244.1.21", 8080, false),
                ("10.244.1.22", 8080, false),
                ("10.244.1.23", 8080, false),
                ("10.244.1.24", 8080, false),
            ],
        )
        .0;
    let five = port_name("five", Protocol::Tcp);
    let delta = Delta {
        changed: [five.clone()].into(),
        ..Delta::default()
    };
    let first = sync(&mut dp, &with_five, &delta, SyncMode::Partial).expect("partial sync");
    let text = nft_ok(&ns, &["list", "ruleset"]);
    assert_lists_as_rendered("after the partial sync", &text, &with_five, &config());
    let dispatch = &chain_blocks(&text)[&(
        "table ip svcproxy {".to_owned(),
        "service-ips-dispatch".to_owned(),
    )];
    assert!(
        dispatch
            .iter()
            .any(|l| l.contains("0x01000005 goto endpoints-5"))
            && dispatch
                .iter()
                .any(|l| l.contains("0x02000005 goto external-5")),
        "{dispatch:#?}"
    );

    let gone = sync(&mut dp, &rich, &delta, SyncMode::Partial).expect("remove it");
    let again = sync(&mut dp, &with_five, &delta, SyncMode::Partial).expect("add it again");
    println!("new shared chains: {first:?}\nremoved: {gone:?}\nadded again: {again:?}");
    assert!(
        again.messages < first.messages && again.bytes < first.bytes,
        "element messages only the second time: {first:?} vs {again:?}"
    );
    let text = nft_ok(&ns, &["list", "ruleset"]);
    assert_lists_as_rendered(
        "after removing and adding again",
        &text,
        &with_five,
        &config(),
    );
}

#[test]
fn one_endpoint_change_sends_only_that_services_messages() {
    let mut seen = Vec::new();
    for n in [100, 1000] {
        let Some(ns) = netns("one_endpoint_change_sends_only_that_services_messages") else {
            return;
        };
        let mut state = many(n);
        let mut dp = datapath(&ns, config());
        let full = sync(&mut dp, &state, &Delta::default(), SyncMode::Full).expect("full sync");
        let delta = move_one_endpoint_of(&mut state, "svc0");
        let partial = sync(&mut dp, &state, &delta, SyncMode::Partial).expect("partial sync");
        println!("{n} services: full {full:?}\n{n} services: one endpoint changed: {partial:?}");
        assert!(
            partial.messages <= 8,
            "a one-endpoint change should be a few element messages: {partial:?}"
        );
        assert!(
            partial.objects_added <= 4 && partial.objects_removed <= 4,
            "{partial:?}"
        );
        let json = list_json(&ns, "ip").expect("table");
        let eps = serde_json::to_string(&json).expect("json");
        assert!(eps.contains("10.246.0.1"), "the new endpoint is programmed");
        assert!(!eps.contains("\"10.244.0.1\""), "the old endpoint is gone");
        seen.push((partial.messages, partial.bytes));
    }
    if let [small, large] = seen[..] {
        assert_eq!(
            small, large,
            "independent of the number of services (100 vs 1000)"
        );
    }
}

/// What kernels before 6.9 get (forced here with [`TableFlags::None`]): our tables are not
/// owned, so `nft` can delete or flush them; a full sync restores them. (With the owner flag
/// `nft` cannot: see the `owner` tests.)
#[test]
fn full_sync_repairs_a_deleted_or_flushed_table() {
    let Some(ns) = netns("full_sync_repairs_a_deleted_or_flushed_table") else {
        return;
    };
    let state = rich_state();
    let mut dp = datapath_with(&ns, config(), TableFlags::None);
    sync(&mut dp, &state, &Delta::default(), SyncMode::Full).expect("full sync");
    let want = (
        normalize(&list_json(&ns, "ip").expect("ip table")),
        normalize(&list_json(&ns, "ip6").expect("ip6 table")),
    );
    let now = |ns: &Netns| {
        (
            normalize(&list_json(ns, "ip").expect("ip table")),
            normalize(&list_json(ns, "ip6").expect("ip6 table")),
        )
    };

    ns.exec_ok("nft", ["delete", "table", "ip", "svcproxy"])
        .expect("delete our table");
    assert!(list_json(&ns, "ip").is_none());
    sync(&mut dp, &state, &Delta::default(), SyncMode::Full).expect("full sync after the delete");
    assert!(now(&ns) == want, "the deleted table is restored");

    ns.exec_ok("nft", ["flush", "table", "ip6", "svcproxy"])
        .expect("flush our table");
    sync(&mut dp, &state, &Delta::default(), SyncMode::Full).expect("full sync after the flush");
    assert!(now(&ns) == want, "the flushed table is restored");

    // Shared chains go stale (no service has 3 endpoints any more): the next full sync
    // flushes them, the one after deletes them, even if the table vanished in between.
    let mut fewer = state.clone();
    for eps in fewer.endpoints.values_mut() {
        eps.truncate(2);
    }
    assert!(list_text(&ns, "ip").contains("chain endpoints-3"));
    sync(&mut dp, &fewer, &Delta::default(), SyncMode::Full).expect("full sync, chain goes stale");
    ns.exec_ok("nft", ["delete", "table", "ip", "svcproxy"])
        .expect("delete our table");
    sync(&mut dp, &fewer, &Delta::default(), SyncMode::Full)
        .expect("full sync that deletes a stale chain of a deleted table");
    let text = list_text(&ns, "ip");
    assert!(!text.contains("chain endpoints-3"), "{text}");
    assert!(text.contains("chain endpoints-2"), "{text}");
}

#[test]
fn cleanup_removes_only_our_tables() {
    let Some(ns) = netns("cleanup_removes_only_our_tables") else {
        return;
    };
    ns.sh("nft add table ip foreign && nft add chain ip foreign input '{ type filter hook input priority 0; policy accept; }' && nft add rule ip foreign input tcp dport 22 accept")
        .expect("a foreign table");
    let foreign = || {
        ns.output("nft", ["list", "table", "ip", "foreign"])
            .expect("run nft")
            .stdout
    };
    let before = foreign();
    let mut dp = datapath(&ns, config());
    cleanup(&mut dp).expect("cleanup with nothing of ours is fine");
    sync(&mut dp, &rich_state(), &Delta::default(), SyncMode::Full).expect("full sync");
    assert!(list_json(&ns, "ip").is_some() && list_json(&ns, "ip6").is_some());

    cleanup(&mut dp).expect("cleanup");
    assert!(list_json(&ns, "ip").is_none(), "ip svcproxy is gone");
    assert!(list_json(&ns, "ip6").is_none(), "ip6 svcproxy is gone");
    assert_eq!(foreign(), before, "the foreign table is untouched");
    cleanup(&mut dp).expect("a second cleanup succeeds");
    assert_eq!(foreign(), before);

    // After a cleanup the datapath rebuilds from scratch, even when asked for a partial sync.
    sync(&mut dp, &rich_state(), &Delta::default(), SyncMode::Partial).expect("sync after cleanup");
    assert!(list_json(&ns, "ip").is_some());
}

#[test]
fn rejected_batch_leaves_the_ruleset_intact() {
    let Some(ns) = netns("rejected_batch_leaves_the_ruleset_intact") else {
        return;
    };
    let mut state = rich_state();
    let mut dp = datapath(&ns, config());
    sync(&mut dp, &state, &Delta::default(), SyncMode::Full).expect("full sync");
    let before = (
        list_json(&ns, "ip").expect("ip"),
        list_json(&ns, "ip6").expect("ip6"),
    );

    // A real change, sent together with an operation the kernel refuses.
    let delta = move_one_endpoint_of(&mut state, "web");
    dp.inject_failure_next_sync();
    let err =
        sync(&mut dp, &state, &delta, SyncMode::Partial).expect_err("the kernel refuses the batch");
    let msg = err.to_string();
    println!("refused: {msg}");
    assert!(msg.contains("ENOENT"), "{msg}");
    assert!(
        msg.contains("svcproxy-injected-missing-chain"),
        "names the refused operation: {msg}"
    );
    let after = (
        list_json(&ns, "ip").expect("ip"),
        list_json(&ns, "ip6").expect("ip6"),
    );
    assert!(before == after, "nothing changed, handles included");

    // The retry is full (whatever is asked) and succeeds.
    let report = sync(&mut dp, &state, &delta, SyncMode::Partial).expect("the retry succeeds");
    assert!(
        report.objects_removed >= 1 && report.messages > 10,
        "a full sync: {report:?}"
    );
    let text = list_text(&ns, "ip");
    assert!(text.contains("10.246.0.1"), "{text}");
}

/// Moves the first endpoint of `name` (tcp) to `10.246.0.1`.
fn move_one_endpoint_of(state: &mut ProxyState, name: &str) -> Delta {
    let name = port_name(name, Protocol::Tcp);
    let eps = state.endpoints.get_mut(&name).expect("endpoints");
    let first = eps
        .iter_mut()
        .find(|e| e.ip.is_ipv4())
        .expect("an IPv4 endpoint");
    first.ip = ip("10.246.0.1");
    eps.sort();
    Delta {
        changed: [name].into(),
        ..Delta::default()
    }
}
