//! A fake Kubernetes API server for tests of the kube source: real HTTP/1.1 on plain TCP,
//! speaking the JSON wire protocol kube-rs (and kubectl) use, for Services, EndpointSlices
//! and Nodes — with the failure modes a proxy must survive on demand.
//!
//! ```no_run
//! use k8s_openapi::api::core::v1::Service;
//! use testkit::fake_api::FakeApi;
//!
//! # fn main() -> testkit::Result<()> {
//! let api = FakeApi::start()?; // http://127.0.0.1:<free port>
//! let mut svc = Service::default();
//! svc.metadata.name = Some("web".into());
//! svc.metadata.namespace = Some("shop".into());
//! api.apply(&svc)?;
//! // Client side: kube::Client::try_from(kube::Config::new(api.url().parse()?))
//! # Ok(())
//! # }
//! ```
//!
//! # What it implements
//!
//! - **Resources**: `v1` services (`/api/v1/services`, `/api/v1/namespaces/{ns}/services`,
//!   `.../services/{name}`), `discovery.k8s.io/v1` endpointslices (the same shapes under
//!   `/apis/discovery.k8s.io/v1`), `v1` nodes (`/api/v1/nodes`, `/api/v1/nodes/{name}`), and
//!   the discovery documents `/version`, `/api`, `/apis`, `/api/v1`,
//!   `/apis/discovery.k8s.io[/v1]`. Only GET: objects are changed through [`FakeApi`]
//!   (`create`/`update`/`apply`/`apply_json`/`delete`), which takes k8s-openapi types.
//! - **Store**: one global resourceVersion counter; every change takes the next one, sets
//!   `metadata.resourceVersion` (and a `uid` kept across updates) and is logged with the
//!   object before and after it. [`FakeApi::compact`] forgets the log up to a version.
//! - **List**: `labelSelector` (`=`, `==`, `!=`, `in`, `notin`, exists, `!` not exists),
//!   `fieldSelector` (`metadata.name`, `metadata.namespace` and a few per-kind fields, `=`,
//!   `==`, `!=`; others 400 as on the real server), `limit` + `continue` pagination over a
//!   consistent snapshot (the first page's version; 410 Expired once compacted past it),
//!   `resourceVersion` unset (latest), `"0"` (any: served latest), `N` with
//!   `resourceVersionMatch` unset or `NotOlderThan` (latest, 504 if N is in the future) or
//!   `Exact` (the snapshot at N, 410 if compacted). Lists are `ServiceList`,
//!   `EndpointSliceList`, `NodeList` with `metadata.resourceVersion` (and `continue`), items
//!   without `kind`/`apiVersion`, as the real server writes them. Errors are `v1` Status
//!   bodies with the real codes and reasons.
//! - **Watch** (`watch=true|1`, also on a single object's path): chunked JSON lines
//!   `{"type":…,"object":…}`, replay from the log after `resourceVersion`, synthetic `ADDED`
//!   for `""`/`"0"`, selectors applied before and after each change (stops matching →
//!   `DELETED`), `BOOKMARK` every [`Options::bookmark_interval`] with `allowWatchBookmarks`,
//!   `timeoutSeconds` (a clean end of the body), 410 Expired as an `ERROR` event (also when
//!   the log is compacted past a running watch), and streaming lists
//!   (`sendInitialEvents=true` + `resourceVersionMatch=NotOlderThan`: `ADDED`s, then the
//!   bookmark annotated `k8s.io/initial-events-end`). With [`Options::streaming_lists`]
//!   `= false` those are refused with 422 Invalid, as by a server with the WatchList
//!   feature gate off; kube-rs's `StreamingList` watcher then reports `WatchStartFailed` and
//!   retries forever, so a client that wants to run there must fall back to list+watch (the
//!   kube-rs default, `ListWatch`) itself.
//! - **Control**: [`FakeApi::stop`] (port released, every connection dropped, objects
//!   kept), [`FakeApi::restart`] (same address), [`FakeApi::drop_watches`] (cut open watch
//!   connections mid-body), [`FakeApi::pause`] (503 or hang for new requests),
//!   [`FakeApi::requests`] (lists, pages, watches and gets per kind, to assert relists).
//!   [`FakeApi::start_in`] runs it inside a [`crate::Netns`].
//!
//! # What it does not implement
//!
//! Writes over HTTP (POST/PUT/PATCH/DELETE: 405), other kinds and subresources, TLS and
//! authentication (any client is served), protobuf and Table output (always JSON), the
//! aggregated discovery format (the legacy documents are served, which clients fall back
//! to), `remainingItemCount`, watch-cache quirks (`resourceVersion="0"` lists honour `limit`
//! here; the real server may ignore it), waiting for a future `resourceVersion` (a list
//! answers 504 at once; a watch simply starts after it), a random default watch timeout
//! (without `timeoutSeconds` a watch lasts until cut), `creationTimestamp`, `generation` and
//! managed fields (set them in the objects if a test needs them), admission, defaulting and
//! validation of object contents, and automatic compaction (call [`FakeApi::compact`]).
//!
//! # Inside a sandbox
//!
//! An agent run in a namespace reaches a server started there:
//! `FakeApi::start_in(&sandbox.node.ns, Options::default())` listens on that namespace's
//! loopback, and `--master` takes [`FakeApi::url`].

mod body;
mod control;
mod discovery;
mod kind;
mod list;
mod options;
mod request;
mod selectors;
mod server;
mod shared;
mod snapshot;
mod status;
mod store;
mod watch;
mod wire;

pub use control::FakeApi;
pub use discovery::VERSION;
pub use kind::Kind;
pub use options::{Options, Pause, Requests};
pub use selectors::{FIELDS, FieldSelector, LabelSelector};
