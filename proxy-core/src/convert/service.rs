//! `v1/Service` -> service ports.
//!
//! Follows kube-proxy's `serviceToServiceMap` / `newBaseServiceInfo`: one service port per
//! `spec.ports` entry, sharing the service-level fields, with every address family in one value.

use std::net::IpAddr;

use ipnet::IpNet;
use k8s_openapi::api::core::v1::{LoadBalancerIngress, Service, ServiceSpec};

use super::{Conversion, Report, SERVICE_PROXY_NAME_LABEL, has_label, validate};
use crate::error::ObjectKind;
use crate::model::{
    DEFAULT_AFFINITY_TIMEOUT_SECONDS, IpFamily, Protocol, ServiceKey, ServicePort, ServicePortName,
    SessionAffinity, SourceRanges, TrafficDistribution, TrafficPolicy,
};

/// The longest ClientIP affinity timeout the API allows (one day).
const MAX_AFFINITY_TIMEOUT_SECONDS: u32 = 86_400;

/// Converts a Service into its service ports. Ignored services (headless, ExternalName,
/// labelled for another proxy) yield no ports and no warning; invalid ones yield no ports and a
/// warning; invalid entries are dropped with a warning each.
pub fn service(svc: &Service) -> Conversion<Vec<ServicePort>> {
    let mut report = Report::new(ObjectKind::Service, &svc.metadata);
    let ports = convert(svc, &mut report).unwrap_or_default();
    report.finish(ports)
}

/// The conversion proper; `None` when the service is ignored or skipped.
fn convert(svc: &Service, report: &mut Report) -> Option<Vec<ServicePort>> {
    let spec = svc.spec.as_ref()?;
    if is_ignored(svc, spec) {
        return None;
    }
    let (namespace, name) =
        super::namespaced_identity(&svc.metadata, validate::dns1123_label, report)?;
    let cluster_ips = cluster_ips(spec, report)?;
    let ports = ports(spec, report);
    if ports.is_empty() {
        if spec.ports.as_ref().is_some_and(|p| !p.is_empty()) {
            report.skip_object("spec.ports", "no valid port left");
        }
        return None;
    }
    let shared = shared_fields(svc, spec, cluster_ips, report);
    let key = ServiceKey::new(namespace, name);
    Some(
        ports
            .into_iter()
            .map(|p| p.service_port(&key, &shared))
            .collect(),
    )
}

/// Whether kube-proxy ignores the service by design: labelled for another proxy, ExternalName,
/// or without a cluster IP (headless), as upstream's `ShouldSkipService`.
fn is_ignored(svc: &Service, spec: &ServiceSpec) -> bool {
    has_label(&svc.metadata, SERVICE_PROXY_NAME_LABEL)
        || spec.type_.as_deref() == Some("ExternalName")
        || matches!(primary_cluster_ip(spec), "" | "None")
}

/// `spec.clusterIP`, or `spec.clusterIPs[0]` when `spec.clusterIP` is unset.
fn primary_cluster_ip(spec: &ServiceSpec) -> &str {
    match spec.cluster_ip.as_deref() {
        Some(ip) if !ip.is_empty() => ip,
        _ => spec
            .cluster_ips
            .as_ref()
            .and_then(|ips| ips.first())
            .map_or("", String::as_str),
    }
}

/// The valid cluster IPs, at most one per family, primary first; `None` (object skipped) when
/// none is valid.
fn cluster_ips(spec: &ServiceSpec, report: &mut Report) -> Option<Vec<IpAddr>> {
    let (list_field, candidates) = cluster_ip_candidates(spec, report);
    let families = spec.ip_families.as_deref().unwrap_or_default();
    let mut ips: Vec<IpAddr> = Vec::new();
    for (i, (field, raw)) in candidates.into_iter().enumerate() {
        match cluster_ip(raw, i, families, &ips) {
            Ok(ip) => ips.push(ip),
            Err(reason) => report.drop_entry(field, reason),
        }
    }
    if ips.is_empty() {
        report.skip_object(list_field, "no valid cluster IP left");
        return None;
    }
    Some(ips)
}

