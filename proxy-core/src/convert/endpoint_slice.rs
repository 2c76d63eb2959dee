//! `discovery.k8s.io/v1/EndpointSlice` -> endpoints per service port.

use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::{Conversion, SliceInfo};

/// Converts an EndpointSlice; `node_name` marks local endpoints. Ignored slices (FQDN, headless,
/// labelled for another proxy) yield `None` and no warning.
pub fn endpoint_slice(slice: &EndpointSlice, node_name: &str) -> Conversion<Option<SliceInfo>> {
    let _ = (slice, node_name);
    todo!("endpoint slice conversion")
}
