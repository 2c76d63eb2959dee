//! `discovery.k8s.io/v1/EndpointSlice` -> endpoints per service port.
//!
//! Follows kube-proxy's `endpointslicecache.go`: only `addresses[0]` of an endpoint counts, unset
//! conditions mean ready and not terminating, and each slice port yields the slice's endpoints
//! with that port number.

use std::net::IpAddr;

use k8s_openapi::api::discovery::v1::{Endpoint as K8sEndpoint, EndpointPort, EndpointSlice};

use super::{
    Conversion, HEADLESS_LABEL, Report, SERVICE_NAME_LABEL, SERVICE_PROXY_NAME_LABEL, SliceInfo,
    has_label, validate,
};
use crate::error::ObjectKind;
use crate::model::{Endpoint, IpFamily, Protocol, ServiceKey, ServicePortName};

/// Converts an EndpointSlice; `node_name` marks local endpoints. Ignored slices (FQDN, headless,
/// labelled for another proxy) yield `None` and no warning.
pub fn endpoint_slice(slice: &EndpointSlice, node_name: &str) -> Conversion<Option<SliceInfo>> {
    let mut report = Report::new(ObjectKind::EndpointSlice, &slice.metadata);
    let info = convert(slice, node_name, &mut report);
    report.finish(info)
}

/// The conversion proper; `None` when the slice is ignored or skipped.
fn convert(slice: &EndpointSlice, node_name: &str, report: &mut Report) -> Option<SliceInfo> {
    let meta = &slice.metadata;
    if has_label(meta, SERVICE_PROXY_NAME_LABEL) || has_label(meta, HEADLESS_LABEL) {
        return None;
    }
    if slice.address_type == "FQDN" {
        return None;
    }
    let (namespace, _) = super::namespaced_identity(meta, validate::dns1123_subdomain, report)?;
    let family = address_family(&slice.address_type, report)?;
    let service = ServiceKey::new(namespace, service_name(slice, report)?);
    let endpoints = endpoints(slice, family, node_name, report);
    let ports = ports(slice, report)
        .into_iter()
        .map(|p| {
            let port_name = ServicePortName {
                service: service.clone(),
                port: p.name,
                protocol: p.protocol,
            };
            (port_name, with_port(&endpoints, p.port))
        })
        .collect();
    Some(SliceInfo {
        service,
        family,
        ports,
    })
}

/// The family of `addressType` (`IPv4` or `IPv6`); anything else skips the slice.
fn address_family(address_type: &str, report: &mut Report) -> Option<IpFamily> {
    match address_type {
        "IPv4" => Some(IpFamily::V4),
        "IPv6" => Some(IpFamily::V6),
        other => {
            let reason = format!(
                "unknown address type {} (expected IPv4, IPv6 or FQDN)",
                validate::quoted(other)
            );
            report.skip_object("addressType", reason);
            None
        }
    }
}

/// The service the slice belongs to, from its `kubernetes.io/service-name` label; without a
/// valid one the slice is skipped.
fn service_name(slice: &EndpointSlice, report: &mut Report) -> Option<String> {
    let labels = slice.metadata.labels.as_ref();
    let raw = labels
        .and_then(|l| l.get(SERVICE_NAME_LABEL))
        .map_or("", String::as_str);
    match validate::dns1123_label(raw) {
        Ok(()) => Some(raw.to_owned()),
        Err(reason) => {
            report.skip_object(format!("metadata.labels[{SERVICE_NAME_LABEL}]"), reason);
            None
        }
    }
}

/// One valid entry of the slice's `ports`.
struct SlicePort {
    /// Its index in `ports`.
    index: usize,
    /// Its name (`""` when unset).
    name: String,
    /// Its protocol.
    protocol: Protocol,
    /// Its port number.
    port: u16,
}

/// The valid slice ports, in slice order.
fn ports(slice: &EndpointSlice, report: &mut Report) -> Vec<SlicePort> {
    super::keep_valid(slice.ports.iter().flatten(), |index, raw, kept| {
        valid_port(index, raw, kept, report)
    })
}

