//! Generators for property tests and fuzz targets (feature `proptest`).
//!
//! - [`objects`]: Services, EndpointSlices and Nodes as JSON values, valid and malformed, from
//!   small pools so they refer to and collide with each other;
//! - [`text`]: manifests (YAML streams, JSON, `List`s) and mutations of them (truncated, nested,
//!   garbage, alias bombs);
//! - [`Event`] sequences for change trackers, and [`tracker::check_events`], what a tracker must
//!   do with any of them;
//! - [`Setup`]s: node configurations the backends' planners are run with.
//!
//! [`config`] gives a proptest configuration whose case count the `PROPTEST_CASES` environment
//! variable overrides, for long runs. [`value_from_bytes`] draws a value from any strategy with
//! bytes as the random source, so fuzz targets reuse these generators.

pub mod objects;
pub mod text;
pub mod tracker;

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use proxy_core::KubeObject;
use serde_json::Value;

/// A proptest configuration running `default_cases` cases, or `PROPTEST_CASES` when set.
pub fn config(default_cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    Config {
        cases,
        ..Config::default()
    }
}

/// The object a JSON value stands for, when it is a Service, EndpointSlice or Node whose fields
/// have the right types (the generators only make such values).
pub fn typed(value: &Value) -> Option<KubeObject> {
    match value.get("kind").and_then(Value::as_str)? {
        "Service" => serde_json::from_value::<Service>(value.clone())
            .ok()
            .map(KubeObject::from),
        "EndpointSlice" => serde_json::from_value::<EndpointSlice>(value.clone())
            .ok()
            .map(KubeObject::from),
        "Node" => serde_json::from_value::<Node>(value.clone())
            .ok()
            .map(KubeObject::from),
        _ => None,
    }
}

/// A Service, EndpointSlice or Node.
pub fn kube_object() -> impl Strategy<Value = KubeObject> {
    objects::object_value().prop_map(|v| typed(&v).expect("generated objects are well typed"))
}

/// An event a change tracker receives.
#[derive(Clone, Debug)]
pub enum Event {
    /// An object added or updated.
    Apply(KubeObject),
    /// An object deleted.
    Delete(KubeObject),
    /// A relist: exactly these objects exist.
    Reset(Vec<KubeObject>),
    /// A sync: the tracker's delta is taken.
    Sync,
}

/// A sequence of up to `max` tracker events over two versions of a small cluster
/// ([`objects::cluster`]) and a few unrelated objects: adds, updates (the other version of an
/// object), deletes, relists and syncs, often starting with a relist of the first version.
pub fn events(max: usize) -> impl Strategy<Value = Vec<Event>> {
    let typed_all = |values: Vec<Value>| -> Vec<KubeObject> {
        values
            .iter()
            .map(|v| typed(v).expect("generated objects are well typed"))
            .collect()
    };
    (
        objects::cluster(),
        objects::cluster(),
        vec(objects::object_value(), 0..3),
        proptest::bool::ANY,
    )
        .prop_flat_map(move |(a, b, stray, relist_first)| {
            let first = typed_all(a.clone());
            let pool: Vec<KubeObject> = typed_all(a.into_iter().chain(b).chain(stray).collect());
            let n = pool.len();
            let index = 0..n;
            let event = prop_oneof![
                8 => index.clone().prop_map(Some).prop_map(|i| (0u8, i, Vec::new())),
                2 => index.clone().prop_map(Some).prop_map(|i| (1u8, i, Vec::new())),
                1 => vec(index, 0..n).prop_map(|v| (2u8, None, v)),
                3 => Just((3u8, None, Vec::new())),
            ];
            vec(event, 0..max).prop_map(move |picks| {
                let start = relist_first.then(|| Event::Reset(first.clone()));
                let rest = picks.into_iter().map(|(kind, i, many)| {
                    let get = |i: usize| pool[i].clone();
                    match (kind, i) {
                        (0, Some(i)) => Event::Apply(get(i)),
                        (1, Some(i)) => Event::Delete(get(i)),
                        (2, _) => Event::Reset(many.into_iter().map(get).collect()),
                        _ => Event::Sync,
                    }
                });
                start.into_iter().chain(rest).collect::<Vec<_>>()
            })
        })
}

/// A node configuration a planner runs with (each backend maps it to its own `Config`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setup {
    /// The node's IPs (they select the families).
    pub node_ips: Vec<std::net::IpAddr>,
    /// Pod CIDRs.
    pub cluster_cidrs: Vec<ipnet::IpNet>,
    /// Service CIDRs.
    pub service_cidrs: Vec<ipnet::IpNet>,
    /// Node ports on local addresses in these CIDRs, or on the primary IP (`None`).
    pub nodeport_cidrs: Option<Vec<ipnet::IpNet>>,
    /// Masquerade all service traffic.
    pub masquerade_all: bool,
}

/// One of [`setups`].
pub fn setup() -> impl Strategy<Value = Setup> {
    proptest::sample::select(setups())
}

/// Configurations of the generated clusters' node (`192.168.50.1`, `fd00:50::1`): single and
/// dual stack, node ports on all addresses, masquerade-all, no CIDRs, two pod CIDRs.
pub fn setups() -> Vec<Setup> {
    let net = |s: &str| s.parse::<ipnet::IpNet>().expect("a CIDR");
    let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("an IP");
    let base = Setup {
        node_ips: vec![ip("192.168.50.1")],
        cluster_cidrs: vec![net("10.244.0.0/16")],
        service_cidrs: vec![net("10.96.0.0/16")],
        nodeport_cidrs: None,
        masquerade_all: false,
    };
    let dual = Setup {
        node_ips: vec![ip("192.168.50.1"), ip("fd00:50::1")],
        cluster_cidrs: vec![net("10.244.0.0/16"), net("fd00:244::/64")],
        service_cidrs: vec![net("10.96.0.0/16"), net("fd00:96::/112")],
        ..base.clone()
    };
    vec![
        base.clone(),
        dual.clone(),
        Setup {
            nodeport_cidrs: Some(vec![net("0.0.0.0/0"), net("::/0")]),
            ..dual
        },
        Setup {
            masquerade_all: true,
            ..base.clone()
        },
        Setup {
            cluster_cidrs: Vec::new(),
            service_cidrs: Vec::new(),
            ..base.clone()
        },
        Setup {
            cluster_cidrs: vec![net("10.244.0.0/24"), net("10.244.1.0/24")],
            nodeport_cidrs: Some(vec![net("192.168.0.0/16"), net("127.0.0.0/8")]),
            ..base
        },
    ]
}

/// The value `strategy` draws with `bytes` as its random numbers (zeros once they run out): a
/// fuzzer's input becomes a generated value, and its mutations become structural ones.
pub fn value_from_bytes<S: Strategy>(strategy: &S, bytes: &[u8]) -> Option<S::Value> {
    let rng = TestRng::from_seed(RngAlgorithm::PassThrough, bytes);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    strategy.new_tree(&mut runner).ok().map(|t| t.current())
}
