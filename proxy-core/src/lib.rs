//! svcproxy's backend-neutral core: the model of services and endpoints, conversion from
//! Kubernetes objects, change trackers, endpoint selection, the [`Datapath`] trait and the sync
//! runner.
//!
//! Data flows one way:
//!
//! ```text
//! source (file, API) --SourceEvent--> ChangeTracker --(ProxyState, Delta)--> SyncRunner
//!     --> Datapath::sync --> kernel
//! ```
//!
//! - [`manifest::parse`] reads Services, EndpointSlices and Nodes from YAML or JSON text.
//! - [`convert`] turns them into the [`model`], dropping bad input at the smallest level and
//!   reporting each drop as an [`Error::Invalid`] naming the object and the field.
//! - [`tracker::ChangeTracker`] records events between syncs and hands out the full
//!   [`ProxyState`] and the [`Delta`] (changed and deleted service ports, stale UDP/SCTP
//!   endpoints).
//! - [`topology::categorize`] picks, per service port, the endpoints for cluster traffic and
//!   for local-policy traffic, as kube-proxy does.
//! - [`policy`] holds what both backends decide alike: the node configuration per family
//!   ([`NodeConfig`]) and each service port's endpoint policy per family ([`PortPolicy`]).
//! - [`runner::SyncRunner`] calls a [`Datapath`] at a bounded frequency, with periodic full
//!   resyncs and retries.
//!
//! # Writing a backend
//!
//! A backend implements [`Datapath`]: make the kernel (or anything else) match the state. With
//! [`SyncMode::Partial`] it may touch only the service ports the delta names; with
//! [`SyncMode::Full`] it rebuilds everything. This one keeps a map of service port to chosen
//! endpoints and is driven by the runner from an in-memory list of objects:
//!
//! ```
//! use std::collections::BTreeMap;
//! use async_trait::async_trait;
//! use proxy_core::model::{NodeInfo, ServicePortName};
//! use proxy_core::runner::{RunnerConfig, SourceEvent, SyncRunner};
//! use proxy_core::tracker::ChangeTracker;
//! use proxy_core::{Datapath, Delta, ProxyState, Result, SyncMode, SyncReport, manifest, topology};
//!
//! /// Remembers which endpoints each service port's cluster traffic goes to.
//! #[derive(Default)]
//! struct MapBackend {
//!     routes: BTreeMap<ServicePortName, Vec<std::net::SocketAddr>>,
//! }
//!
//! #[async_trait]
//! impl Datapath for MapBackend {
//!     fn name(&self) -> &str {
//!         "map"
//!     }
//!
//!     async fn sync(&mut self, state: &ProxyState, delta: &Delta, mode: SyncMode) -> Result<SyncReport> {
//!         let todo: Vec<ServicePortName> = match mode {
//!             SyncMode::Full => {
//!                 self.routes.clear();
//!                 state.services.keys().cloned().collect()
//!             }
//!             SyncMode::Partial => {
//!                 for gone in &delta.deleted {
//!                     self.routes.remove(gone);
//!                 }
//!                 delta.changed.iter().cloned().collect()
//!             }
//!         };
//!         for name in &todo {
//!             let svc = &state.services[name];
//!             let sets = topology::categorize(state.endpoints_of(name), svc, &state.node);
//!             let eps = sets.cluster.unwrap_or_default().iter().map(|e| e.addr()).collect();
//!             self.routes.insert(name.clone(), eps);
//!         }
//!         Ok(SyncReport { objects_added: todo.len(), ..SyncReport::default() })
//!     }
//!
//!     async fn cleanup(&mut self) -> Result<()> {
//!         self.routes.clear();
//!         Ok(())
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let (objects, _warnings) = manifest::parse(r#"
//! apiVersion: v1
//! kind: Service
//! metadata: {namespace: default, name: web}
//! spec: {clusterIP: 10.96.0.10, ports: [{name: http, port: 80}]}
//! ---
//! apiVersion: discovery.k8s.io/v1
//! kind: EndpointSlice
//! metadata: {namespace: default, name: web-1, labels: {kubernetes.io/service-name: web}}
//! addressType: IPv4
//! ports: [{name: http, port: 8080}]
//! endpoints: [{addresses: [10.244.0.5]}]
//! "#);
//! let tracker = ChangeTracker::new(NodeInfo::new("node-a"));
//! let runner = SyncRunner::new(MapBackend::default(), tracker, RunnerConfig::default());
//! let (tx, rx) = tokio::sync::mpsc::channel(1);
//! tx.send(SourceEvent::Reset(objects)).await.unwrap();
//! drop(tx); // the runner syncs what it has, then returns the backend
//! let backend = runner.run(rx, std::future::pending()).await;
//! let web = ServicePortName::new("default", "web", "http", proxy_core::model::Protocol::Tcp);
//! assert_eq!(backend.routes[&web], vec!["10.244.0.5:8080".parse().unwrap()]);
//! # });
//! ```
//!
//! `FakeDatapath` records every call instead, for tests of the layers above; the example
//! `examples/custom_backend.rs` prints a table on every sync.
//!
//! This crate leaves the choice of Kubernetes API version to the final artifact, as
//! `k8s-openapi` asks of libraries: enable one `k8s-openapi` version feature (e.g. `latest`) in
//! your binary.

pub mod convert;
pub mod datapath;
pub mod error;
pub mod fake;
pub mod manifest;
pub mod model;
pub mod object;
pub mod policy;
pub mod runner;
pub mod state;
pub mod topology;
pub mod tracker;

pub use datapath::{Datapath, SyncMode, SyncReport};
pub use error::{Dropped, Error, ObjectKind, ObjectRef, Result, Severity};
pub use fake::FakeDatapath;
pub use object::KubeObject;
pub use policy::{FamilyView, NoEndpoints, NodeConfig, NodePortAddresses, NodePorts, PortPolicy};
pub use state::{Delta, ProxyState, StaleEndpoint};
