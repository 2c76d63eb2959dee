//! The Kubernetes API source (`--source kube`): kube-rs watchers on Services, EndpointSlices
//! and this node's Node, their events forwarded to the runner as they come.
//!
//! Each (re)list of a kind is streamed as `RelistBegin`, one `Apply` per object, `RelistEnd`:
//! the tracker is the store (no second cache of API objects), a relist of one kind (after a
//! `410 Gone`) never disturbs the others, and what vanished meanwhile is deleted only once the
//! list is complete. Watch errors (API server unreachable, 5xx, dropped streams) are logged
//! and retried with kube-rs's backoff with jitter; they never reach the runner, so they never
//! remove a rule.
//!
//! As upstream kube-proxy does, Services and EndpointSlices labelled
//! `service.kubernetes.io/service-proxy-name` (served by another proxy) or
//! `service.kubernetes.io/headless` are filtered out by the API server; the Node is watched by
//! a field selector on its name. Watches carry bookmarks and end after [`WATCH_TIMEOUT_SECS`],
//! well under cloud load balancers' idle timeouts (a silently dropped long watch would
//! otherwise go unnoticed).
//!
//! Initial lists are streamed (`sendInitialEvents`, the WatchList feature: the server sends
//! the objects as watch events, with no large list response to hold) where the server supports
//! it. A server that refuses such a watch (400 or 422, as one with the feature off or older
//! than 1.27 does) gets paginated lists instead, for that kind, from then on.

use std::fmt::Debug;

use futures::stream::{self, BoxStream, StreamExt};
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource};
use proxy_core::runner::SourceEvent;
use proxy_core::{KubeObject, ObjectKind};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

/// The label selector of upstream kube-proxy's Service and EndpointSlice informers.
pub const LABEL_SELECTOR: &str =
    "!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless";

/// How long one watch request may last before the server ends it and it is renewed.
pub const WATCH_TIMEOUT_SECS: u32 = 60;

/// The kinds whose initial list the runner must wait for (the Node is waited for a bounded
/// time: see [`proxy_core::runner::SyncRunner::with_initial_lists`]).
pub const REQUIRED_KINDS: [ObjectKind; 2] = [ObjectKind::Service, ObjectKind::EndpointSlice];

/// Watches the API server for the objects that program `node_name`.
#[derive(Clone)]
pub struct KubeSource {
    client: Client,
    node_name: String,
}

impl KubeSource {
    /// Watches through `client` for the node `node_name`.
    pub fn new(client: Client, node_name: impl Into<String>) -> Self {
        KubeSource {
            client,
            node_name: node_name.into(),
        }
    }

    /// Sends every event of the three watches until `events` closes (the runner stopped).
    pub async fn watch(self, events: mpsc::Sender<SourceEvent>) {
        let selected = watcher::Config::default()
            .labels(LABEL_SELECTOR)
            .timeout(WATCH_TIMEOUT_SECS);
        let node = watcher::Config::default()
            .fields(&format!("metadata.name={}", self.node_name))
            .timeout(WATCH_TIMEOUT_SECS);
        let mut merged = stream::select_all([
            watch_kind::<Service>(
                Api::all(self.client.clone()),
                selected.clone(),
                ObjectKind::Service,
            ),
            watch_kind::<EndpointSlice>(
                Api::all(self.client.clone()),
                selected,
                ObjectKind::EndpointSlice,
            ),
            watch_kind::<Node>(Api::all(self.client), node, ObjectKind::Node),
        ]);
        info!(node = %self.node_name, "watching the API server");
        loop {
            tokio::select! {
                () = events.closed() => break,
                event = merged.next() => match event {
                    Some(event) => if events.send(event).await.is_err() { break },
                    None => break,
                },
            }
        }
        debug!("API source stopped");
    }
}

