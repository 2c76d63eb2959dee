//! The crate's one error type: conversion drops, manifest parse failures and datapath failures.

use std::fmt;

/// The kind of Kubernetes object an error or warning is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectKind {
    /// A `v1/Service`.
    Service,
    /// A `discovery.k8s.io/v1/EndpointSlice`.
    EndpointSlice,
    /// A `v1/Node`.
    Node,
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ObjectKind::Service => "Service",
            ObjectKind::EndpointSlice => "EndpointSlice",
            ObjectKind::Node => "Node",
        })
    }
}

/// Names one Kubernetes object in errors and logs: `Service ns/name`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectRef {
    /// What kind of object.
    pub kind: ObjectKind,
    /// Its namespace (empty for cluster-scoped objects such as Nodes).
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl ObjectRef {
    /// A reference to the object of `kind` named `namespace/name`.
    pub fn new(kind: ObjectKind, namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ObjectRef {
            kind,
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.kind, self.name)
        } else {
            write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// How much of an object a conversion problem cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dropped {
    /// One entry of a list (one IP, one range, one port, one endpoint) was dropped; the rest is used.
    Entry,
    /// The whole object was skipped.
    Object,
    /// Every entry of a security list was invalid; svcproxy fails closed (nothing is allowed)
    /// where upstream kube-proxy would fail open.
    FailedClosed,
}

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dropped::Entry => "entry dropped, rest of the object kept",
            Dropped::Object => "object skipped",
            Dropped::FailedClosed => {
                "no valid entry left: failing closed, traffic from every source is denied"
            }
        })
    }
}

/// Whether a datapath failure is worth retrying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Transient (a busy lock, a kernel `EBUSY`/`ENOBUFS`): retry with backoff.
    Retryable,
    /// Permanent (missing kernel support, bad configuration): retrying will not help.
    Fatal,
}

/// Errors of `proxy-core`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A field of a Kubernetes object is invalid; `dropped` says what was lost.
    #[error("{object}: field {field}: {reason} ({dropped})")]
    Invalid {
        /// The object the field belongs to.
        object: ObjectRef,
        /// The JSON path of the field, e.g. `spec.externalIPs[1]`.
        field: String,
        /// What is wrong with it.
        reason: String,
        /// What was dropped because of it.
        dropped: Dropped,
    },
    /// One document of a manifest text could not be read; the other documents are kept.
    #[error("document {index}: {reason}")]
    Manifest {
        /// The 0-based position of the document (or `List` item) in the text.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A source's text as a whole must not be applied (see [`crate::manifest::Unusable`]).
    #[error("refusing to apply the source: {0}")]
    Unusable(crate::manifest::Unusable),
    /// A datapath failed to sync or clean up.
    #[error("backend {backend}: {message}")]
    Datapath {
        /// The datapath's name.
        backend: String,
        /// Whether to retry.
        severity: Severity,
        /// What failed.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl Error {
    /// A retryable datapath failure of `backend`.
    pub fn retryable(backend: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Datapath {
            backend: backend.into(),
            severity: Severity::Retryable,
            message: message.into(),
            source: None,
        }
    }

    /// A fatal datapath failure of `backend`.
    pub fn fatal(backend: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Datapath {
            backend: backend.into(),
            severity: Severity::Fatal,
            message: message.into(),
            source: None,
        }
    }

    /// Whether retrying the operation may succeed. Only datapath failures can be retryable.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Datapath {
                severity: Severity::Retryable,
                ..
            }
        )
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
