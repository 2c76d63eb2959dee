//! Watches: a chunked stream of JSON event lines, replayed from the change log after the
//! requested resourceVersion and then followed live.
//!
//! - `resourceVersion` unset or `"0"`: synthetic `ADDED` events for the current objects, then
//!   changes after them. With `sendInitialEvents=true` (a streaming list) the same, followed
//!   by a `BOOKMARK` annotated `k8s.io/initial-events-end`.
//! - `resourceVersion=N`: the logged changes after N; if the log no longer reaches N, one
//!   `ERROR` event with a 410 Expired Status and the end of the stream (what the real server
//!   sends on a watch). The same happens if the log is compacted past a running watch.
//! - Selectors apply to the object before and after each change: one that starts matching
//!   arrives as `ADDED`, one that stops as `DELETED` (its last matching content, at the
//!   change's resourceVersion).
//! - `allowWatchBookmarks=true`: a `BOOKMARK` every [`super::Options::bookmark_interval`].
//! - `timeoutSeconds`: the stream ends cleanly after it.

use std::sync::Arc;

use hyper::body::Bytes;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::{self, Instant, MissedTickBehavior};

use super::body::ApiBody;
use super::kind::Kind;
use super::request::{Params, resource_version};
use super::shared::Shared;
use super::status::ApiError;
use super::store::{Change, Key, Store};
use super::wire;
use crate::error::Error;

/// Lines are sent in chunks of about this size (a large initial list is not one write per
/// object; live events go out as they come).
const CHUNK: usize = 32 * 1024;

/// Which objects a watch sees.
#[derive(Clone, Debug)]
struct Filter {
    kind: Kind,
    namespace: Option<String>,
    params: Params,
}

impl Filter {
    fn matches(&self, key: &Key, object: &Value) -> bool {
        key.kind == self.kind
            && self
                .namespace
                .as_ref()
                .is_none_or(|ns| *ns == key.namespace)
            && self.params.labels.matches(object)
            && self.params.fields.matches(object)
    }
}

/// Starts a watch of `kind` (in `namespace`, or all); the body streams until the client goes
/// away, the timeout passes, the server stops or [`super::FakeApi::drop_watches`] is called.
pub(crate) fn watch(
    shared: Arc<Shared>,
    kind: Kind,
    namespace: Option<String>,
    params: Params,
) -> Result<ApiBody, ApiError> {
    validate(&shared, &params)?;
    let asked = params
        .resource_version
        .as_deref()
        .map(resource_version)
        .transpose()?;
    let initial = params.send_initial_events || asked.is_none_or(|rv| rv == 0);
    let filter = Filter {
        kind,
        namespace,
        params,
    };
    // Subscribe before reading the store so no change between the two goes unnoticed.
    let changed = shared.changed.subscribe();
    let drops = shared.drops.subscribe();
    let (first, cursor) = {
        let store = shared.store();
        match asked {
            _ if initial => (initial_events(&store, &filter), Some(store.rv())),
            Some(rv) if rv < store.compacted() => (too_old(rv, store.compacted()), None),
            Some(rv) => (Vec::new(), Some(rv)),
            None => (Vec::new(), Some(store.rv())),
        }
    };
    let (tx, rx) = mpsc::channel(16);
    let pump = Pump {
        shared,
        filter,
        tx,
        changed,
        drops,
    };
    tokio::spawn(pump.run(first, cursor));
    Ok(ApiBody::Stream(rx))
}

/// Refuses parameter combinations the real server refuses.
fn validate(shared: &Shared, params: &Params) -> Result<(), ApiError> {
    if params.send_initial_events {
        if !shared.options.streaming_lists {
            return Err(ApiError::invalid(
                "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless \
                 the WatchList feature gate is enabled",
            ));
        }
        if params.version_match.as_deref() != Some("NotOlderThan") {
            return Err(ApiError::invalid(
                "resourceVersionMatch: sendInitialEvents requires resourceVersionMatch=NotOlderThan",
            ));
        }
        if !params.bookmarks {
            return Err(ApiError::invalid(
                "allowWatchBookmarks: sendInitialEvents requires allowWatchBookmarks=true",
            ));
        }
    } else if params.version_match.is_some() {
        return Err(ApiError::invalid(
            "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless \
             sendInitialEvents is provided",
        ));
    }
    Ok(())
}

/// `ADDED` for every current object the watch sees, then the end-of-initial-events bookmark
/// for a streaming list.
fn initial_events(store: &Store, filter: &Filter) -> Vec<u8> {
    let mut out = Vec::new();
    // The latest version is always in reach, so the snapshot is never `None`.
    let current = store.snapshot(filter.kind, store.rv(), None);
    for (key, object) in current.into_iter().flatten() {
        if filter.matches(key, object) {
            out.extend(wire::event("ADDED", filter.kind, object));
        }
    }
    if filter.params.send_initial_events {
        out.extend(wire::bookmark(filter.kind, store.rv(), true));
    }
    out
}

