//! The configuration's small value types: the backend, the iptables variant, the node-port
//! addresses. Each parses from and prints as the text a flag or a config file holds, and
//! (de)serializes as that text.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// The datapath backends svcproxy can program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// nf_tables, programmed over netlink.
    Nftables,
    /// iptables rules, applied with `iptables-restore` (the legacy or the nft variant, see
    /// [`IptablesVariant`]).
    Iptables,
}

impl Backend {
    /// Every backend.
    pub const ALL: [Backend; 2] = [Backend::Nftables, Backend::Iptables];

    /// The backend's name, as flags and config files spell it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Nftables => "nftables",
            Backend::Iptables => "iptables",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Backend::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| format!("unknown backend {s:?}: nftables or iptables"))
    }
}

/// Which `iptables` the iptables backend drives (`--iptables-variant`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IptablesVariant {
    /// The one the node uses: the variant holding Kubernetes (or svcproxy) chains, else the one
    /// with more rules, else the one `iptables --version` reports.
    #[default]
    Auto,
    /// `iptables-legacy` (the x_tables kernel API).
    Legacy,
    /// `iptables-nft` (iptables rules stored in nf_tables).
    Nft,
}

impl IptablesVariant {
    /// Every variant.
    pub const ALL: [IptablesVariant; 3] = [
        IptablesVariant::Auto,
        IptablesVariant::Legacy,
        IptablesVariant::Nft,
    ];

    /// The variant's name, as flags and config files spell it.
    pub fn name(self) -> &'static str {
        match self {
            IptablesVariant::Auto => "auto",
            IptablesVariant::Legacy => "legacy",
            IptablesVariant::Nft => "nft",
        }
    }
}

impl fmt::Display for IptablesVariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for IptablesVariant {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IptablesVariant::ALL
            .into_iter()
            .find(|v| v.name() == s)
            .ok_or_else(|| format!("unknown iptables variant {s:?}: auto, legacy or nft"))
    }
}

/// The local addresses NodePorts are served on (`--nodeport-addresses`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum NodePortAddresses {
    /// `primary`: the primary node IPs (`--node-ip`), upstream nftables mode's default.
    #[default]
    Primary,
    /// `CIDR,..`: every local address within one of these CIDRs; `0.0.0.0/0` and `::/0` mean
    /// every local address of their family. Never loopback addresses.
    Cidrs(Vec<IpNet>),
}

impl NodePortAddresses {
    /// The CIDRs, if this is a list of CIDRs.
    pub fn cidrs(&self) -> &[IpNet] {
        match self {
            NodePortAddresses::Primary => &[],
            NodePortAddresses::Cidrs(cidrs) => cidrs,
        }
    }

    /// Whether every local address of the family of `family_of` is meant (`0.0.0.0/0` or
    /// `::/0` listed).
    pub fn all_local(&self, family_of: IpAddr) -> bool {
        self.cidrs()
            .iter()
            .any(|net| net.prefix_len() == 0 && net.addr().is_ipv4() == family_of.is_ipv4())
    }
}

impl FromStr for NodePortAddresses {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim() == "primary" {
            return Ok(NodePortAddresses::Primary);
        }
        let mut cidrs = Vec::new();
        for part in s.split(',').map(str::trim) {
            match part {
                "" => return Err("empty entry: expected primary or CIDR,CIDR,..".to_owned()),
                "primary" => {
                    return Err("primary cannot be combined with CIDRs".to_owned());
                }
                cidr => cidrs.push(parse_cidr(cidr)?),
            }
        }
        Ok(NodePortAddresses::Cidrs(cidrs))
    }
}

impl fmt::Display for NodePortAddresses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodePortAddresses::Primary => f.write_str("primary"),
            NodePortAddresses::Cidrs(cidrs) => {
                let list: Vec<String> = cidrs.iter().map(IpNet::to_string).collect();
                f.write_str(&list.join(","))
            }
        }
    }
}

/// Parses a CIDR (`10.244.0.0/16`, `fd00::/64`), with a message that says what is expected.
pub fn parse_cidr(s: &str) -> Result<IpNet, String> {
    IpNet::from_str(s).map_err(|_| {
        if s.parse::<IpAddr>().is_ok() {
            format!("{s:?} is an address, not a CIDR: add its prefix length, e.g. {s}/24")
        } else {
            format!("{s:?} is not a CIDR such as 10.244.0.0/16 or fd00::/64")
        }
    })
}

impl TryFrom<String> for NodePortAddresses {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<NodePortAddresses> for String {
    fn from(addresses: NodePortAddresses) -> String {
        addresses.to_string()
    }
}
