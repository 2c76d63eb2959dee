//! [`FakeApi`]: the test's handle on a fake API server: start, stop, restart, objects,
//! compaction, pauses, dropped watches and request counts.
//!
//! The server runs on its own thread with its own single-threaded tokio runtime, so the
//! handle works the same from plain and from async tests, and a server started in a network
//! namespace binds there every time it (re)starts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::thread::{self, JoinHandle};

use k8s_openapi::Resource;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};

use super::kind::Kind;
use super::options::{Options, Pause, Requests};
use super::server;
use super::shared::Shared;
use super::store::Key;
use crate::error::{Error, Result};
use crate::netns::Netns;

/// A fake Kubernetes API server on plain HTTP; stops (and its thread ends) when dropped.
#[derive(Debug)]
pub struct FakeApi {
    shared: Arc<Shared>,
    commands: mpsc::UnboundedSender<Command>,
    thread: Option<JoinHandle<()>>,
    addr: SocketAddr,
}

/// What the handle asks the server thread to do.
#[derive(Debug)]
enum Command {
    /// Listen on the address (stopping a running listener first); replies with the address.
    Start(SocketAddr, std_mpsc::Sender<Result<SocketAddr>>),
    /// Stop listening and drop every connection; replies when done.
    Stop(std_mpsc::Sender<()>),
    /// Stop and end the thread.
    Shutdown,
}

impl FakeApi {
    /// Starts a server with default [`Options`] (`127.0.0.1`, a free port).
    pub fn start() -> Result<FakeApi> {
        FakeApi::start_with(Options::default())
    }

    /// Starts a server with `options`, in the caller's network namespace.
    pub fn start_with(options: Options) -> Result<FakeApi> {
        FakeApi::launch(options, |run| {
            thread::Builder::new()
                .name("fake-api".into())
                .spawn(run)
                .map_err(|e| Error::io("cannot start the fake API server's thread", e))
        })
    }

    /// Starts a server whose thread lives in `ns`: it listens there (`options.addr` must be
    /// an address of `ns`, e.g. its loopback) on every start and restart.
    pub fn start_in(ns: &Netns, options: Options) -> Result<FakeApi> {
        FakeApi::launch(options, |run| ns.spawn(run))
    }