/// The events of one kind's watcher, as runner events; errors are logged and skipped (the
/// watcher retries them with backoff).
fn watch_kind<K>(
    api: Api<K>,
    config: watcher::Config,
    kind: ObjectKind,
) -> BoxStream<'static, SourceEvent>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    KubeObject: From<K>,
{
    let mut accepted = false;
    let streaming = watcher::watcher(api.clone(), config.clone().streaming_lists())
        .default_backoff()
        .take_while(move |event| {
            accepted |= matches!(event, Ok(Event::Init));
            let refused = !accepted && refuses_streaming_lists(event);
            if refused {
                info!(%kind, "the API server does not stream lists: using paginated lists");
            }
            std::future::ready(!refused)
        });
    // Built now, polled only if the streaming watcher ends (its refusal).
    let paginated = watcher::watcher(api, config).default_backoff();
    streaming
        .chain(paginated)
        .filter_map(move |event| std::future::ready(translate(kind, event)))
        .boxed()
}

/// Whether `event` is the server refusing a streaming list (400 Bad Request or 422 Invalid
/// when the watch starts).
fn refuses_streaming_lists<K>(event: &Result<Event<K>, watcher::Error>) -> bool {
    matches!(
        event,
        Err(watcher::Error::WatchStartFailed(kube::Error::Api(status)))
            if status.code == 400 || status.code == 422
    )
}

/// One watcher event as a runner event.
fn translate<K>(kind: ObjectKind, event: Result<Event<K>, watcher::Error>) -> Option<SourceEvent>
where
    KubeObject: From<K>,
{
    match event {
        Ok(Event::Init) => {
            debug!(%kind, "list started");
            Some(SourceEvent::RelistBegin(kind))
        }
        Ok(Event::InitApply(object) | Event::Apply(object)) => {
            Some(SourceEvent::Apply(KubeObject::from(object)))
        }
        Ok(Event::InitDone) => {
            info!(%kind, "list complete");
            Some(SourceEvent::RelistEnd(kind))
        }
        Ok(Event::Delete(object)) => Some(SourceEvent::Delete(KubeObject::from(object))),
        Err(error) => {
            warn!(%kind, %error, "watch failed: retrying with backoff; the rules stay as they are");
            None
        }
    }
}

/// The API server could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The kubeconfig file is unreadable or invalid.
    #[error("cannot use the kubeconfig {path}: {source}")]
    Kubeconfig {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Not running in a cluster, and neither --kubeconfig nor --master was given.
    #[error("not running in a cluster (give --kubeconfig or --master): {0}")]
    InCluster(#[source] kube::config::InClusterError),
    /// `--master` is not a URL.
    #[error("--master {0:?} is not a URL such as https://10.0.0.1:6443")]
    Master(String),
    /// The client could not be built (TLS setup).
    #[error("cannot build the API client: {0}")]
    Client(#[source] kube::Error),
}

/// A client for the API server, as kube-proxy finds it: `kubeconfig` if given (its server
/// replaced by `master` if given), else `master` alone (no credentials), else the in-cluster
/// service account.
pub async fn client(
    kubeconfig: Option<&std::path::Path>,
    master: Option<&str>,
) -> Result<Client, ClientError> {
    let url = master
        .map(|m| {
            m.parse::<http::Uri>()
                .map_err(|_| ClientError::Master(m.to_owned()))
        })
        .transpose()?;
    let mut config = match (kubeconfig, &url) {
        (Some(path), _) => {
            let fail = |source: Box<dyn std::error::Error + Send + Sync>| ClientError::Kubeconfig {
                path: path.display().to_string(),
                source,
            };
            let file = kube::config::Kubeconfig::read_from(path).map_err(|e| fail(e.into()))?;
            let options = kube::config::KubeConfigOptions::default();
            kube::Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(|e| fail(e.into()))?
        }
        (None, Some(url)) => kube::Config::new(url.clone()),
        (None, None) => kube::Config::incluster().map_err(ClientError::InCluster)?,
    };
    if let Some(url) = url {
        config.cluster_url = url;
    }
    Client::try_from(config).map_err(ClientError::Client)
}
