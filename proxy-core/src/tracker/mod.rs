//! Change trackers: record Service, EndpointSlice and Node events between syncs, and on each
//! sync hand out the full state and the delta.
//!
//! Semantics follow upstream kube-proxy's `servicechangetracker.go`, `endpointschangetracker.go`
//! and `endpointslicecache.go`: every event is converted at once (bad input is dropped and
//! reported), compared with what the last sync applied, and kept only if it changes something,
//! so a no-op update, or an add followed by a delete, yields an empty delta.
//!
//! ```
//! use proxy_core::{KubeObject, model::NodeInfo, tracker::ChangeTracker};
//! use k8s_openapi::api::core::v1::Service;
//!
//! let svc: Service = serde_json::from_value(serde_json::json!({
//!     "metadata": {"namespace": "default", "name": "web"},
//!     "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 80}]}
//! })).unwrap();
//! let mut tracker = ChangeTracker::new(NodeInfo::new("node-a"));
//! tracker.apply(&KubeObject::from(svc.clone()));
//! let delta = tracker.take_delta();
//! assert_eq!(delta.changed.len(), 1);
//! // The same object again changes nothing.
//! tracker.apply(&KubeObject::from(svc));
//! assert!(!tracker.has_pending());
//! assert!(tracker.take_delta().is_empty());
//! ```

mod endpoints_tracker;
mod pending;
mod relist;
mod service_tracker;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::convert;
use crate::error::{Error, ObjectKind};
use crate::model::{NodeInfo, ServiceKey};
use crate::object::KubeObject;
use crate::state::{Delta, ProxyState};

use endpoints_tracker::{EndpointsTracker, SliceKey};
use relist::Relists;
use service_tracker::ServiceTracker;

/// The kinds a [`ChangeTracker::reset`] replaces (a file need not hold the Node).
const ALL_KINDS: &[ObjectKind] = &[ObjectKind::Service, ObjectKind::EndpointSlice];

/// Records Service, EndpointSlice and Node events between syncs; on each sync applies them to
/// the state and hands out what changed.
#[derive(Debug)]
pub struct ChangeTracker {
    state: ProxyState,
    services: ServiceTracker,
    endpoints: EndpointsTracker,
    /// The node as the latest Node object describes it, if it differs from the state's.
    pending_node: Option<NodeInfo>,
    /// The relists in progress.
    relists: Relists,
    /// Addresses given by configuration; they win over the Node object's.
    configured_ips: bool,
}

impl ChangeTracker {
    /// A tracker for the node `node`: its name marks local endpoints; its IPs, when given,
    /// override the addresses of the Node object.
    pub fn new(node: NodeInfo) -> Self {
        ChangeTracker {
            configured_ips: !node.ips.is_empty(),
            state: ProxyState {
                node,
                ..ProxyState::default()
            },
            services: ServiceTracker::default(),
            endpoints: EndpointsTracker::default(),
            pending_node: None,
            relists: Relists::default(),
        }
    }

    /// Records an added or updated object. Returns what conversion dropped (also logged).
    pub fn apply(&mut self, obj: &KubeObject) -> Vec<Error> {
        let warnings = match obj {
            KubeObject::Service(svc) => {
                let conv = convert::service(svc);
                let key = service_key(&svc.metadata);
                self.relists.saw_service(&key);
                self.services.update(key, conv.value, &self.state.services);
                conv.warnings
            }
            KubeObject::EndpointSlice(slice) => {
                let conv = convert::endpoint_slice(slice, &self.state.node.name);
                let key = slice_key(&slice.metadata);
                self.relists.saw_slice(&key);
                self.endpoints
                    .update(key, conv.value, &self.state.endpoints);
                conv.warnings
            }
            KubeObject::Node(node) => {
                if node.metadata.name.as_deref() == Some(self.state.node.name.as_str()) {
                    self.relists.saw_node();
                }
                let conv = convert::node(node);
                if let Some(info) = conv.value {
                    self.update_node(info);
                }
                conv.warnings
            }
        };
        for w in &warnings {
            log_warning(obj, w);
        }
        warnings
    }

    /// Records a deleted object. Deleting our own Node keeps what was known of it (addresses,
    /// labels: the rules stay as they are) and marks it [`NodeInfo::deleting`].
    pub fn delete(&mut self, obj: &KubeObject) {
        match obj {
            KubeObject::Service(svc) => {
                self.services
                    .update(service_key(&svc.metadata), Vec::new(), &self.state.services);
            }
            KubeObject::EndpointSlice(slice) => {
                self.endpoints
                    .update(slice_key(&slice.metadata), None, &self.state.endpoints);
            }
            KubeObject::Node(node) => {
                if node.metadata.name.as_deref() == Some(self.state.node.name.as_str()) {
                    self.node_gone("deleted from the API server");
                }
            }
        }
    }

    /// Replaces everything with `objs` (a relist of every kind, or a re-read file): services
    /// and slices not in `objs` are deleted. Returns what conversion dropped.
    pub fn reset(&mut self, objs: &[KubeObject]) -> Vec<Error> {
        ALL_KINDS.iter().for_each(|&kind| self.begin_relist(kind));
        let warnings = objs.iter().flat_map(|o| self.apply(o)).collect();
        ALL_KINDS.iter().for_each(|&kind| self.end_relist(kind));
        warnings
    }

