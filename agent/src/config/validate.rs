//! The checks behind [`super::Config`]: each names the flag (or field) at fault. None makes a
//! system call, except [`host_name`], which reads the host's name.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use proxy_core::model::IpFamily;

use super::ConfigError;
use crate::duration::format_duration;

/// Checks the sync timing: a period above zero and at least the minimum period (a zero
/// minimum is valid, as in kube-proxy: every change is synced as it arrives).
pub fn sync_periods(min_sync_period: Duration, sync_period: Duration) -> Result<(), ConfigError> {
    if sync_period.is_zero() {
        return Err(ConfigError::new(
            "--sync-period",
            "must be more than 0, e.g. 30s",
        ));
    }
    if sync_period < min_sync_period {
        return Err(ConfigError::new(
            "--sync-period",
            format!(
                "{} is shorter than --min-sync-period {}",
                format_duration(sync_period),
                format_duration(min_sync_period)
            ),
        ));
    }
    Ok(())
}

/// Checks that a node name is a DNS subdomain, as Kubernetes requires of node names.
pub fn node_name(name: &str) -> Result<(), ConfigError> {
    let bad = |reason: String| Err(ConfigError::new("--node-name", reason));
    if name.is_empty() {
        return bad("must not be empty".to_owned());
    }
    if name.len() > 253 {
        return bad(format!("{} characters, at most 253 allowed", name.len()));
    }
    let label_ok = |label: &str| {
        let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
        label.starts_with(alnum)
            && label.ends_with(alnum)
            && label.chars().all(|c| alnum(c) || c == '-')
    };
    if !name.split('.').all(label_ok) {
        return bad(format!(
            "{name:?} is not a valid node name (a DNS subdomain: lowercase letters, digits, '-' \
             and '.', starting and ending with a letter or digit)"
        ));
    }
    Ok(())
}

/// Checks the node IPs: usable unicast addresses, at most one per family.
pub fn node_ips(ips: &[IpAddr], from_node: bool) -> Result<Vec<IpAddr>, ConfigError> {
    let flag = "--node-ip";
    if ips.is_empty() && !from_node {
        return Err(ConfigError::new(
            flag,
            "required with a file source: give the node's primary IP (once per family)",
        ));
    }
    let mut seen: Vec<IpAddr> = Vec::new();
    for &ip in ips {
        if ip.is_unspecified() || ip.is_loopback() || ip.is_multicast() || is_broadcast(ip) {
            return Err(ConfigError::new(
                flag,
                format!(
                    "{ip} is not a usable node address (unspecified, loopback, multicast or broadcast)"
                ),
            ));
        }
        if let Some(other) = seen.iter().find(|o| IpFamily::of(o) == IpFamily::of(&ip)) {
            return Err(ConfigError::new(
                flag,
                format!(
                    "given twice for {} ({other} and {ip}): give the node's primary IP once per family",
                    IpFamily::of(&ip)
                ),
            ));
        }
        seen.push(ip);
    }
    Ok(seen)
}

/// Whether `ip` is the IPv4 limited broadcast address.
fn is_broadcast(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V4(v4) if v4.is_broadcast())
}

/// Checks a list of CIDRs: no host bits set, each of a family the node serves. Returns them
/// deduplicated, in the order given.
pub fn cidrs(
    flag: &'static str,
    cidrs: &[IpNet],
    families: &BTreeSet<IpFamily>,
) -> Result<Vec<IpNet>, ConfigError> {
    let mut out: Vec<IpNet> = Vec::new();
    for &net in cidrs {
        if net != net.trunc() {
            return Err(ConfigError::new(
                flag,
                format!("{net} has host bits set: did you mean {}?", net.trunc()),
            ));
        }
        let family = IpFamily::of(&net.addr());
        if !families.contains(&family) {
            return Err(ConfigError::new(
                flag,
                format!(
                    "{net} is {family} but no --node-ip is: svcproxy serves only the families \
                     of its --node-ip flags"
                ),
            ));
        }
        if !out.contains(&net) {
            out.push(net);
        }
    }
    Ok(out)
}

/// This host's name, the default node name (as kube-proxy's).
pub fn host_name() -> Result<String, ConfigError> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").map_err(|e| {
        ConfigError::new(
            "--node-name",
            format!("not given, and the host name is unreadable: {e}"),
        )
    })?;
    Ok(name.trim().to_lowercase())
}

/// Checks a network namespace name: one path component under `/run/netns`.
pub fn netns(name: &str) -> Result<(), ConfigError> {
    let bad = |reason: String| Err(ConfigError::new("--netns", reason));
    if name.is_empty() {
        return bad("must not be empty".to_owned());
    }
    if name == "." || name == ".." || name.contains(['/', '\0']) {
        return bad(format!(
            "{name:?} is not a namespace name (a name under /run/netns, without '/')"
        ));
    }
    if name.len() > 255 {
        return bad(format!("{} bytes, at most 255 allowed", name.len()));
    }
    Ok(())
}
