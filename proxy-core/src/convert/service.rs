//! `v1/Service` -> service ports.

use k8s_openapi::api::core::v1::Service;

use super::Conversion;
use crate::model::ServicePort;

/// Converts a Service into its service ports. Ignored services (headless, ExternalName,
/// labelled for another proxy) yield no ports and no warning; invalid ones yield no ports and a
/// warning; invalid entries are dropped with a warning each.
pub fn service(svc: &Service) -> Conversion<Vec<ServicePort>> {
    let _ = svc;
    todo!("service conversion")
}
