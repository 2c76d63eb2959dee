//! The fake API server driven by the real kube-rs client and watcher (and by raw HTTP where
//! the wire format itself is the point). No root needed, except for the namespace test.

mod control;
mod http;
mod kube_watcher;
mod list;
mod watch;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::utils::Backoff;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Config, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use testkit::fake_api::{FakeApi, Options};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long a test waits for something that should happen at once.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Labels upstream's service proxy skips (its list/watch label selector).
pub const UPSTREAM_SELECTOR: &str =
    "!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless";

/// A server with fast bookmarks.
pub fn fake_api() -> FakeApi {
    FakeApi::start_with(Options {
        bookmark_interval: Duration::from_millis(100),
        ..Options::default()
    })
    .expect("fake API server starts")
}

/// A kube-rs client for `api` (plain HTTP, no auth).
pub fn client(api: &FakeApi) -> Client {
    let config = Config::new(api.url().parse().expect("a URL"));
    Client::try_from(config).expect("a client")
}

/// A ClusterIP Service `ns/name` with one TCP port and `labels`.
pub fn service(ns: &str, name: &str, port: i32, labels: &[(&str, &str)]) -> Service {
    Service {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            ports: Some(vec![ServicePort {
                port,
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// A Node `name`.
pub fn node(name: &str) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        ..Node::default()
    }
}

/// Waits until `done` holds; panics after [`PATIENCE`], saying `what` was awaited.
pub async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The first port of a Service.
pub fn port_of(svc: &Service) -> i32 {
    svc.spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .and_then(|p| p.first())
        .map_or(0, |p| p.port)
}

/// A kube-rs watcher's view of a collection, kept the way a store keeps it: `Init` starts a
/// buffer, `InitApply` fills it, `InitDone` swaps it in; `Apply`/`Delete` edit in place.
pub struct Mirror<K> {
    events: mpsc::UnboundedReceiver<Result<Event<K>, watcher::Error>>,
    task: JoinHandle<()>,
    buffer: Option<BTreeMap<String, K>>,
    /// The objects by `ns/name`.
    pub objects: BTreeMap<String, K>,
    /// `Init` events seen (1 per initial list or relist).
    pub inits: usize,
    /// `InitDone` events seen.
    pub init_dones: usize,
    /// `Apply` and `Delete` events seen.
    pub live_events: usize,
    /// Errors the watcher reported (it retries after each).
    pub errors: Vec<String>,
}

impl<K> Mirror<K>
where
    K: Resource + Clone + Debug + DeserializeOwned + Send + 'static,
{
    /// Runs a watcher on `api` with `config`, retrying 100 ms after an error.
    pub fn start(api: Api<K>, config: watcher::Config) -> Mirror<K> {
        let (tx, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut stream = watcher::watcher(api, config).backoff(Retry).boxed();
            while let Some(event) = stream.next().await {
                if tx.send(event).is_err() {
                    return;
                }
            }
        });
        Mirror {
            events,
            task,
            buffer: None,
            objects: BTreeMap::new(),
            inits: 0,
            init_dones: 0,
            live_events: 0,
            errors: Vec::new(),
        }
    }

    /// Takes events until `done` holds; panics after [`PATIENCE`], saying `what` was awaited.
    pub async fn wait_for(&mut self, what: &str, done: impl Fn(&Mirror<K>) -> bool) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !done(self) {
            let event = tokio::time::timeout_at(deadline, self.events.recv()).await;
            match event {
                Ok(Some(event)) => self.apply(event),
                Ok(None) => panic!("the watcher ended while waiting for {what}"),
                Err(_) => panic!(
                    "timed out waiting for {what}: objects {:?}, inits {}, errors {:?}",
                    self.objects.keys().collect::<Vec<_>>(),
                    self.inits,
                    self.errors
                ),
            }
        }
    }

    fn apply(&mut self, event: Result<Event<K>, watcher::Error>) {
        let key = |o: &K| format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any());
        match event {
            Ok(Event::Init) => {
                self.inits += 1;
                self.buffer = Some(BTreeMap::new());
            }
            Ok(Event::InitApply(o)) => {
                self.buffer.get_or_insert_default().insert(key(&o), o);
            }
            Ok(Event::InitDone) => {
                self.init_dones += 1;
                self.objects = self.buffer.take().unwrap_or_default();
            }
            Ok(Event::Apply(o)) => {
                self.live_events += 1;
                self.objects.insert(key(&o), o);
            }
            Ok(Event::Delete(o)) => {
                self.live_events += 1;
                self.objects.remove(&key(&o));
            }
            Err(e) => self.errors.push(e.to_string()),
        }
    }
}

impl<K> Drop for Mirror<K> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The names of the Services a [`Mirror`] holds, with their first port.
pub fn ports(mirror: &Mirror<Service>) -> BTreeMap<String, i32> {
    mirror
        .objects
        .iter()
        .map(|(k, s)| (k.clone(), port_of(s)))
        .collect()
}

/// A fixed 100 ms pause before each retry (kube-rs's default starts at 800 ms).
struct Retry;

impl Iterator for Retry {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        Some(Duration::from_millis(100))
    }
}

impl Backoff for Retry {
    fn reset(&mut self) {}
}
