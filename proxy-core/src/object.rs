//! A Kubernetes object svcproxy reads: a Service, an EndpointSlice or a Node.

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::error::{ObjectKind, ObjectRef};

/// One object of a kind svcproxy watches.
#[derive(Clone, Debug, PartialEq)]
pub enum KubeObject {
    /// A `v1/Service`.
    Service(Box<Service>),
    /// A `discovery.k8s.io/v1/EndpointSlice`.
    EndpointSlice(Box<EndpointSlice>),
    /// A `v1/Node`.
    Node(Box<Node>),
}

impl KubeObject {
    /// The object's kind.
    pub fn kind(&self) -> ObjectKind {
        match self {
            KubeObject::Service(_) => ObjectKind::Service,
            KubeObject::EndpointSlice(_) => ObjectKind::EndpointSlice,
            KubeObject::Node(_) => ObjectKind::Node,
        }
    }

    /// The object's reference, for logs and errors.
    pub fn reference(&self) -> ObjectRef {
        let (kind, meta) = match self {
            KubeObject::Service(s) => (ObjectKind::Service, &s.metadata),
            KubeObject::EndpointSlice(s) => (ObjectKind::EndpointSlice, &s.metadata),
            KubeObject::Node(n) => (ObjectKind::Node, &n.metadata),
        };
        ObjectRef::new(
            kind,
            meta.namespace.clone().unwrap_or_default(),
            meta.name.clone().unwrap_or_default(),
        )
    }
}

impl From<Service> for KubeObject {
    fn from(s: Service) -> Self {
        KubeObject::Service(Box::new(s))
    }
}

impl From<EndpointSlice> for KubeObject {
    fn from(s: EndpointSlice) -> Self {
        KubeObject::EndpointSlice(Box::new(s))
    }
}

impl From<Node> for KubeObject {
    fn from(n: Node) -> Self {
        KubeObject::Node(Box::new(n))
    }
}
