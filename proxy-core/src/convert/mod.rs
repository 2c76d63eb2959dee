//! Conversion of Kubernetes objects into the model, with upstream kube-proxy's filtering.
//!
//! Bad input never panics. It is dropped at the smallest level that keeps the rest correct: an
//! invalid list entry is dropped and the rest of the object used; an object whose identity or a
//! required field is invalid is skipped. Each drop is returned as an [`Error::Invalid`] naming
//! the object and the field (a JSON path such as `spec.ports[2].nodePort`).
//!
//! # Logging
//!
//! These functions do not log. Returning the warnings is their contract; the caller logs each
//! one once ([`crate::tracker::ChangeTracker::apply`] emits a `tracing::warn!` per warning).
//! Objects that are *ignored* by design (headless and ExternalName services, FQDN or headless
//! slices, objects labelled for another proxy) yield nothing and no warning, as in kube-proxy.
//!
//! # Names in warnings
//!
//! The [`ObjectRef`] of a warning carries the object's namespace and name as given, except that
//! control characters are escaped and names longer than 253 characters are cut (an invalid name
//! must not flood or forge log lines).
//!
//! # Deliberate deviations from upstream kube-proxy
//!
//! - Every given `loadBalancerSourceRanges` entry invalid: upstream allows every source (fails
//!   open); svcproxy allows none and says so with [`Dropped::FailedClosed`].
//! - Duplicate service or slice ports (same name and protocol): upstream's map keeps the last
//!   one; svcproxy keeps the first and warns about the later ones (the API forbids both).
//! - An endpoint's unset `conditions.serving` means "same as `ready`" (upstream: `true`); the two
//!   differ only for `ready: false` with `serving` unset, which svcproxy treats as not serving.
//! - A Service without `spec.clusterIP` but with `spec.clusterIPs` uses `spec.clusterIPs`
//!   (upstream skips it; the API server always sets both, so only hand-written manifests differ).

mod endpoint_slice;
mod node;
mod service;
pub(crate) mod validate;

pub use endpoint_slice::endpoint_slice;
pub use node::node;
pub use service::service;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::error::{Dropped, Error, ObjectKind, ObjectRef};
use crate::model::{Endpoint, IpFamily, Protocol, ServiceKey, ServicePortName};

/// The label that hands an object to a non-default service proxy; svcproxy, like kube-proxy with
/// no `serviceProxyName`, ignores objects that carry it.
pub const SERVICE_PROXY_NAME_LABEL: &str = "service.kubernetes.io/service-proxy-name";
/// The label that marks the EndpointSlices of headless services.
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";
/// The label naming the service an EndpointSlice belongs to.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The outcome of converting one object: what survived, and what was dropped on the way.
#[derive(Debug)]
pub struct Conversion<T> {
    /// What survived (an empty value or `None` when the object was skipped or ignored).
    pub value: T,
    /// One entry per drop, each naming the object and the field.
    pub warnings: Vec<Error>,
}

/// One EndpointSlice, converted: which service it feeds, and its endpoints per service port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SliceInfo {
    /// The service named by the slice's `kubernetes.io/service-name` label.
    pub service: ServiceKey,
    /// The slice's address family.
    pub family: IpFamily,
    /// For each valid slice port: the service port it serves and its endpoints (with the
    /// slice port's number), in slice order.
    pub ports: Vec<(ServicePortName, Vec<Endpoint>)>,
}

/// Collects the warnings of one object's conversion.
struct Report {
    /// The object every warning is about.
    object: ObjectRef,
    /// The warnings so far.
    warnings: Vec<Error>,
}

impl Report {
    /// An empty report about the object of `kind` described by `meta`.
    fn new(kind: ObjectKind, meta: &ObjectMeta) -> Self {
        let namespace = meta.namespace.as_deref().unwrap_or_default();
        let name = meta.name.as_deref().unwrap_or_default();
        Report {
            object: ObjectRef::new(
                kind,
                validate::printable(namespace),
                validate::printable(name),
            ),
            warnings: Vec::new(),
        }
    }

    /// Records that the list entry (or optional value) at `field` was dropped.
    fn drop_entry(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.push(field.into(), reason.into(), Dropped::Entry);
    }

    /// Records that the whole object was skipped because of `field`.
    fn skip_object(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.push(field.into(), reason.into(), Dropped::Object);
    }

    /// Records that the security list at `field` had no valid entry and now denies everything.
    fn fail_closed(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.push(field.into(), reason.into(), Dropped::FailedClosed);
    }

    /// Records one warning.
    fn push(&mut self, field: String, reason: String, dropped: Dropped) {
        self.warnings.push(Error::Invalid {
            object: self.object.clone(),
            field,
            reason,
            dropped,
        });
    }

    /// The conversion result: `value` with the warnings collected.
    fn finish<T>(self, value: T) -> Conversion<T> {
        Conversion {
            value,
            warnings: self.warnings,
        }
    }
}

/// Whether the object carries label `key` (with any value).
fn has_label(meta: &ObjectMeta, key: &str) -> bool {
    meta.labels.as_ref().is_some_and(|l| l.contains_key(key))
}

/// Checks a namespaced object's namespace and name (`name_ok` says what a valid name is);
/// `None`, with an object warning, when either is invalid.
fn namespaced_identity(
    meta: &ObjectMeta,
    name_ok: fn(&str) -> Result<(), String>,
    report: &mut Report,
) -> Option<(String, String)> {
    let namespace = meta.namespace.as_deref().unwrap_or_default();
    if let Err(reason) = validate::dns1123_label(namespace) {
        report.skip_object("metadata.namespace", reason);
        return None;
    }
    let name = meta.name.as_deref().unwrap_or_default();
    if let Err(reason) = name_ok(name) {
        report.skip_object("metadata.name", reason);
        return None;
    }
    Some((namespace.to_owned(), name.to_owned()))
}

/// Parses an optional Kubernetes protocol; unset (or empty) means TCP, as the API defaults it.
fn protocol(raw: Option<&str>) -> Result<Protocol, String> {
    match raw {
        None | Some("") => Ok(Protocol::Tcp),
        Some(s) => Protocol::from_k8s(s).ok_or_else(|| {
            format!(
                "unknown protocol {} (expected TCP, UDP or SCTP)",
                validate::quoted(s)
            )
        }),
    }
}

/// The entries of `raw` that `check` accepts, in order; `check` sees each entry's index and the
/// entries kept so far (for uniqueness checks).
fn keep_valid<'a, R: 'a, T>(
    raw: impl IntoIterator<Item = &'a R>,
    mut check: impl FnMut(usize, &R, &[T]) -> Option<T>,
) -> Vec<T> {
    let mut kept = Vec::new();
    for (index, entry) in raw.into_iter().enumerate() {
        if let Some(valid) = check(index, entry, &kept) {
            kept.push(valid);
        }
    }
    kept
}