/// The cluster IPs to consider, each with its field: `spec.clusterIPs` when given (warning if
/// `spec.clusterIP` disagrees with its first entry), else `spec.clusterIP`.
fn cluster_ip_candidates<'a>(
    spec: &'a ServiceSpec,
    report: &mut Report,
) -> (&'static str, Vec<(String, &'a str)>) {
    let single = spec.cluster_ip.as_deref().filter(|ip| !ip.is_empty());
    let Some(list) = spec.cluster_ips.as_ref().filter(|l| !l.is_empty()) else {
        let only = single.map(|ip| ("spec.clusterIP".to_owned(), ip));
        return ("spec.clusterIP", only.into_iter().collect());
    };
    if let Some(ip) = single.filter(|ip| Some(*ip) != list.first().map(String::as_str)) {
        report.drop_entry(
            "spec.clusterIP",
            format!(
                "{} differs from spec.clusterIPs[0]; spec.clusterIPs is used",
                validate::quoted(ip)
            ),
        );
    }
    let entries = list.iter().enumerate();
    let candidates = entries
        .map(|(i, ip)| (format!("spec.clusterIPs[{i}]"), ip.as_str()))
        .collect();
    ("spec.clusterIPs", candidates)
}

/// Validates cluster IP number `i` against `spec.ipFamilies` (when given) and the IPs kept so
/// far (one per family).
fn cluster_ip(raw: &str, i: usize, families: &[String], kept: &[IpAddr]) -> Result<IpAddr, String> {
    let ip = validate::parse_ip(raw)?;
    let family = IpFamily::of(&ip);
    if !families.is_empty() {
        match families.get(i) {
            None => {
                return Err(format!(
                    "{family} cluster IP {ip} has no spec.ipFamilies[{i}] entry"
                ));
            }
            Some(declared) if *declared != family.to_string() => {
                return Err(format!(
                    "wrong family: {ip} is {family} but spec.ipFamilies[{i}] is {}",
                    validate::quoted(declared)
                ));
            }
            Some(_) => {}
        }
    }
    if kept.iter().any(|k| family.contains(k)) {
        return Err(format!(
            "wrong family: {ip} is a second {family} cluster IP (at most one per family)"
        ));
    }
    Ok(ip)
}

/// One valid `spec.ports` entry.
struct ValidPort {
    /// Its index in `spec.ports`.
    index: usize,
    /// Its name (`""` when unset).
    name: String,
    /// Its protocol.
    protocol: Protocol,
    /// Its port number.
    port: u16,
    /// Its node port, if any.
    node_port: Option<u16>,
}

impl ValidPort {
    /// The model's service port for this entry of service `key`.
    fn service_port(self, key: &ServiceKey, shared: &ServicePort) -> ServicePort {
        ServicePort {
            name: ServicePortName {
                service: key.clone(),
                port: self.name,
                protocol: self.protocol,
            },
            port: self.port,
            node_port: self.node_port,
            ..shared.clone()
        }
    }
}

/// The valid entries of `spec.ports`, in order.
fn ports(spec: &ServiceSpec, report: &mut Report) -> Vec<ValidPort> {
    super::keep_valid(spec.ports.iter().flatten(), |index, raw, kept| {
        valid_port(index, raw, kept, report)
    })
}

/// Validates `spec.ports[index]`: protocol, port number, uniqueness of (name, protocol), and
/// its node port (dropped alone when invalid).
fn valid_port(
    index: usize,
    raw: &k8s_openapi::api::core::v1::ServicePort,
    kept: &[ValidPort],
    report: &mut Report,
) -> Option<ValidPort> {
    let field = |leaf: &str| format!("spec.ports[{index}].{leaf}");
    let protocol = super::protocol(raw.protocol.as_deref())
        .map_err(|reason| report.drop_entry(field("protocol"), reason))
        .ok()?;
    let port = validate::port(raw.port)
        .map_err(|reason| report.drop_entry(field("port"), reason))
        .ok()?;
    let name = raw.name.clone().unwrap_or_default();
    if let Some(first) = kept
        .iter()
        .find(|k| k.name == name && k.protocol == protocol)
    {
        let reason = format!(
            "duplicate port {}/{protocol}: spec.ports[{}] has the same name and protocol",
            validate::quoted(&name),
            first.index
        );
        report.drop_entry(field("name"), reason);
        return None;
    }
    let node_port = match raw.node_port {
        None | Some(0) => None,
        Some(n) => validate::port(n)
            .map_err(|reason| report.drop_entry(field("nodePort"), reason))
            .ok(),
    };
    Some(ValidPort {
        index,
        name,
        protocol,
        port,
        node_port,
    })
}

