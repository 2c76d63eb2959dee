//! The application: each subcommand wired from a validated [`Config`] to done (lock, backend,
//! source, runner, conntrack), and shutdown on a signal. The binary's `main` only parses,
//! reports and exits.
//!
//! `sync` and `run` clean up stale conntrack entries after each successful sync
//! ([`conntrack`]).
//!
//! `sync`, `run` and `cleanup` first take the target namespace's instance lock ([`lock`]) and
//! hold it until they return: before the backend opens, since opening already removes other
//! backends' leftovers. `dump` and `demo` take none.

use tokio::signal::unix::{SignalKind, signal};
use tracing::info;

use crate::backends;
use crate::config::{Config, DatapathConfig, ProxyConfig, RunConfig};
use crate::conntrack;
use crate::error::Error;
use crate::lock::{self, LockGuard};
use crate::memory;
use crate::sync;

/// Runs one subcommand.
pub async fn execute(config: &Config) -> Result<(), Error> {
    match config {
        Config::Sync(config) => sync_once(config).await,
        Config::Run(config) => run(config).await,
        Config::Dump(config) => dump(config).await,
        Config::Cleanup(config) => cleanup(config).await,
        Config::Demo(config) => backends::demo(config).await,
    }
}

/// `sync`: one full sync.
async fn sync_once(config: &ProxyConfig) -> Result<(), Error> {
    let _lock = take_lock(&config.datapath).await?;
    let datapath = backends::open(&config.datapath).await?;
    let cleaner = conntrack::cleaner(&config.datapath);
    sync::run_once_with(config, datapath, cleaner)
        .await
        .map(drop)
}

/// `run`: sync until SIGTERM or SIGINT; the rules stay.
async fn run(config: &RunConfig) -> Result<(), Error> {
    let _lock = take_lock(&config.proxy.datapath).await?;
    let datapath = backends::open(&config.proxy.datapath).await?;
    let shutdown = shutdown_signal()?;
    let mut agent = sync::agent(config);
    if let Some(cleaner) = conntrack::cleaner(&config.proxy.datapath) {
        agent = agent.after_sync(cleaner);
    }
    let trimmer = tokio::spawn(memory::release_after_full_syncs(agent.status()));
    let result = agent.run(datapath, shutdown).await;
    trimmer.abort();
    result?;
    info!("stopped; the rules stay in place");
    Ok(())
}

/// `dump`: print the planned ruleset.
async fn dump(config: &ProxyConfig) -> Result<(), Error> {
    let state = sync::planned_state(config).await?;
    let text = backends::render(&config.datapath, &state)?;
    print!("{text}");
    Ok(())
}

/// `cleanup`: remove everything of ours.
async fn cleanup(config: &DatapathConfig) -> Result<(), Error> {
    let _lock = take_lock(config).await?;
    backends::cleanup(config).await?;
    info!(backend = %config.backend, "cleaned up");
    Ok(())
}

/// Takes the instance lock of the namespace `config` targets, held until the guard drops.
async fn take_lock(config: &DatapathConfig) -> Result<LockGuard, Error> {
    lock::lock_netns(config.netns.as_deref(), config.lock_wait).await
}

/// A future that completes on the first SIGTERM or SIGINT. The handlers are installed now, so
/// a signal that arrives before the future is polled is not lost.
pub fn shutdown_signal() -> Result<impl Future<Output = ()> + Send + 'static, Error> {
    let mut term = signal(SignalKind::terminate()).map_err(Error::Signal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(Error::Signal)?;
    Ok(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        info!(signal = name, "shutting down");
    })
}
