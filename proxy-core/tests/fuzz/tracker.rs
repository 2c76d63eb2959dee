//! The change tracker over generated event sequences: every delta names exactly what changed,
//! and the state only depends on which objects exist, not on the way there.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use proxy_core::model::NodeInfo;
use proxy_core::tracker::ChangeTracker;
use proxy_core::{Delta, KubeObject, ProxyState};
use testkit::arb::{self, Event, objects::NODE};

/// The identity the tracker keys an object by: kind, namespace, name (as given).
fn key(o: &KubeObject) -> (u8, String, String) {
    let r = o.reference();
    let kind = match o {
        KubeObject::Service(_) => 0,
        KubeObject::EndpointSlice(_) => 1,
        KubeObject::Node(_) => 2,
    };
    (kind, r.namespace, r.name)
}

fn tracker() -> ChangeTracker {
    ChangeTracker::new(NodeInfo::new(NODE))
}

/// Asserts `delta` names exactly the service ports that differ between `prev` and `next`.
fn assert_delta_exact(prev: &ProxyState, next: &ProxyState, delta: &Delta) {
    assert_eq!(delta.node_changed, prev.node != next.node, "node_changed");
    for (name, svc) in &next.services {
        let differs = prev.services.get(name) != Some(svc)
            || prev.endpoints_of(name) != next.endpoints_of(name)
            || delta.node_changed;
        assert_eq!(
            delta.changed.contains(name),
            differs,
            "{name}: changed?\n{delta:#?}"
        );
    }
    for name in &delta.changed {
        assert!(next.services.contains_key(name), "{name} changed but gone");
    }
    for name in prev.services.keys() {
        let gone = !next.services.contains_key(name);
        assert_eq!(
            delta.deleted.contains(name),
            gone,
            "{name}: deleted?\n{delta:#?}"
        );
    }
    let serving =
        |s: &ProxyState| -> BTreeSet<(proxy_core::model::ServicePortName, std::net::SocketAddr)> {
            s.endpoints
                .iter()
                .filter(|(n, _)| n.protocol.is_connectionless())
                .flat_map(|(n, eps)| {
                    eps.iter()
                        .filter(|e| e.serving)
                        .map(move |e| (n.clone(), e.addr()))
                })
                .collect()
        };
    let stale: BTreeSet<_> = delta
        .stale_endpoints
        .iter()
        .map(|s| (s.service_port.clone(), s.addr))
        .collect();
    let (before, after) = (serving(prev), serving(next));
    let want: BTreeSet<_> = before.difference(&after).cloned().collect();
    assert_eq!(stale, want, "stale endpoints");
}

proptest! {
    #![proptest_config(arb::config(128))]

    #[test]
    fn deltas_are_exact_and_state_depends_only_on_what_exists(events in arb::events(40)) {
        let mut t = tracker();
        let mut live: BTreeMap<(u8, String, String), KubeObject> = BTreeMap::new();
        let mut prev = t.state().clone();
        for event in events.into_iter().chain([Event::Sync]) {
            match event {
                Event::Apply(o) => {
                    t.apply(&o);
                    live.insert(key(&o), o);
                }
                Event::Delete(o) => {
                    t.delete(&o);
                    live.remove(&key(&o));
                }
                Event::Reset(objs) => {
                    t.reset(&objs);
                    live = objs.into_iter().map(|o| (key(&o), o)).collect();
                }
                Event::Sync => {
                    let delta = t.take_delta();
                    assert_delta_exact(&prev, t.state(), &delta);
                    prop_assert!(!t.has_pending());
                    prev = t.state().clone();
                }
            }
        }
        let mut fresh = tracker();
        fresh.reset(&live.into_values().collect::<Vec<_>>());
        fresh.take_delta();
        prop_assert_eq!(&fresh.state().services, &t.state().services);
        prop_assert_eq!(&fresh.state().endpoints, &t.state().endpoints);
    }
}