    fn launch(
        options: Options,
        spawn: impl FnOnce(Box<dyn FnOnce() + Send>) -> Result<JoinHandle<()>>,
    ) -> Result<FakeApi> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("cannot build the fake API server's runtime", e))?;
        let addr = options.addr;
        let shared = Arc::new(Shared::new(options));
        let (commands, rx) = mpsc::unbounded_channel();
        let thread = spawn(Box::new({
            let shared = Arc::clone(&shared);
            move || run(&runtime, &shared, rx)
        }))?;
        let mut api = FakeApi {
            shared,
            commands,
            thread: Some(thread),
            addr,
        };
        api.addr = api.listen(addr)?;
        tracing::debug!(addr = %api.addr, "fake API server listening");
        Ok(api)
    }

    /// The address it listens on (kept across restarts).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, the cluster URL for clients (`kube::Config::new(url.parse()?)`,
    /// `--master`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops listening and drops every open connection (the port is free when this
    /// returns). The objects stay, as they would in etcd.
    pub fn stop(&self) {
        let (reply, done) = std_mpsc::channel();
        if self.commands.send(Command::Stop(reply)).is_ok() {
            // An error means the thread has ended, so nothing is listening either.
            let _ = done.recv();
        }
        tracing::debug!(addr = %self.addr, "fake API server stopped");
    }

    /// Listens again on the same address (after [`FakeApi::stop`]; while running, it
    /// drops every connection and listens anew).
    pub fn restart(&self) -> Result<()> {
        self.listen(self.addr).map(|_| ())
    }

    fn listen(&self, addr: SocketAddr) -> Result<SocketAddr> {
        let (reply, bound) = std_mpsc::channel();
        self.commands
            .send(Command::Start(addr, reply))
            .map_err(|_| Error::ServerGone)?;
        bound.recv().map_err(|_| Error::ServerGone)?
    }

    /// Cuts every open watch connection now, without ending its chunked body (as a dropped
    /// TCP connection looks to the client). Lists and later watches are served as usual.
    pub fn drop_watches(&self) {
        self.shared.drops.send_modify(|generation| *generation += 1);
    }

    /// Pauses: new requests get 503 ([`Pause::Unavailable`]) or no answer until
    /// [`FakeApi::unpause`] ([`Pause::Hang`]). Open watches are not affected: combine with
    /// [`FakeApi::drop_watches`] (or use [`FakeApi::stop`]) for an outage.
    pub fn pause(&self, mode: Pause) {
        self.shared.pause.send_replace(Some(mode));
    }

    /// Ends a pause; hung requests are answered.
    pub fn unpause(&self) {
        self.shared.pause.send_replace(None);
    }

    /// The requests received for `kind` so far.
    pub fn requests(&self, kind: Kind) -> Requests {
        self.shared.requests(kind)
    }

    /// The latest resourceVersion (0 before any change).
    pub fn resource_version(&self) -> u64 {
        self.shared.store().rv()
    }

    /// Forgets the change history up to `rv`: watches from an older version get a 410
    /// ERROR event, continue tokens and exact lists from before it 410 Expired.
    pub fn compact(&self, rv: u64) {
        self.shared.store().compact(rv);
    }

    /// [`FakeApi::compact`] up to the latest version; returns it.
    pub fn compact_all(&self) -> u64 {
        let mut store = self.shared.store();
        let rv = store.rv();
        store.compact(rv);
        rv
    }

    /// Creates the object (an error if it exists); returns its resourceVersion.
    pub fn create<T: Resource + Serialize>(&self, object: &T) -> Result<u64> {
        self.put(object, true, false)
    }

    /// Replaces the object (an error if it does not exist); returns its resourceVersion.
    pub fn update<T: Resource + Serialize>(&self, object: &T) -> Result<u64> {
        self.put(object, false, true)
    }

    /// Creates or replaces the object; returns its resourceVersion.
    pub fn apply<T: Resource + Serialize>(&self, object: &T) -> Result<u64> {
        self.put(object, true, true)
    }

    /// Creates or replaces an object given as JSON with `apiVersion` and `kind` (a parsed
    /// manifest, say); returns its resourceVersion.
    pub fn apply_json(&self, object: Value) -> Result<u64> {
        let field = |name| object.get(name).and_then(Value::as_str).unwrap_or_default();
        let kind = Kind::from_type(field("apiVersion"), field("kind")).ok_or_else(|| {
            Error::UnsupportedKind(format!("{} {}", field("apiVersion"), field("kind")))
        })?;
        self.shared
            .change(|store| store.put(kind, object, true, true))
    }

    /// Deletes the object (`namespace` is ignored for cluster-scoped kinds); returns the
    /// resourceVersion of the deletion.
    pub fn delete<T: Resource>(&self, namespace: &str, name: &str) -> Result<u64> {
        let kind = kind_of::<T>()?;
        self.shared
            .change(|store| store.delete(kind, namespace, name))
    }

    /// The stored object, as a client would read it.
    pub fn get<T: Resource + DeserializeOwned>(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<T>> {
        let kind = kind_of::<T>()?;
        let namespace = if kind.namespaced() { namespace } else { "" };
        let key = Key {
            kind,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        let Some(stored) = self.shared.store().get(&key) else {
            return Ok(None);
        };
        let mut object = stored.as_ref().clone();
        if let Some(fields) = object.as_object_mut() {
            fields.insert("kind".into(), kind.name().into());
            fields.insert("apiVersion".into(), kind.api_version().into());
        }
        serde_json::from_value(object)
            .map(Some)
            .map_err(|source| Error::Json {
                what: format!("cannot read back {}", key.describe()),
                source,
            })
    }

    fn put<T: Resource + Serialize>(&self, object: &T, create: bool, update: bool) -> Result<u64> {
        let kind = kind_of::<T>()?;
        let value = serde_json::to_value(object).map_err(|source| Error::Json {
            what: format!("cannot convert a {kind} to JSON"),
            source,
        })?;
        self.shared
            .change(|store| store.put(kind, value, create, update))
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Shutdown);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::warn!("the fake API server's thread panicked");
        }
    }
}

fn kind_of<T: Resource>() -> Result<Kind> {
    Kind::of::<T>().ok_or_else(|| Error::UnsupportedKind(format!("{} {}", T::API_VERSION, T::KIND)))
}

/// The server thread: runs commands until shutdown (or the handle is gone).
fn run(runtime: &Runtime, shared: &Arc<Shared>, mut commands: mpsc::UnboundedReceiver<Command>) {
    runtime.block_on(async {
        let mut serving = None;
        while let Some(command) = commands.recv().await {
            match command {
                Command::Start(addr, reply) => {
                    halt(&mut serving).await;
                    let bound = bind(addr).await.map(|listener| {
                        let local = listener.local_addr().unwrap_or(addr);
                        let (stop, stopped) = oneshot::channel();
                        let task =
                            tokio::spawn(server::serve(listener, Arc::clone(shared), stopped));
                        serving = Some((stop, task));
                        local
                    });
                    let _ = reply.send(bound);
                }
                Command::Stop(reply) => {
                    halt(&mut serving).await;
                    let _ = reply.send(());
                }
                Command::Shutdown => break,
            }
        }
        halt(&mut serving).await;
    });
}

async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| Error::io(format!("cannot listen on {addr}"), e))
}

/// Stops the accept loop, if running, and waits until its connections are dropped.
async fn halt(serving: &mut Option<(oneshot::Sender<()>, tokio::task::JoinHandle<()>)>) {
    if let Some((stop, task)) = serving.take() {
        let _ = stop.send(());
        if let Err(e) = task.await {
            tracing::warn!(error = %e, "fake API server: the accept loop failed");
        }
    }
}
