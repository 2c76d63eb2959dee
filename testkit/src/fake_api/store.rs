//! [`Store`]: the objects, one global resourceVersion counter, and the log of changes that
//! watches replay and old-snapshot lists undo.
//!
//! Objects are kept as JSON without `kind`/`apiVersion` (the wire code adds them where the real
//! server does) and with `metadata.resourceVersion` and `metadata.uid` set by the store. Every
//! change takes the next resourceVersion and is logged with the object before and after it;
//! [`Store::compact`] forgets the log up to a version, after which watches and lists from
//! older versions get 410 Expired.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::kind::Kind;
use super::snapshot::Snapshot;
use crate::error::{Error, Result};

/// Where an object lives: sorted like the real server's storage keys (kind, namespace, name).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Key {
    /// The object's kind.
    pub kind: Kind,
    /// Its namespace (empty for cluster-scoped kinds).
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl Key {
    /// `Kind ns/name` (or `Kind name`), for messages.
    pub fn describe(&self) -> String {
        if self.namespace.is_empty() {
            format!("{} {}", self.kind, self.name)
        } else {
            format!("{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// One logged change.
#[derive(Clone, Debug)]
pub(crate) struct Change {
    /// The resourceVersion the change took.
    pub rv: u64,
    /// The object changed.
    pub key: Key,
    /// The object before (none for a creation).
    pub prev: Option<Arc<Value>>,
    /// The object after (none for a deletion).
    pub cur: Option<Arc<Value>>,
}

/// What the server holds: objects, the current resourceVersion and the change log.
#[derive(Debug, Default)]
pub(crate) struct Store {
    rv: u64,
    compacted: u64,
    objects: BTreeMap<Key, Arc<Value>>,
    log: VecDeque<Change>,
    uids: u64,
}

impl Store {
    /// The resourceVersion of the latest change (0 before any).
    pub fn rv(&self) -> u64 {
        self.rv
    }

    /// The newest resourceVersion whose history is gone: watches and snapshots must start at
    /// or after it.
    pub fn compacted(&self) -> u64 {
        self.compacted
    }

    /// Creates (`create`), replaces (`update`) or either (`apply`, both flags true) the
    /// object; returns the new resourceVersion.
    pub fn put(&mut self, kind: Kind, object: Value, create: bool, update: bool) -> Result<u64> {
        let (key, mut fields) = key_of(kind, object)?;
        let prev = self.objects.get(&key).cloned();
        let uid = match &prev {
            Some(_) if !update => return Err(Error::AlreadyExists(key.describe())),
            None if !create => return Err(Error::NotFound(key.describe())),
            Some(old) => old.pointer("/metadata/uid").cloned(),
            None => None,
        };
        let uid = uid.unwrap_or_else(|| self.next_uid());
        self.rv += 1;
        let rv = self.rv;
        if let Some(Value::Object(meta)) = fields.get_mut("metadata") {
            meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
            meta.insert("uid".into(), uid);
        }
        let cur = Arc::new(Value::Object(fields));
        self.objects.insert(key.clone(), Arc::clone(&cur));
        self.log.push_back(Change {
            rv,
            key,
            prev,
            cur: Some(cur),
        });
        Ok(rv)
    }

    /// Deletes the object; returns the resourceVersion of the deletion.
    pub fn delete(&mut self, kind: Kind, namespace: &str, name: &str) -> Result<u64> {
        let key = Key {
            kind,
            namespace: if kind.namespaced() { namespace } else { "" }.to_owned(),
            name: name.to_owned(),
        };
        let prev = self
            .objects
            .remove(&key)
            .ok_or_else(|| Error::NotFound(key.describe()))?;
        self.rv += 1;
        self.log.push_back(Change {
            rv: self.rv,
            key,
            prev: Some(prev),
            cur: None,
        });
        Ok(self.rv)
    }

    /// Forgets the change log up to `rv` (at most the current version).
    pub fn compact(&mut self, rv: u64) {
        let rv = rv.min(self.rv);
        while self.log.front().is_some_and(|c| c.rv <= rv) {
            self.log.pop_front();
        }
        self.compacted = self.compacted.max(rv);
    }

    /// The stored object, if any.
    pub fn get(&self, key: &Key) -> Option<Arc<Value>> {
        self.objects.get(key).cloned()
    }

    /// The logged changes after `rv`, oldest first; `None` if some of them were compacted.
    pub fn changes_after(&self, rv: u64) -> Option<impl Iterator<Item = &Change>> {
        if rv < self.compacted {
            return None;
        }
        let start = self.log.partition_point(|c| c.rv <= rv);
        Some(self.log.range(start..))
    }

    /// The objects of `kind` as they were at `rv`, sorted by key, after `after` if given;
    /// `None` if `rv` is older than the log reaches. Lazy: a page reads only what it sends.
    pub fn snapshot<'a>(
        &'a self,
        kind: Kind,
        rv: u64,
        after: Option<&Key>,
    ) -> Option<Snapshot<'a>> {
        let changes = self.changes_after(rv)?;
        let in_range = |key: &Key| key.kind == kind && after.is_none_or(|a| key > a);
        // The oldest change after `rv` of each key holds its state at `rv`.
        let mut undo: BTreeMap<&Key, Option<&Arc<Value>>> = BTreeMap::new();
        for change in changes.filter(|c| in_range(&c.key)) {
            undo.entry(&change.key).or_insert(change.prev.as_ref());
        }
        let lower = match after {
            Some(key) => Bound::Excluded(key.clone()),
            None => Bound::Included(Key {
                kind,
                namespace: String::new(),
                name: String::new(),
            }),
        };
        let current = self.objects.range((lower, Bound::Unbounded));
        Some(Snapshot::new(kind, current, undo))
    }

    fn next_uid(&mut self) -> Value {
        self.uids += 1;
        Value::String(format!("00000000-0000-4000-8000-{:012x}", self.uids))
    }
}

/// The object's key, and its fields without `kind`/`apiVersion`.
fn key_of(kind: Kind, object: Value) -> Result<(Key, Map<String, Value>)> {
    let Value::Object(mut fields) = object else {
        return Err(Error::InvalidObject(format!(
            "a {kind} must be a JSON object"
        )));
    };
    fields.remove("kind");
    fields.remove("apiVersion");
    let meta = match fields
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()))
    {
        Value::Object(meta) => meta,
        _ => {
            return Err(Error::InvalidObject(format!(
                "a {kind}'s metadata must be an object"
            )));
        }
    };
    let name = match meta.get("name").and_then(Value::as_str) {
        Some(name) if !name.is_empty() => name.to_owned(),
        _ => {
            return Err(Error::InvalidObject(format!(
                "a {kind} needs metadata.name"
            )));
        }
    };
    let namespace = if kind.namespaced() {
        let ns = meta
            .get("namespace")
            .and_then(Value::as_str)
            .filter(|ns| !ns.is_empty())
            .unwrap_or("default")
            .to_owned();
        meta.insert("namespace".into(), Value::String(ns.clone()));
        ns
    } else {
        meta.remove("namespace");
        String::new()
    };
    Ok((
        Key {
            kind,
            namespace,
            name,
        },
        fields,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(name: &str, port: u16) -> Value {
        json!({"kind": "Service", "metadata": {"name": name, "namespace": "ns"}, "spec": {"ports": [{"port": port}]}})
    }

    #[test]
    fn versions_grow_and_snapshots_go_back_in_time() {
        let mut store = Store::default();
        let v1 = store
            .put(Kind::Service, svc("a", 80), true, false)
            .expect("create a");
        let v2 = store
            .put(Kind::Service, svc("b", 80), true, false)
            .expect("create b");
        let v3 = store
            .put(Kind::Service, svc("a", 81), false, true)
            .expect("update a");
        let v4 = store.delete(Kind::Service, "ns", "b").expect("delete b");
        assert_eq!((v1, v2, v3, v4), (1, 2, 3, 4));
        let names = |snap: Snapshot<'_>| -> Vec<(String, Value)> {
            snap.map(|(k, v)| (k.name.clone(), v["spec"]["ports"][0]["port"].clone()))
                .collect()
        };
        let at2 = store.snapshot(Kind::Service, 2, None).expect("kept");
        assert_eq!(
            names(at2),
            [("a".into(), json!(80)), ("b".into(), json!(80))]
        );
        let now = store.snapshot(Kind::Service, 4, None).expect("kept");
        assert_eq!(names(now), [("a".into(), json!(81))]);
        assert!(
            store
                .snapshot(Kind::Node, 4, None)
                .expect("kept")
                .next()
                .is_none()
        );
        // Paging after "a" at version 2 still finds "b", deleted since.
        let a = Key {
            kind: Kind::Service,
            namespace: "ns".into(),
            name: "a".into(),
        };
        let after_a = store.snapshot(Kind::Service, 2, Some(&a)).expect("kept");
        assert_eq!(names(after_a), [("b".into(), json!(80))]);
        store.compact(3);
        assert!(store.snapshot(Kind::Service, 2, None).is_none());
        assert!(store.changes_after(2).is_none());
        assert_eq!(store.changes_after(3).expect("kept").count(), 1);
    }

    #[test]
    fn create_update_and_delete_refuse_what_does_not_fit() {
        let mut store = Store::default();
        store
            .put(Kind::Service, svc("a", 80), true, false)
            .expect("create");
        assert!(matches!(
            store.put(Kind::Service, svc("a", 80), true, false),
            Err(Error::AlreadyExists(_))
        ));
        assert!(matches!(
            store.put(Kind::Service, svc("z", 80), false, true),
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            store.delete(Kind::Service, "ns", "z"),
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            store.put(Kind::Service, json!({"metadata": {}}), true, true),
            Err(Error::InvalidObject(_))
        ));
        assert_eq!(store.rv(), 1, "refused changes take no version");
    }

    #[test]
    fn uid_survives_updates_and_kind_is_stripped() {
        let mut store = Store::default();
        store
            .put(
                Kind::Node,
                json!({"metadata": {"name": "n", "namespace": "x"}}),
                true,
                true,
            )
            .expect("apply");
        let key = Key {
            kind: Kind::Node,
            namespace: String::new(),
            name: "n".into(),
        };
        let uid = store.get(&key).expect("stored")["metadata"]["uid"].clone();
        store
            .put(
                Kind::Node,
                json!({"metadata": {"name": "n"}, "spec": {}}),
                true,
                true,
            )
            .expect("apply");
        let node = store.get(&key).expect("stored");
        assert_eq!(node["metadata"]["uid"], uid);
        assert_eq!(node["metadata"]["resourceVersion"], "2");
        assert!(node.get("kind").is_none());
        assert!(
            node["metadata"].get("namespace").is_none(),
            "nodes have no namespace"
        );
    }
}
