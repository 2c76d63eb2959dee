//! [`Cleaner`]: after a successful sync, plan, dump, match and delete stale entries.

use std::sync::{Arc, Mutex, PoisonError};

use proxy_core::{Delta, ProxyState};
use tokio::time::Instant;

use super::entry::Entry;
use super::error::Error;
use super::filter::{Matcher, Plan};
use super::plan::{KnownFrontends, NodePorts, Work, plan};
use super::table::Conntrack;

/// What one cleanup did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Filters planned (0: nothing touched a UDP/SCTP service port, and nothing was dumped).
    pub filters: usize,
    /// Families dumped.
    pub dumps: usize,
    /// Entries listed.
    pub scanned: usize,
    /// Entries found stale.
    pub stale: usize,
    /// Stale entries deleted.
    pub deleted: usize,
    /// Stale entries that were gone before their delete arrived.
    pub gone: usize,
}

/// What the cleaner remembers between syncs.
#[derive(Debug, Default)]
struct Memory {
    known: KnownFrontends,
    seeded: bool,
    /// The work of a failed cleanup, redone with the next one.
    retry: Work,
}

/// Deletes the conntrack entries a sync left stale (see [`super::plan`] for which), through a
/// [`Conntrack`] table. Meant to be called after each successful sync, one call at a time,
/// with that sync's state and delta; a failed cleanup's work is retried with the next call.
#[derive(Debug)]
pub struct Cleaner<C> {
    table: Arc<Mutex<C>>,
    node_ports: NodePorts,
    memory: Mutex<Memory>,
}

impl<C: Conntrack> Cleaner<C> {
    /// A cleaner over `table`, with node ports served on `node_ports`.
    pub fn new(table: C, node_ports: NodePorts) -> Self {
        Cleaner {
            table: Arc::new(Mutex::new(table)),
            node_ports,
            memory: Mutex::new(Memory::default()),
        }
    }

    /// Cleans up after a sync that produced `state` and `delta`; the kernel work runs on
    /// tokio's blocking pool, so the runtime's other tasks never wait for it.
    pub async fn cleanup(&self, state: &ProxyState, delta: &Delta) -> Result<Report, Error> {
        let (plan, work) = self.prepare(state, delta);
        let result = if plan.is_empty() {
            Ok(Report::default())
        } else {
            let table = Arc::clone(&self.table);
            tokio::task::spawn_blocking(move || execute(&table, &plan))
                .await
                .map_err(Error::Task)
                .and_then(|r| r)
        };
        self.finish(state, work, result.is_ok());
        result
    }

    /// [`Cleaner::cleanup`] on the calling thread (for callers outside a runtime).
    pub fn cleanup_blocking(&self, state: &ProxyState, delta: &Delta) -> Result<Report, Error> {
        let (plan, work) = self.prepare(state, delta);
        let result = if plan.is_empty() {
            Ok(Report::default())
        } else {
            execute(&self.table, &plan)
        };
        self.finish(state, work, result.is_ok());
        result
    }

    /// The plan for this sync, and the work it covers.
    fn prepare(&self, state: &ProxyState, delta: &Delta) -> (Plan, Work) {
        let mut memory = self.memory.lock().unwrap_or_else(PoisonError::into_inner);
        if !memory.seeded {
            memory.known.seed(state);
            memory.seeded = true;
        }
        let mut work = std::mem::take(&mut memory.retry);
        work.merge(Work::from_delta(delta));
        memory.known.refresh(state, &work.ports);
        (plan(state, &work, &memory.known, &self.node_ports), work)
    }

    /// Forgets deleted ports once their entries are gone, or keeps the work for a retry.
    fn finish(&self, state: &ProxyState, work: Work, ok: bool) {
        let mut memory = self.memory.lock().unwrap_or_else(PoisonError::into_inner);
        if ok {
            memory.known.forget_deleted(state, &work.ports);
        } else {
            memory.retry.merge(work);
        }
    }
}

/// Dumps each family the plan needs once, and deletes the entries it finds stale.
fn execute<C: Conntrack>(table: &Mutex<C>, plan: &Plan) -> Result<Report, Error> {
    let started = Instant::now();
    let mut table = table.lock().unwrap_or_else(PoisonError::into_inner);
    let matcher = Matcher::new(plan);
    let mut report = Report {
        filters: plan.filters.len(),
        ..Report::default()
    };
    for family in plan.families() {
        let mut stale: Vec<Entry> = Vec::new();
        table.dump(family, &mut |entry| {
            report.scanned += 1;
            if matcher.is_stale(&entry) {
                stale.push(entry);
            }
        })?;
        report.dumps += 1;
        for entry in &stale {
            tracing::debug!(%family, entry = %entry, "deleting stale conntrack entry");
        }
        report.stale += stale.len();
        if !stale.is_empty() {
            let done = table.delete(&stale)?;
            report.deleted += done.deleted;
            report.gone += done.gone;
        }
    }
    tracing::info!(
        filters = report.filters,
        scanned = report.scanned,
        stale = report.stale,
        deleted = report.deleted,
        gone = report.gone,
        took_ms = started.elapsed().as_secs_f64() * 1000.0,
        "conntrack cleanup done"
    );
    Ok(report)
}
