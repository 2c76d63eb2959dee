//! The configuration's enums as clap values: their names and help, so `--help` lists them.

use clap::ValueEnum;
use clap::builder::PossibleValue;

use crate::config::{Backend, IptablesVariant};

impl ValueEnum for Backend {
    fn value_variants<'a>() -> &'a [Self] {
        &Backend::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        let help = match self {
            Backend::Nftables => "nf_tables, programmed over netlink",
            Backend::Iptables => {
                "iptables rules, applied with iptables-restore (legacy or nft, see \
                 --iptables-variant)"
            }
        };
        Some(PossibleValue::new(self.name()).help(help))
    }
}

impl ValueEnum for IptablesVariant {
    fn value_variants<'a>() -> &'a [Self] {
        &IptablesVariant::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        let help = match self {
            IptablesVariant::Auto => {
                "the one the node uses: the variant holding Kubernetes (or svcproxy) chains, \
                 else the one with more rules, else the one `iptables --version` reports"
            }
            IptablesVariant::Legacy => "iptables-legacy (the x_tables kernel API)",
            IptablesVariant::Nft => "iptables-nft (iptables rules stored in nf_tables)",
        };
        Some(PossibleValue::new(self.name()).help(help))
    }
}