/// Validates `ports[index]`: its number (required), protocol (default TCP) and the uniqueness
/// of its (name, protocol).
fn valid_port(
    index: usize,
    raw: &EndpointPort,
    kept: &[SlicePort],
    report: &mut Report,
) -> Option<SlicePort> {
    let field = |leaf: &str| format!("ports[{index}].{leaf}");
    let Some(number) = raw.port else {
        report.drop_entry(
            field("port"),
            "missing (a port for all ports is not supported)",
        );
        return None;
    };
    let port = validate::port(number)
        .map_err(|reason| report.drop_entry(field("port"), reason))
        .ok()?;
    let protocol = super::protocol(raw.protocol.as_deref())
        .map_err(|reason| report.drop_entry(field("protocol"), reason))
        .ok()?;
    let name = raw.name.clone().unwrap_or_default();
    if let Some(first) = kept
        .iter()
        .find(|k| k.name == name && k.protocol == protocol)
    {
        let reason = format!(
            "duplicate port {}/{protocol}: ports[{}] has the same name and protocol",
            validate::quoted(&name),
            first.index
        );
        report.drop_entry(field("name"), reason);
        return None;
    }
    Some(SlicePort {
        index,
        name,
        protocol,
        port,
    })
}

/// The valid endpoints, in slice order, with port 0 (set per slice port by [`with_port`]).
fn endpoints(
    slice: &EndpointSlice,
    family: IpFamily,
    node_name: &str,
    report: &mut Report,
) -> Vec<Endpoint> {
    let entries = slice.endpoints.iter().flatten().enumerate();
    entries
        .filter_map(|(index, raw)| {
            let ip = endpoint_ip(index, raw, family, report)?;
            Some(endpoint(ip, raw, node_name))
        })
        .collect()
}

/// The IP of `endpoints[index]`: its first address, which must be an IP of the slice's family.
fn endpoint_ip(
    index: usize,
    raw: &K8sEndpoint,
    family: IpFamily,
    report: &mut Report,
) -> Option<IpAddr> {
    let Some(first) = raw.addresses.first() else {
        report.drop_entry(format!("endpoints[{index}].addresses"), "no address");
        return None;
    };
    let field = format!("endpoints[{index}].addresses[0]");
    let ip = validate::parse_ip(first)
        .map_err(|reason| report.drop_entry(field.clone(), reason))
        .ok()?;
    if !family.contains(&ip) {
        let reason = format!("wrong family: {ip} in an {family} slice");
        report.drop_entry(field, reason);
        return None;
    }
    Some(ip)
}

/// The model endpoint for a valid `raw` endpoint at `ip`, with its conditions and hints.
fn endpoint(ip: IpAddr, raw: &K8sEndpoint, node_name: &str) -> Endpoint {
    let conditions = raw.conditions.as_ref();
    let ready = conditions.and_then(|c| c.ready).unwrap_or(true);
    let hints = raw.hints.as_ref();
    let zone_hints = hints.and_then(|h| h.for_zones.as_ref());
    let node_hints = hints.and_then(|h| h.for_nodes.as_ref());
    Endpoint {
        ip,
        port: 0,
        ready,
        serving: conditions.and_then(|c| c.serving).unwrap_or(ready),
        terminating: conditions.and_then(|c| c.terminating).unwrap_or(false),
        is_local: !node_name.is_empty() && raw.node_name.as_deref() == Some(node_name),
        node_name: raw.node_name.clone(),
        zone: raw.zone.clone(),
        zone_hints: zone_hints
            .into_iter()
            .flatten()
            .map(|z| z.name.clone())
            .collect(),
        node_hints: node_hints
            .into_iter()
            .flatten()
            .map(|n| n.name.clone())
            .collect(),
    }
}

/// The endpoints with their port set to `port`.
fn with_port(endpoints: &[Endpoint], port: u16) -> Vec<Endpoint> {
    endpoints
        .iter()
        .map(|e| Endpoint { port, ..e.clone() })
        .collect()
}