fn too_old(asked: u64, compacted: u64) -> Vec<u8> {
    wire::error(&ApiError::expired(format!(
        "too old resource version: {asked} ({compacted})"
    )))
}

/// The task feeding one watch's body.
struct Pump {
    shared: Arc<Shared>,
    filter: Filter,
    tx: mpsc::Sender<Result<Bytes, Error>>,
    changed: tokio::sync::watch::Receiver<u64>,
    drops: tokio::sync::watch::Receiver<u64>,
}

impl Pump {
    /// Sends `first`, then follows the store from `cursor` (none: the stream ends after
    /// `first`).
    async fn run(mut self, first: Vec<u8>, cursor: Option<u64>) {
        if !self.send(first).await {
            return;
        }
        let Some(mut cursor) = cursor else { return };
        let every = self.shared.options.bookmark_interval;
        let mut bookmarks = time::interval_at(Instant::now() + every, every);
        bookmarks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let deadline = self.filter.params.timeout.map(|t| Instant::now() + t);
        let timeout = time::sleep_until(deadline.unwrap_or_else(Instant::now));
        tokio::pin!(timeout);
        loop {
            // Biased: a drop requested before a change cuts the stream before that change
            // is sent on it.
            let bookmark = tokio::select! {
                biased;
                () = self.tx.closed() => return,
                _ = self.drops.changed() => {
                    // Cut the connection: hyper aborts it on a body error.
                    let _ = self.tx.send(Err(Error::WatchDropped)).await;
                    return;
                }
                () = &mut timeout, if deadline.is_some() => return,
                changed = self.changed.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    false
                }
                _ = bookmarks.tick(), if self.filter.params.bookmarks => true,
            };
            let Some(next) = self.catch_up(cursor, bookmark).await else {
                return;
            };
            cursor = next;
        }
    }

    /// Sends the changes after `cursor` (and a bookmark if asked); the new cursor, or `None`
    /// when the stream must end.
    async fn catch_up(&mut self, cursor: u64, bookmark: bool) -> Option<u64> {
        let (mut lines, next, expired) = self.changes_after(cursor);
        if bookmark && !expired {
            lines.extend(wire::bookmark(self.filter.kind, next, false));
        }
        let sent = self.send(lines).await;
        (sent && !expired).then_some(next)
    }

    /// The event lines after `cursor`, the version they reach, and whether the log had been
    /// compacted past `cursor` (then the lines are one 410 ERROR).
    fn changes_after(&self, cursor: u64) -> (Vec<u8>, u64, bool) {
        let store = self.shared.store();
        let Some(changes) = store.changes_after(cursor) else {
            return (too_old(cursor, store.compacted()), cursor, true);
        };
        let mut out = Vec::new();
        for change in changes {
            out.extend(self.event(change));
        }
        (out, store.rv().max(cursor), false)
    }

    /// The line `change` makes for this watch, if any.
    fn event(&self, change: &Change) -> Vec<u8> {
        let seen = |o: &Option<Arc<Value>>| {
            o.as_ref()
                .is_some_and(|o| self.filter.matches(&change.key, o))
        };
        let kind = self.filter.kind;
        match (seen(&change.prev), &change.cur, seen(&change.cur)) {
            (false, Some(cur), true) => wire::event("ADDED", kind, cur),
            (true, Some(cur), true) => wire::event("MODIFIED", kind, cur),
            (true, _, false) => {
                // The last content it was seen with, at the version of the change.
                let mut last = change.prev.as_deref().cloned().unwrap_or_default();
                if let Some(meta) = last.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.insert(
                        "resourceVersion".into(),
                        Value::String(change.rv.to_string()),
                    );
                }
                wire::event("DELETED", kind, &last)
            }
            _ => Vec::new(),
        }
    }

    /// Sends `lines` in chunks; false if the client has gone.
    async fn send(&self, lines: Vec<u8>) -> bool {
        let mut rest = lines.as_slice();
        while !rest.is_empty() {
            let mut end = rest.len().min(CHUNK);
            // Cut after a newline so a chunk holds whole lines (not needed by clients, but
            // it keeps each chunk valid JSON lines for anyone reading raw chunks).
            if end < rest.len() {
                end = rest[..end]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(end, |i| i + 1);
            }
            let (chunk, tail) = rest.split_at(end);
            if self
                .tx
                .send(Ok(Bytes::copy_from_slice(chunk)))
                .await
                .is_err()
            {
                return false;
            }
            rest = tail;
        }
        true
    }
}
