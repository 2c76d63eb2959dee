//! [`Agent`]: the agent as a library: a source (file or API server), the change tracker, the
//! sync runner and the work after each sync, around any [`Datapath`]. The `svcproxy` binary is
//! one user; a backend of one's own is another:
//!
//! ```no_run
//! # async fn example(datapath: proxy_core::FakeDatapath) -> Result<(), svcproxy::Error> {
//! use svcproxy::agent::Agent;
//! use svcproxy::config::Source;
//!
//! let agent = Agent::new(Source::Kube { kubeconfig: None, master: None }, "node-a");
//! let status = agent.status(); // ready, last sync, failures: for health checks
//! agent.run(datapath, std::future::pending()).await?;
//! # Ok(()) }
//! ```

use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use proxy_core::Datapath;
use proxy_core::model::NodeInfo;
use proxy_core::runner::{AfterSync, RunnerConfig, RunnerStatus, SourceEvent, SyncRunner};
use proxy_core::tracker::ChangeTracker;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::Source;
use crate::error::Error;
use crate::source::{FileSource, KubeSource, kube};

/// How many source events may wait for the runner.
const EVENT_QUEUE: usize = 1024;

/// How long the first sync waits for this node's Node object from the API server.
const NODE_WAIT: Duration = Duration::from_secs(10);

/// Programs one node from a source through a datapath, until shut down.
pub struct Agent {
    source: Source,
    node: NodeInfo,
    runner: RunnerConfig,
    allow_empty_source: bool,
    after_sync: Option<Box<dyn AfterSync>>,
    status: watch::Sender<RunnerStatus>,
}

impl Agent {
    /// An agent for the node `node_name` fed by `source`, with the default timing.
    pub fn new(source: Source, node_name: impl Into<String>) -> Self {
        Agent {
            source,
            node: NodeInfo::new(node_name),
            runner: RunnerConfig::default(),
            allow_empty_source: false,
            after_sync: None,
            status: watch::Sender::new(RunnerStatus::default()),
        }
    }

    /// The node's primary IPs (one per family); without them, the Node object's are used.
    pub fn node_ips(mut self, ips: Vec<IpAddr>) -> Self {
        self.node.ips = ips;
        self
    }

    /// The sync timing.
    pub fn runner_config(mut self, config: RunnerConfig) -> Self {
        self.runner = config;
        self
    }

    /// Whether a file source without objects is applied (removing every service).
    pub fn allow_empty_source(mut self, allow: bool) -> Self {
        self.allow_empty_source = allow;
        self
    }

    /// Work to do after each successful sync with its delta (conntrack cleanup).
    pub fn after_sync(mut self, hook: impl AfterSync + 'static) -> Self {
        self.after_sync = Some(Box::new(hook));
        self
    }

    /// The runner's status (ready, pending changes, last sync, failures), for health checks.
    pub fn status(&self) -> watch::Receiver<RunnerStatus> {
        self.status.subscribe()
    }

    /// Syncs `datapath` from the source until `shutdown` completes; returns the datapath (the
    /// rules stay). Fails only if the source cannot be opened.
    pub async fn run<D, S>(self, datapath: D, shutdown: S) -> Result<D, Error>
    where
        D: Datapath,
        S: Future<Output = ()>,
    {
        let source = Opened::open(&self.source, &self.node.name, self.allow_empty_source).await?;
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        let mut runner = SyncRunner::new(datapath, ChangeTracker::new(self.node), self.runner)
            .with_status_sender(self.status);
        if let Some(hook) = self.after_sync {
            runner = runner.with_after_sync(BoxedHook(hook));
        }
        let runner = source.runner(runner);
        let task = source.spawn(tx);
        let datapath = runner.run(rx, shutdown).await;
        stop(task).await;
        Ok(datapath)
    }
}

/// A boxed hook, as a hook.
struct BoxedHook(Box<dyn AfterSync>);

impl AfterSync for BoxedHook {
    fn after_sync<'a>(
        &'a mut self,
        state: &'a proxy_core::ProxyState,
        delta: &'a proxy_core::Delta,
    ) -> proxy_core::runner::HookFuture<'a> {
        self.0.after_sync(state, delta)
    }
}

/// A source, opened.
#[derive(Clone)]
pub(crate) enum Opened {
    /// A file.
    File(FileSource),
    /// The API server.
    Kube(KubeSource),
}

impl Opened {
    /// Opens `source` for the node `node_name` (for the API server: builds the client).
    pub(crate) async fn open(
        source: &Source,
        node_name: &str,
        allow_empty: bool,
    ) -> Result<Opened, Error> {
        Ok(match source {
            Source::File(path) => Opened::File(FileSource::new(path).allow_empty(allow_empty)),
            Source::Kube { kubeconfig, master } => {
                let client = kube::client(kubeconfig.as_deref(), master.as_deref()).await?;
                Opened::Kube(KubeSource::new(client, node_name))
            }
        })
    }

    /// Starts watching: events go to `events` until it closes.
    pub(crate) fn spawn(self, events: mpsc::Sender<SourceEvent>) -> JoinHandle<()> {
        match self {
            Opened::File(file) => tokio::spawn(file.watch(events)),
            Opened::Kube(kube) => tokio::spawn(kube.watch(events)),
        }
    }

    /// A runner for this source: the API source makes it wait for its kinds' lists.
    pub(crate) fn runner<D: Datapath>(&self, runner: SyncRunner<D>) -> SyncRunner<D> {
        match self {
            Opened::File(_) => runner,
            Opened::Kube(_) => runner.with_initial_lists(kube::REQUIRED_KINDS, Some(NODE_WAIT)),
        }
    }
}

/// Stops a source task, re-raising its panic if it had one.
pub(crate) async fn stop(task: JoinHandle<()>) {
    task.abort();
    if let Err(err) = task.await
        && err.is_panic()
    {
        std::panic::resume_unwind(err.into_panic());
    }
}
