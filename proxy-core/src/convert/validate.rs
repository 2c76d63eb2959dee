//! Field-level validation shared by the converters: IPs, CIDRs, ports and names.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

/// The longest DNS-1123 label (a namespace, a service name).
const MAX_LABEL_LEN: usize = 63;
/// The longest DNS-1123 subdomain (an EndpointSlice or Node name).
const MAX_SUBDOMAIN_LEN: usize = 253;
/// How much of an offending value a warning quotes.
const MAX_QUOTED_LEN: usize = 64;

/// Parses an IP address as kube-proxy does (Go's `ParseIPSloppy`): IPv4 octets may carry
/// leading zeros (read as decimal, as legacy objects may hold them), and an IPv4-mapped IPv6
/// address (`::ffff:a.b.c.d`) is the IPv4 address it maps.
pub(super) fn parse_ip(raw: &str) -> Result<IpAddr, String> {
    let ip = raw
        .parse::<IpAddr>()
        .ok()
        .or_else(|| parse_ipv4_leading_zeros(raw).map(IpAddr::V4))
        .ok_or_else(|| format!("{} is not an IP address", quoted(raw)))?;
    Ok(ip.to_canonical())
}

/// Parses a dotted-quad IPv4 address whose octets may have leading zeros (`010.0.0.1`).
fn parse_ipv4_leading_zeros(raw: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut fields = raw.split('.');
    for octet in &mut octets {
        let field = fields.next()?;
        if field.is_empty() || !field.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let digits = field.trim_start_matches('0');
        *octet = if digits.is_empty() {
            0
        } else {
            digits.parse().ok()?
        };
    }
    fields.next().is_none().then_some(Ipv4Addr::from(octets))
}

/// Parses a CIDR such as `10.0.0.0/8` (surrounding spaces allowed, host bits cleared, as Go's
/// `ParseCIDR`). A bare IP is not a CIDR: upstream rejects it too.
pub(super) fn parse_cidr(raw: &str) -> Result<IpNet, String> {
    let trimmed = raw.trim();
    let invalid = || format!("{} is not a CIDR (address/prefix-length)", quoted(raw));
    let (addr, len) = trimmed.split_once('/').ok_or_else(invalid)?;
    let addr = addr
        .parse::<IpAddr>()
        .ok()
        .or_else(|| parse_ipv4_leading_zeros(addr).map(IpAddr::V4))
        .ok_or_else(invalid)?;
    if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let len = len.parse::<u8>().map_err(|_| invalid())?;
    IpNet::new(addr, len)
        .map(|net| net.trunc())
        .map_err(|_| invalid())
}

/// A port number: 1 to 65535.
pub(super) fn port(raw: i32) -> Result<u16, String> {
    u16::try_from(raw)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("{raw} is not a port number (1-65535)"))
}

/// A DNS-1123 label: at most 63 lowercase alphanumerics or `-`, starting and ending with an
/// alphanumeric. Namespaces and service names (a superset of the older DNS-1035 rule for
/// service names, which Kubernetes relaxes) must be one.
pub(super) fn dns1123_label(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("missing".to_owned());
    }
    if name.len() > MAX_LABEL_LEN {
        return Err(format!(
            "{} is {} characters long, more than {MAX_LABEL_LEN}",
            quoted(name),
            name.len()
        ));
    }
    if !is_label(name) {
        return Err(format!(
            "{} is not a DNS-1123 label (lowercase letters, digits and '-', \
             starting and ending with a letter or digit)",
            quoted(name)
        ));
    }
    Ok(())
}

/// A DNS-1123 subdomain: at most 253 characters of dot-separated DNS-1123 labels. EndpointSlice
/// and Node names (`ip-10-0-0-1.ec2.internal`) must be one.
pub(super) fn dns1123_subdomain(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("missing".to_owned());
    }
    if name.len() > MAX_SUBDOMAIN_LEN {
        return Err(format!(
            "{} is {} characters long, more than {MAX_SUBDOMAIN_LEN}",
            quoted(name),
            name.len()
        ));
    }
    if !name.split('.').all(is_label) {
        return Err(format!(
            "{} is not a DNS-1123 subdomain (dot-separated lowercase labels)",
            quoted(name)
        ));
    }
    Ok(())
}

/// Whether `s` matches `[a-z0-9]([-a-z0-9]*[a-z0-9])?`.
fn is_label(s: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = s.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(&first), Some(&last)) => {
            alnum(first) && alnum(last) && bytes.iter().all(|&b| alnum(b) || b == b'-')
        }
        _ => false,
    }
}

/// An offending value for a warning: debug-quoted (so control characters are escaped) and cut
/// to a readable length.
pub(crate) fn quoted(raw: &str) -> String {
    if raw.chars().count() <= MAX_QUOTED_LEN {
        return format!("{raw:?}");
    }
    let head: String = raw.chars().take(MAX_QUOTED_LEN).collect();
    format!("{head:?}... ({} bytes)", raw.len())
}

/// A namespace or name fit for an [`crate::ObjectRef`]: control characters escaped, cut after
/// 253 characters.
pub(super) fn printable(raw: &str) -> String {
    let fits = raw.chars().count() <= MAX_SUBDOMAIN_LEN;
    if fits && !raw.chars().any(char::is_control) {
        return raw.to_owned();
    }
    let mut out: String = raw
        .chars()
        .take(MAX_SUBDOMAIN_LEN)
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect();
    if !fits {
        out.push_str(&format!("... ({} bytes)", raw.len()));
    }
    out
}
