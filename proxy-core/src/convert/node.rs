//! `v1/Node` -> node info.
//!
//! The node's IPs follow upstream's `GetNodeHostIPs`: InternalIPs first, then ExternalIPs; the
//! first of those is the primary IP, and the first of the other family (if any) the secondary.
//! The pod CIDRs come from `spec.podCIDRs` (or the older single `spec.podCIDR`).

use std::net::IpAddr;

use ipnet::IpNet;

use k8s_openapi::api::core::v1::Node;

use super::{Conversion, Report, validate};
use crate::error::ObjectKind;
use crate::model::{IpFamily, NodeInfo};

/// The address types that give a node IP, in order of preference.
const IP_ADDRESS_TYPES: [&str; 2] = ["InternalIP", "ExternalIP"];

/// Converts a Node: its name, its InternalIP addresses (then ExternalIP), its labels, its pod
/// CIDRs and whether it is being deleted.
pub fn node(node: &Node) -> Conversion<Option<NodeInfo>> {
    let mut report = Report::new(ObjectKind::Node, &node.metadata);
    let info = convert(node, &mut report);
    report.finish(info)
}

/// The conversion proper; `None` when the node's name is invalid.
fn convert(node: &Node, report: &mut Report) -> Option<NodeInfo> {
    let name = node.metadata.name.as_deref().unwrap_or_default();
    if let Err(reason) = validate::dns1123_subdomain(name) {
        report.skip_object("metadata.name", reason);
        return None;
    }
    Some(NodeInfo {
        name: name.to_owned(),
        ips: primary_ips(&candidate_ips(node, report)),
        labels: node.metadata.labels.clone().unwrap_or_default(),
        pod_cidrs: pod_cidrs(node, report),
        deleting: node.metadata.deletion_timestamp.is_some(),
    })
}

/// The node's pod CIDRs: `spec.podCIDRs`, or `spec.podCIDR` when the list is absent (older
/// API servers); each invalid one is dropped with a warning.
fn pod_cidrs(node: &Node, report: &mut Report) -> Vec<IpNet> {
    let Some(spec) = node.spec.as_ref() else {
        return Vec::new();
    };
    let (field, raw): (&str, Vec<&String>) = match (&spec.pod_cidrs, &spec.pod_cidr) {
        (Some(list), _) if !list.is_empty() => ("spec.podCIDRs", list.iter().collect()),
        (_, Some(one)) if !one.is_empty() => ("spec.podCIDR", vec![one]),
        _ => return Vec::new(),
    };
    let mut cidrs = Vec::new();
    for (i, text) in raw.into_iter().enumerate() {
        let at = if field == "spec.podCIDRs" {
            format!("{field}[{i}]")
        } else {
            field.to_owned()
        };
        match validate::parse_cidr(text) {
            Ok(net) if !cidrs.contains(&net) => cidrs.push(net),
            Ok(_) => {}
            Err(reason) => report.drop_entry(at, reason),
        }
    }
    cidrs
}

/// The node's InternalIP then ExternalIP addresses, in status order within each type; each
/// invalid one is dropped with a warning. Other address types (Hostname...) are not IPs.
fn candidate_ips(node: &Node, report: &mut Report) -> Vec<IpAddr> {
    let addresses = node.status.as_ref().and_then(|s| s.addresses.as_deref());
    let addresses = addresses.unwrap_or_default();
    let mut ips = Vec::new();
    for wanted in IP_ADDRESS_TYPES {
        for (i, addr) in addresses.iter().enumerate() {
            if addr.type_ != wanted {
                continue;
            }
            match validate::parse_ip(&addr.address) {
                Ok(ip) => ips.push(ip),
                Err(reason) => report.drop_entry(format!("status.addresses[{i}].address"), reason),
            }
        }
    }
    ips
}

/// The primary IP (the first candidate) and, when there is one, the first candidate of the other
/// family.
fn primary_ips(candidates: &[IpAddr]) -> Vec<IpAddr> {
    let Some(&primary) = candidates.first() else {
        return Vec::new();
    };
    let primary_family = IpFamily::of(&primary);
    let secondary = candidates.iter().find(|ip| !primary_family.contains(ip));
    std::iter::once(primary).chain(secondary.copied()).collect()
}