/// The service-level fields every service port shares, as a service port whose name and port
/// are placeholders.
fn shared_fields(
    svc: &Service,
    spec: &ServiceSpec,
    cluster_ips: Vec<IpAddr>,
    report: &mut Report,
) -> ServicePort {
    let external_traffic_policy = external_traffic_policy(spec, report);
    ServicePort {
        name: ServicePortName::new("", "", "", Protocol::Tcp),
        cluster_ips,
        port: 0,
        node_port: None,
        external_ips: ip_list(spec.external_ips.as_deref(), "spec.externalIPs", report),
        load_balancer_ips: load_balancer_ips(svc, report),
        source_ranges: source_ranges(spec, report),
        session_affinity: session_affinity(spec, report),
        health_check_node_port: health_check_node_port(spec, external_traffic_policy, report),
        external_traffic_policy,
        internal_traffic_policy: traffic_policy(
            spec.internal_traffic_policy.as_deref(),
            "spec.internalTrafficPolicy",
            report,
        ),
        traffic_distribution: traffic_distribution(spec.traffic_distribution.as_deref()),
    }
}

/// The valid IPs of the list at `field`; each invalid one is dropped with a warning.
fn ip_list(raw: Option<&[String]>, field: &str, report: &mut Report) -> Vec<IpAddr> {
    let entries = raw.unwrap_or_default().iter().enumerate();
    entries
        .filter_map(|(i, ip)| {
            validate::parse_ip(ip)
                .map_err(|reason| report.drop_entry(format!("{field}[{i}]"), reason))
                .ok()
        })
        .collect()
}

/// The VIP-mode IPs of `status.loadBalancer.ingress`. Hostname-only ingresses and `Proxy`-mode
/// ones are not programmed (the load balancer, not the node, terminates their traffic).
fn load_balancer_ips(svc: &Service, report: &mut Report) -> Vec<IpAddr> {
    let ingress = svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_deref())
        .unwrap_or_default();
    let entries = ingress.iter().enumerate();
    entries
        .filter_map(|(i, ing)| load_balancer_ip(i, ing, report))
        .collect()
}

/// The IP of `status.loadBalancer.ingress[i]`, if it is to be programmed.
fn load_balancer_ip(i: usize, ing: &LoadBalancerIngress, report: &mut Report) -> Option<IpAddr> {
    let raw = ing.ip.as_deref().filter(|ip| !ip.is_empty())?;
    match ing.ip_mode.as_deref() {
        None | Some("VIP") => {}
        Some("Proxy") => return None,
        Some(other) => {
            let reason = format!(
                "unknown ipMode {} (expected VIP or Proxy): the ingress is not programmed",
                validate::quoted(other)
            );
            report.drop_entry(format!("status.loadBalancer.ingress[{i}].ipMode"), reason);
            return None;
        }
    }
    validate::parse_ip(raw)
        .map_err(|reason| report.drop_entry(format!("status.loadBalancer.ingress[{i}].ip"), reason))
        .ok()
}

/// `spec.loadBalancerSourceRanges`: `Any` when empty; the valid ranges otherwise, failing
/// closed (nothing allowed) when every given range is invalid.
fn source_ranges(spec: &ServiceSpec, report: &mut Report) -> SourceRanges {
    let raw = spec
        .load_balancer_source_ranges
        .as_deref()
        .unwrap_or_default();
    if raw.is_empty() {
        return SourceRanges::Any;
    }
    let nets: Vec<IpNet> = raw
        .iter()
        .enumerate()
        .filter_map(|(i, cidr)| {
            validate::parse_cidr(cidr)
                .map_err(|reason| {
                    report.drop_entry(format!("spec.loadBalancerSourceRanges[{i}]"), reason)
                })
                .ok()
        })
        .collect();
    if nets.is_empty() {
        report.fail_closed(
            "spec.loadBalancerSourceRanges",
            "every source range is invalid; upstream kube-proxy would allow every source, \
             svcproxy allows none",
        );
    }
    SourceRanges::Only(nets)
}