    /// [`ChangeTracker::reset`], freeing each object once converted, so a relist of a large
    /// cluster is not held twice (as objects and as state).
    pub fn reset_owned(&mut self, objs: Vec<KubeObject>) -> Vec<Error> {
        ALL_KINDS.iter().for_each(|&kind| self.begin_relist(kind));
        let warnings = objs.into_iter().flat_map(|o| self.apply(&o)).collect();
        ALL_KINDS.iter().for_each(|&kind| self.end_relist(kind));
        warnings
    }

    /// Replaces every object of `kind` with `objs` (a relist of that kind alone; objects of
    /// other kinds in `objs` are ignored): those not listed are deleted, the others of other
    /// kinds are untouched.
    pub fn resync(&mut self, kind: ObjectKind, objs: Vec<KubeObject>) -> Vec<Error> {
        self.begin_relist(kind);
        let warnings = objs
            .into_iter()
            .filter(|o| o.kind() == kind)
            .flat_map(|o| self.apply(&o))
            .collect();
        self.end_relist(kind);
        warnings
    }

    /// Starts a relist of `kind`, streamed: the objects listed follow as
    /// [`ChangeTracker::apply`]s (updates from the watch may interleave), then
    /// [`ChangeTracker::end_relist`] deletes those of that kind not applied since. Nothing is
    /// deleted before the end, so an interrupted relist loses nothing.
    pub fn begin_relist(&mut self, kind: ObjectKind) {
        self.relists.begin(kind);
    }

    /// Ends the relist of `kind`: objects of that kind not applied since it began are deleted.
    /// A Node list without this node keeps what was known of it. Without a relist in progress,
    /// nothing happens.
    pub fn end_relist(&mut self, kind: ObjectKind) {
        match kind {
            ObjectKind::Service => {
                let Some(seen) = self.relists.services.take() else {
                    return;
                };
                for key in self.services.known(&self.state.services) {
                    if !seen.contains(&key) {
                        self.services.update(key, Vec::new(), &self.state.services);
                    }
                }
            }
            ObjectKind::EndpointSlice => {
                let Some(seen) = self.relists.slices.take() else {
                    return;
                };
                for key in self.endpoints.known() {
                    if !seen.contains(&key) {
                        self.endpoints.update(key, None, &self.state.endpoints);
                    }
                }
            }
            ObjectKind::Node => {
                if self.relists.node.take() == Some(false) {
                    self.node_gone("not in the list (deleted?)");
                }
            }
        }
    }

    /// Whether events are waiting to be applied.
    pub fn has_pending(&self) -> bool {
        self.services.has_pending() || self.endpoints.has_pending() || self.pending_node.is_some()
    }

    /// Applies the recorded events to the state and returns what changed. Only service ports
    /// that exist after the change are listed as changed; when the node changed, every service
    /// port is (topology may route each one differently).
    pub fn take_delta(&mut self) -> Delta {
        let mut delta = Delta::default();
        self.services.apply(&mut self.state.services, &mut delta);
        self.endpoints.apply(&mut self.state.endpoints, &mut delta);
        if let Some(node) = self.pending_node.take() {
            self.state.node = node;
            delta.node_changed = true;
            delta.changed.extend(self.state.services.keys().cloned());
        }
        let services = &self.state.services;
        delta.changed.retain(|name| services.contains_key(name));
        delta
    }

    /// The state as of the last [`ChangeTracker::take_delta`].
    pub fn state(&self) -> &ProxyState {
        &self.state
    }

    /// Records the Node object's view of our node, if it is ours.
    fn update_node(&mut self, mut info: NodeInfo) {
        if info.name != self.state.node.name {
            return;
        }
        if self.configured_ips {
            info.ips = self.state.node.ips.clone();
        }
        if info.deleting && !self.node().deleting {
            tracing::warn!(node = %info.name, "this node's Node object is being deleted: the rules stay as they are");
        }
        self.pending_node = (info != self.state.node).then_some(info);
    }

    /// Marks our Node as gone from the API server, keeping what was known of it.
    fn node_gone(&mut self, how: &str) {
        let mut info = self.node().clone();
        if !info.deleting {
            tracing::warn!(node = %info.name, how, "this node's Node object is gone: keeping what was known of it and the rules");
        }
        info.deleting = true;
        self.pending_node = (info != self.state.node).then_some(info);
    }

    /// The node as the latest events describe it (pending or applied).
    fn node(&self) -> &NodeInfo {
        self.pending_node.as_ref().unwrap_or(&self.state.node)
    }
}

/// Logs one conversion drop with the object and, when known, the field as structured fields.
fn log_warning(obj: &KubeObject, err: &Error) {
    match err {
        Error::Invalid { field, .. } => {
            tracing::warn!(object = %obj.reference(), field = %field, error = %err, "dropped invalid input");
        }
        _ => tracing::warn!(object = %obj.reference(), error = %err, "dropped invalid input"),
    }
}

/// The service key of a Service's metadata (empty strings when absent: such objects convert to
/// nothing).
fn service_key(meta: &ObjectMeta) -> ServiceKey {
    ServiceKey::new(
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

/// The slice key of an EndpointSlice's metadata.
fn slice_key(meta: &ObjectMeta) -> SliceKey {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}
