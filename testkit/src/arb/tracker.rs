//! What a change tracker must do with any sequence of [`Event`]s, as one check shared by the
//! property tests and the fuzz targets: every delta names exactly what changed between two
//! syncs, and the final state only depends on which objects exist, not on the way there.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use proxy_core::model::{NodeInfo, ServicePortName};
use proxy_core::tracker::ChangeTracker;
use proxy_core::{Delta, KubeObject, ProxyState};

use super::Event;
use super::objects::NODE;

impl Event {
    /// Gives the event to `tracker`; `true` for [`Event::Sync`], whose delta is the caller's
    /// to take.
    pub fn feed(&self, tracker: &mut ChangeTracker) -> bool {
        match self {
            Event::Apply(o) => drop(tracker.apply(o)),
            Event::Delete(o) => tracker.delete(o),
            Event::Reset(objs) => drop(tracker.reset(objs)),
            Event::Sync => return true,
        }
        false
    }
}

/// The identity a tracker keys an object by: kind, namespace, name (as given).
fn key(o: &KubeObject) -> (u8, String, String) {
    let r = o.reference();
    let kind = match o {
        KubeObject::Service(_) => 0,
        KubeObject::EndpointSlice(_) => 1,
        KubeObject::Node(_) => 2,
    };
    (kind, r.namespace, r.name)
}

/// Runs `events` (and a final sync) through a tracker for node [`NODE`], checking each delta
/// and the final state; the first violation is the error.
pub fn check_events(events: &[Event]) -> Result<(), String> {
    let mut t = ChangeTracker::new(NodeInfo::new(NODE));
    let mut live: BTreeMap<(u8, String, String), KubeObject> = BTreeMap::new();
    let mut prev = t.state().clone();
    for (i, event) in events.iter().chain([&Event::Sync]).enumerate() {
        match event {
            Event::Apply(o) => drop(live.insert(key(o), o.clone())),
            Event::Delete(o) => drop(live.remove(&key(o))),
            Event::Reset(objs) => live = objs.iter().map(|o| (key(o), o.clone())).collect(),
            Event::Sync => {}
        }
        if event.feed(&mut t) {
            let delta = t.take_delta();
            delta_exact(&prev, t.state(), &delta).map_err(|e| format!("event {i}: {e}"))?;
            if t.has_pending() {
                return Err(format!("event {i}: changes pending right after a sync"));
            }
            prev = t.state().clone();
        }
    }
    let mut fresh = ChangeTracker::new(NodeInfo::new(NODE));
    fresh.reset(&live.into_values().collect::<Vec<_>>());
    fresh.take_delta();
    if fresh.state().services != t.state().services
        || fresh.state().endpoints != t.state().endpoints
    {
        return Err(format!(
            "the state differs from a relist of the objects that exist:\nrelist: {:#?}\nevents: {:#?}",
            fresh.state(),
            t.state()
        ));
    }
    Ok(())
}

/// Whether `delta` names exactly the service ports that differ between `prev` and `next`.
fn delta_exact(prev: &ProxyState, next: &ProxyState, delta: &Delta) -> Result<(), String> {
    let fail = |what: String| Err(format!("{what}\n{delta:#?}"));
    if delta.node_changed != (prev.node != next.node) {
        return fail("node_changed is wrong".into());
    }
    for (name, svc) in &next.services {
        let differs = prev.services.get(name) != Some(svc)
            || prev.endpoints_of(name) != next.endpoints_of(name)
            || delta.node_changed;
        if delta.changed.contains(name) != differs {
            return fail(format!(
                "{name}: changed is {}, should be {differs}",
                !differs
            ));
        }
    }
    if let Some(name) = delta
        .changed
        .iter()
        .find(|n| !next.services.contains_key(*n))
    {
        return fail(format!("{name} is changed but does not exist"));
    }
    for name in prev.services.keys() {
        let gone = !next.services.contains_key(name);
        if delta.deleted.contains(name) != gone {
            return fail(format!("{name}: deleted is {}, should be {gone}", !gone));
        }
    }
    let stale: BTreeSet<(ServicePortName, SocketAddr)> = delta
        .stale_endpoints
        .iter()
        .map(|s| (s.service_port.clone(), s.addr))
        .collect();
    let (before, after) = (serving(prev), serving(next));
    if stale != before.difference(&after).cloned().collect() {
        return fail("stale endpoints are not those that stopped serving".into());
    }
    Ok(())
}

/// The serving endpoints of connectionless service ports.
fn serving(s: &ProxyState) -> BTreeSet<(ServicePortName, SocketAddr)> {
    s.endpoints
        .iter()
        .filter(|(n, _)| n.protocol.is_connectionless())
        .flat_map(|(n, eps)| {
            eps.iter()
                .filter(|e| e.serving)
                .map(move |e| (n.clone(), e.addr()))
        })
        .collect()
}
