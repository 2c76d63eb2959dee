//! Which local addresses serve node ports (`--nodeport-addresses`), and its text syntax.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// The local addresses node ports are served on.
///
/// As text (the `--nodeport-addresses` flag): `primary`, or CIDRs separated by commas.
/// Serialized as that text too.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum NodePortAddresses {
    /// `primary`: the node's primary IP of each family (kube-proxy nftables mode's default).
    #[default]
    Primary,
    /// `CIDR,..`: the local addresses inside one of these CIDRs; `0.0.0.0/0` and `::/0` stand
    /// for every local address of their family. Loopback addresses never serve node ports.
    Cidrs(Vec<IpNet>),
}

impl NodePortAddresses {
    /// The CIDRs; none for [`NodePortAddresses::Primary`].
    pub fn cidrs(&self) -> &[IpNet] {
        match self {
            NodePortAddresses::Primary => &[],
            NodePortAddresses::Cidrs(cidrs) => cidrs,
        }
    }

    /// Whether every local address of the family of `family_of` serves node ports (its
    /// `/0` is listed).
    pub fn all_local(&self, family_of: IpAddr) -> bool {
        self.cidrs()
            .iter()
            .any(|net| net.prefix_len() == 0 && net.addr().is_ipv4() == family_of.is_ipv4())
    }
}

/// Text that is not `primary` nor a list of CIDRs.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NodePortAddressesError {
    /// Nothing between two commas, or before or after one.
    #[error("empty entry: expected primary or CIDR,CIDR,..")]
    EmptyEntry,
    /// `primary` in a list of CIDRs.
    #[error("primary cannot be combined with CIDRs")]
    PrimaryWithCidrs,
    /// An address without its prefix length.
    #[error("{0:?} is an address, not a CIDR: add its prefix length, e.g. {0}/24")]
    AddressNotCidr(String),
    /// Neither a CIDR nor an address.
    #[error("{0:?} is not a CIDR such as 10.244.0.0/16 or fd00::/64")]
    NotCidr(String),
}

impl FromStr for NodePortAddresses {
    type Err = NodePortAddressesError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim() == "primary" {
            return Ok(NodePortAddresses::Primary);
        }
        s.split(',')
            .map(str::trim)
            .map(|entry| match entry {
                "" => Err(NodePortAddressesError::EmptyEntry),
                "primary" => Err(NodePortAddressesError::PrimaryWithCidrs),
                cidr => parse_cidr(cidr),
            })
            .collect::<Result<_, _>>()
            .map(NodePortAddresses::Cidrs)
    }
}

/// Parses one CIDR (`10.244.0.0/16`, `fd00::/64`); host bits are accepted here (the caller
/// may refuse them). The error says what is expected.
pub fn parse_cidr(s: &str) -> Result<IpNet, NodePortAddressesError> {
    s.parse().map_err(|_| {
        if s.parse::<IpAddr>().is_ok() {
            NodePortAddressesError::AddressNotCidr(s.to_owned())
        } else {
            NodePortAddressesError::NotCidr(s.to_owned())
        }
    })
}

impl fmt::Display for NodePortAddresses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodePortAddresses::Primary => f.write_str("primary"),
            NodePortAddresses::Cidrs(cidrs) => {
                for (i, cidr) in cidrs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{cidr}")?;
                }
                Ok(())
            }
        }
    }
}

impl TryFrom<String> for NodePortAddresses {
    type Error = NodePortAddressesError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<NodePortAddresses> for String {
    fn from(addresses: NodePortAddresses) -> String {
        addresses.to_string()
    }
}