/// `spec.sessionAffinity`: `ClientIP` with its timeout, or none.
fn session_affinity(spec: &ServiceSpec, report: &mut Report) -> Option<SessionAffinity> {
    match spec.session_affinity.as_deref() {
        None | Some("" | "None") => None,
        Some("ClientIP") => Some(SessionAffinity {
            timeout_seconds: affinity_timeout(spec, report),
        }),
        Some(other) => {
            let reason = format!(
                "unknown session affinity {} (expected None or ClientIP); using None",
                validate::quoted(other)
            );
            report.drop_entry("spec.sessionAffinity", reason);
            None
        }
    }
}

/// `spec.sessionAffinityConfig.clientIP.timeoutSeconds`, defaulted when unset or invalid.
fn affinity_timeout(spec: &ServiceSpec, report: &mut Report) -> u32 {
    let raw = spec
        .session_affinity_config
        .as_ref()
        .and_then(|c| c.client_ip.as_ref())
        .and_then(|c| c.timeout_seconds);
    let Some(raw) = raw else {
        return DEFAULT_AFFINITY_TIMEOUT_SECONDS;
    };
    let valid = u32::try_from(raw)
        .ok()
        .filter(|t| (1..=MAX_AFFINITY_TIMEOUT_SECONDS).contains(t));
    valid.unwrap_or_else(|| {
        let reason = format!(
            "{raw} is not a timeout (1-{MAX_AFFINITY_TIMEOUT_SECONDS} seconds); \
             using {DEFAULT_AFFINITY_TIMEOUT_SECONDS}"
        );
        report.drop_entry("spec.sessionAffinityConfig.clientIP.timeoutSeconds", reason);
        DEFAULT_AFFINITY_TIMEOUT_SECONDS
    })
}

/// A traffic policy: unset or `Cluster` -> Cluster, `Local` -> Local, anything else (the API
/// never had another value) -> a warning and Cluster.
fn traffic_policy(raw: Option<&str>, field: &str, report: &mut Report) -> TrafficPolicy {
    match raw {
        None | Some("" | "Cluster") => TrafficPolicy::Cluster,
        Some("Local") => TrafficPolicy::Local,
        Some(other) => {
            let reason = format!(
                "unknown traffic policy {} (expected Cluster or Local); using Cluster",
                validate::quoted(other)
            );
            report.drop_entry(field, reason);
            TrafficPolicy::Cluster
        }
    }
}

/// `spec.externalTrafficPolicy`, which (as upstream's `ExternalPolicyLocal`) only applies to
/// NodePort and LoadBalancer services and services with external IPs.
fn external_traffic_policy(spec: &ServiceSpec, report: &mut Report) -> TrafficPolicy {
    let policy = traffic_policy(
        spec.external_traffic_policy.as_deref(),
        "spec.externalTrafficPolicy",
        report,
    );
    let externally_reachable = matches!(spec.type_.as_deref(), Some("NodePort" | "LoadBalancer"))
        || spec
            .external_ips
            .as_ref()
            .is_some_and(|ips| !ips.is_empty());
    if externally_reachable {
        policy
    } else {
        TrafficPolicy::Cluster
    }
}

/// `spec.healthCheckNodePort`, used (as upstream's `NeedsHealthCheck`) only by LoadBalancer
/// services with the Local external policy.
fn health_check_node_port(
    spec: &ServiceSpec,
    external_policy: TrafficPolicy,
    report: &mut Report,
) -> Option<u16> {
    let needed =
        spec.type_.as_deref() == Some("LoadBalancer") && external_policy == TrafficPolicy::Local;
    match spec.health_check_node_port {
        Some(raw) if needed && raw != 0 => validate::port(raw)
            .map_err(|reason| report.drop_entry("spec.healthCheckNodePort", reason))
            .ok(),
        _ => None,
    }
}

/// `spec.trafficDistribution`.
fn traffic_distribution(raw: Option<&str>) -> Option<TrafficDistribution> {
    Some(match raw? {
        "" => return None,
        "PreferClose" => TrafficDistribution::PreferClose,
        "PreferSameZone" => TrafficDistribution::PreferSameZone,
        "PreferSameNode" => TrafficDistribution::PreferSameNode,
        other => TrafficDistribution::Other(other.to_owned()),
    })
}
