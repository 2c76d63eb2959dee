//! The configuration's small value types: the backend, the iptables variant, the node-port
//! addresses (proxy-core's). Each parses from and prints as the text a flag or a config file
//! holds, and (de)serializes as that text.

use std::fmt;
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

/// The local addresses NodePorts are served on (`--nodeport-addresses`): `primary` or
/// `CIDR,..`, as proxy-core parses it.
pub use proxy_core::policy::NodePortAddresses;

/// Parses a CIDR (`10.244.0.0/16`, `fd00::/64`), with a message that says what is expected.
pub fn parse_cidr(s: &str) -> Result<IpNet, String> {
    proxy_core::policy::parse_cidr(s).map_err(|e| e.to_string())
}
