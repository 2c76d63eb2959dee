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
//! variable overrides, for long runs. [`value_from_seed`] draws a value from any strategy with a
//! seeded generator, and [`pool`] / [`assemble`] split [`events`] so that fuzz targets choose
//! the event sequence from their input (with `arbitrary`) over generated objects.

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

/// The objects events pick from: two versions of a small cluster ([`objects::cluster`]) and a
/// few unrelated objects. Returns the first version alone, and everything.
pub fn pool() -> impl Strategy<Value = (Vec<KubeObject>, Vec<KubeObject>)> {
    (
        objects::cluster(),
        objects::cluster(),
        vec(objects::object_value(), 0..3),
    )
        .prop_map(|(a, b, stray)| {
            let typed_all =
                |values: &[Value]| -> Vec<KubeObject> { values.iter().filter_map(typed).collect() };
            (typed_all(&a), typed_all(&[a, b, stray].concat()))
        })
}

/// One event, as picked from a pool: a kind (0-7 apply, 8-9 delete, 10 relist, anything else
/// sync), the object applied or deleted, the objects of a relist (indices modulo the pool).
pub type Pick = (u8, usize, Vec<usize>);

/// The events `picks` make of a `pool` (from [`pool`]), after a relist of `first` if asked.
pub fn assemble(
    first: &[KubeObject],
    pool: &[KubeObject],
    relist_first: bool,
    picks: &[Pick],
) -> Vec<Event> {
    if pool.is_empty() {
        return Vec::new();
    }
    let get = |i: &usize| pool[i % pool.len()].clone();
    let start = relist_first.then(|| Event::Reset(first.to_vec()));
    let rest = picks.iter().map(|(kind, one, many)| match kind {
        0..=7 => Event::Apply(get(one)),
        8 | 9 => Event::Delete(get(one)),
        10 => Event::Reset(many.iter().map(get).collect()),
        _ => Event::Sync,
    });
    start.into_iter().chain(rest).collect()
}

/// A sequence of up to `max` tracker events over a [`pool`]: adds, updates (the other version
/// of an object), deletes, relists and syncs, often starting with a relist of the first
/// version.
pub fn events(max: usize) -> impl Strategy<Value = Vec<Event>> {
    let pick = (0..14u8, any::<usize>(), vec(any::<usize>(), 0..8));
    (pool(), proptest::bool::ANY, vec(pick, 0..max)).prop_map(
        |((first, pool), relist_first, picks)| assemble(&first, &pool, relist_first, &picks),
    )
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

impl Setup {
    /// The node configuration both planners take for this setup.
    pub fn node_config(&self) -> proxy_core::policy::NodeConfig {
        use proxy_core::policy::NodePortAddresses;
        proxy_core::policy::NodeConfig {
            node_ips: self.node_ips.clone(),
            cluster_cidrs: self.cluster_cidrs.clone(),
            service_cidrs: self.service_cidrs.clone(),
            nodeport_addresses: match &self.nodeport_cidrs {
                None => NodePortAddresses::Primary,
                Some(nets) => NodePortAddresses::Cidrs(nets.clone()),
            },
            masquerade_all: self.masquerade_all,
            ..Default::default()
        }
    }
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

/// The value `strategy` draws from a generator seeded with `seed`: a fuzz target turns part of
/// its input into generated values. (Proptest's pass-through generator, which would read the
/// input bytes as the random numbers, splits its bytes in half at every `prop_oneof` and then
/// yields zeros, which `rand`'s range sampling rejects forever.)
pub fn value_from_seed<S: Strategy>(strategy: &S, seed: u64) -> Option<S::Value> {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..].copy_from_slice(&(!seed).rotate_left(17).to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::XorShift, &bytes);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    strategy.new_tree(&mut runner).ok().map(|t| t.current())
}
