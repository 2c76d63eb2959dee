//! Conversion of Kubernetes objects into the model, with upstream kube-proxy's filtering.
//!
//! Bad input never panics. It is dropped at the smallest level that keeps the rest correct: an
//! invalid list entry is dropped and the rest of the object used; an object whose identity or a
//! required field is invalid is skipped. Each drop is returned as an [`Error::Invalid`] naming
//! the object and the field (and logged by the caller).

mod endpoint_slice;
mod node;
mod service;

pub use endpoint_slice::endpoint_slice;
pub use node::node;
pub use service::service;

use crate::error::Error;
use crate::model::{Endpoint, IpFamily, ServiceKey, ServicePortName};

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
