//! [`Kind`]: the three resources the fake API server serves, with their names on the wire.

use std::fmt;

/// A resource kind the fake API server serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `v1` Service (namespaced).
    Service,
    /// `discovery.k8s.io/v1` EndpointSlice (namespaced).
    EndpointSlice,
    /// `v1` Node (cluster-scoped).
    Node,
}

impl Kind {
    /// Every kind served, in a fixed order.
    pub const ALL: [Kind; 3] = [Kind::Service, Kind::EndpointSlice, Kind::Node];

    /// The object kind, as in an object's `kind` field.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Service => "Service",
            Kind::EndpointSlice => "EndpointSlice",
            Kind::Node => "Node",
        }
    }

    /// The `apiVersion` of objects of this kind.
    pub fn api_version(self) -> &'static str {
        match self {
            Kind::Service | Kind::Node => "v1",
            Kind::EndpointSlice => "discovery.k8s.io/v1",
        }
    }

    /// The resource name in URL paths (`services`, ...).
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Service => "services",
            Kind::EndpointSlice => "endpointslices",
            Kind::Node => "nodes",
        }
    }

    /// Whether objects of this kind live in a namespace.
    pub fn namespaced(self) -> bool {
        !matches!(self, Kind::Node)
    }

    /// The `kind` of a list of these objects (`ServiceList`, ...).
    pub fn list_name(self) -> String {
        format!("{}List", self.name())
    }

    /// The kind of a k8s-openapi type, if the fake serves it.
    pub fn of<T: k8s_openapi::Resource>() -> Option<Kind> {
        Kind::from_type(T::API_VERSION, T::KIND)
    }

    /// The kind named by an `apiVersion` and a `kind`, if the fake serves it.
    pub fn from_type(api_version: &str, kind: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.api_version() == api_version && k.name() == kind)
    }

    /// The kind served under `group_version` (`v1`, `discovery.k8s.io/v1`) as `plural`.
    pub(crate) fn from_path(group_version: &str, plural: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.api_version() == group_version && k.plural() == plural)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::Kind;
    use k8s_openapi::api::core::v1::{Node, Pod, Service};
    use k8s_openapi::api::discovery::v1::EndpointSlice;

    #[test]
    fn kinds_of_k8s_openapi_types() {
        assert_eq!(Kind::of::<Service>(), Some(Kind::Service));
        assert_eq!(Kind::of::<EndpointSlice>(), Some(Kind::EndpointSlice));
        assert_eq!(Kind::of::<Node>(), Some(Kind::Node));
        assert_eq!(Kind::of::<Pod>(), None);
    }

    #[test]
    fn paths() {
        assert_eq!(
            Kind::from_path("discovery.k8s.io/v1", "endpointslices"),
            Some(Kind::EndpointSlice)
        );
        assert_eq!(Kind::from_path("v1", "endpointslices"), None);
        assert_eq!(Kind::Node.list_name(), "NodeList");
    }
}
