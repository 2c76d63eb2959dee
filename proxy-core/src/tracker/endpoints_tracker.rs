//! Tracks EndpointSlice changes between syncs: merges every slice of a service into one endpoint
//! list per service port, and finds connectionless endpoints that went stale.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use super::pending::{Pending, PerPort, applied_names};
use crate::convert::SliceInfo;
use crate::model::{Endpoint, ServiceKey, ServicePortName};
use crate::state::{Delta, StaleEndpoint};

/// An EndpointSlice's identity: `(namespace, name)`.
pub(crate) type SliceKey = (String, String);

/// The merged endpoints of one service, per service port (ports with no endpoint are absent).
type Merged = PerPort<Vec<Endpoint>>;

/// The slice cache and the services whose merged endpoints differ from the applied state.
#[derive(Debug, Default)]
pub(crate) struct EndpointsTracker {
    slices: BTreeMap<SliceKey, SliceInfo>,
    by_service: BTreeMap<ServiceKey, BTreeSet<SliceKey>>,
    pending: Pending<Vec<Endpoint>>,
}

impl EndpointsTracker {
    /// Records slice `key` as `info` (`None`: deleted, or no longer usable). A slice whose
    /// service label changed leaves its old service and joins the new one.
    pub(crate) fn update(&mut self, key: SliceKey, info: Option<SliceInfo>, applied: &Merged) {
        let old_service = self.slices.get(&key).map(|s| s.service.clone());
        let new_service = info.as_ref().map(|s| s.service.clone());
        if let Some(svc) = &old_service
            && let Some(set) = self.by_service.get_mut(svc)
        {
            set.remove(&key);
            if set.is_empty() {
                self.by_service.remove(svc);
            }
        }
        match info {
            Some(info) => {
                self.by_service
                    .entry(info.service.clone())
                    .or_default()
                    .insert(key.clone());
                self.slices.insert(key, info);
            }
            None => {
                self.slices.remove(&key);
            }
        }
        for svc in old_service
            .into_iter()
            .chain(new_service)
            .collect::<BTreeSet<_>>()
        {
            self.refresh(svc, applied);
        }
    }

    /// Every slice known, for a relist.
    pub(crate) fn known(&self) -> BTreeSet<SliceKey> {
        self.slices.keys().cloned().collect()
    }

    /// Whether any change is pending.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Re-merges the slices of `svc` and records a pending change unless the result is what is
    /// applied already.
    fn refresh(&mut self, svc: ServiceKey, applied: &Merged) {
        let merged = self.merge(&svc);
        self.pending.record(svc, merged, applied);
    }

    /// Merges the slices of `svc` in name order: an endpoint (IP and port) listed by several
    /// slices counts once, the first listing wins unless a later one is local.
    fn merge(&self, svc: &ServiceKey) -> Merged {
        let mut by_port: BTreeMap<ServicePortName, BTreeMap<SocketAddr, Endpoint>> =
            BTreeMap::new();
        for key in self.by_service.get(svc).into_iter().flatten() {
            let Some(slice) = self.slices.get(key) else {
                continue;
            };
            for (name, endpoints) in &slice.ports {
                let set = by_port.entry(name.clone()).or_default();
                for ep in endpoints {
                    if ep.is_local || !set.contains_key(&ep.addr()) {
                        set.insert(ep.addr(), ep.clone());
                    }
                }
            }
        }
        by_port
            .into_iter()
            .filter(|(_, set)| !set.is_empty())
            .map(|(name, set)| (name, set.into_values().collect()))
            .collect()
    }

    /// Moves the pending changes into `applied`, recording changed ports and stale
    /// connectionless endpoints in `delta`.
    pub(crate) fn apply(&mut self, applied: &mut Merged, delta: &mut Delta) {
        for (svc, merged) in self.pending.take() {
            let names: BTreeSet<ServicePortName> = applied_names(applied, &svc)
                .into_iter()
                .chain(merged.keys().cloned())
                .collect();
            for name in names {
                let before = applied.remove(&name).unwrap_or_default();
                let after = merged.get(&name).cloned().unwrap_or_default();
                if before == after {
                    if !after.is_empty() {
                        applied.insert(name, after);
                    }
                    continue;
                }
                if name.protocol.is_connectionless() {
                    detect_stale(&name, &before, &after, delta);
                }
                delta.changed.insert(name.clone());
                if !after.is_empty() {
                    applied.insert(name, after);
                }
            }
        }
    }
}

/// Records the serving endpoints of `before` that no longer serve in `after`, and whether the
/// port went from no serving endpoint to some.
fn detect_stale(
    name: &ServicePortName,
    before: &[Endpoint],
    after: &[Endpoint],
    delta: &mut Delta,
) {
    let serving_after: BTreeSet<SocketAddr> = after
        .iter()
        .filter(|e| e.serving)
        .map(Endpoint::addr)
        .collect();
    for ep in before.iter().filter(|e| e.serving) {
        if !serving_after.contains(&ep.addr()) {
            delta.stale_endpoints.insert(StaleEndpoint {
                service_port: name.clone(),
                addr: ep.addr(),
            });
        }
    }
    if !before.iter().any(|e| e.serving) && !serving_after.is_empty() {
        delta.newly_active.insert(name.clone());
    }
}
