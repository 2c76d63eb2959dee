//! The validated configuration: domain types, with no command-line parsing in them (`cli`
//! parses flags into these) and no system calls (the backend looks at the machine when it
//! opens). They (de)serialize with serde, durations as text such as `1s` or `500ms`.
//!
//! Every error names the flag at fault: `--node-ip: given twice for IPv4 (...)`.
//!
//! The families svcproxy programs are those of its `--node-ip` flags, so every CIDR flag
//! must only name families that have a node IP.

pub mod kinds;
mod serde_duration;
pub mod validate;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use proxy_core::model::{IpFamily, NodeInfo};
use proxy_core::runner::RunnerConfig;
use serde::{Deserialize, Serialize};

pub use kinds::{Backend, IptablesVariant, NodePortAddresses, parse_cidr};
pub use proxy_core::policy::LocalDetection;

/// A flag with a value that cannot be used, or flags that contradict each other.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{flag}: {reason}")]
pub struct ConfigError {
    /// The flag at fault, e.g. `--node-ip`.
    pub flag: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    /// An error about `flag`.
    pub fn new(flag: &'static str, reason: impl Into<String>) -> Self {
        ConfigError {
            flag,
            reason: reason.into(),
        }
    }
}

/// What to do, validated: one variant per subcommand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Config {
    /// `sync`: one full sync.
    Sync(ProxyConfig),
    /// `run`: keep syncing until a signal.
    Run(RunConfig),
    /// `dump`: print the planned ruleset.
    Dump(ProxyConfig),
    /// `cleanup`: remove everything of ours.
    Cleanup(DatapathConfig),
    /// `demo`: the sandboxed demonstration.
    Demo(DemoConfig),
}

/// What the backend needs to know to program (or clean up) a node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatapathConfig {
    /// The backend.
    pub backend: Backend,
    /// The network namespace to program (`/run/netns/NAME`), or the current one.
    pub netns: Option<String>,
    /// The pod network, normalized and deduplicated; empty: pod traffic cannot be told apart.
    pub cluster_cidrs: Vec<IpNet>,
    /// Where the pod network comes from: `cluster_cidrs`, or the Node's pod CIDRs.
    #[serde(default)]
    pub detect_local: LocalDetection,
    /// The service ranges, normalized and deduplicated.
    pub service_cidrs: Vec<IpNet>,
    /// Where NodePorts are served.
    pub nodeport_addresses: NodePortAddresses,
    /// Whether to masquerade all service traffic.
    pub masquerade_all: bool,
    /// Which `iptables` the iptables backend drives (ignored by the others).
    pub iptables_variant: IptablesVariant,
    /// How long `sync`, `run` and `cleanup` wait for another svcproxy holding the namespace's
    /// instance lock (see [`crate::lock`]).
    #[serde(with = "serde_duration")]
    pub lock_wait: Duration,
}

impl DatapathConfig {
    /// The planners' node configuration; node IPs are left empty (the datapaths take them
    /// from the state's node at each sync).
    pub fn node_config(&self) -> proxy_core::policy::NodeConfig {
        proxy_core::policy::NodeConfig {
            node_ips: Vec::new(),
            cluster_cidrs: self.cluster_cidrs.clone(),
            detect_local: self.detect_local,
            service_cidrs: self.service_cidrs.clone(),
            nodeport_addresses: self.nodeport_addresses.clone(),
            masquerade_all: self.masquerade_all,
        }
    }

    /// The configuration of a backend that is only asked to clean up: no CIDRs, defaults.
    pub fn for_cleanup(backend: Backend, netns: Option<String>) -> Self {
        DatapathConfig {
            backend,
            netns,
            cluster_cidrs: Vec::new(),
            detect_local: LocalDetection::default(),
            service_cidrs: Vec::new(),
            nodeport_addresses: NodePortAddresses::Primary,
            masquerade_all: false,
            iptables_variant: IptablesVariant::Auto,
            lock_wait: crate::lock::DEFAULT_WAIT,
        }
    }
}

/// The configuration of `sync`, `dump` and (with timing) `run`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProxyConfig {
    /// Where the objects come from.
    pub source: Source,
    /// Whether a source without objects is applied (removing every service) instead of refused.
    pub allow_empty_source: bool,
    /// The node's name.
    pub node_name: String,
    /// The node's primary IPs, at most one per family, in the order given (the first one's
    /// family is the node's primary family).
    pub node_ips: Vec<IpAddr>,
    /// What the backend needs.
    pub datapath: DatapathConfig,
}

impl ProxyConfig {
    /// The node's primary IP of `family`, if it serves that family.
    pub fn node_ip(&self, family: IpFamily) -> Option<IpAddr> {
        self.node_ips.iter().copied().find(|ip| family.contains(ip))
    }

    /// The families the node serves, the primary one first.
    pub fn families(&self) -> Vec<IpFamily> {
        self.node_ips.iter().map(IpFamily::of).collect()
    }

    /// The node as the change tracker starts with it: its name and configured IPs (the Node
    /// object, if the source has one, adds its labels).
    pub fn node_info(&self) -> NodeInfo {
        NodeInfo {
            ips: self.node_ips.clone(),
            ..NodeInfo::new(self.node_name.clone())
        }
    }
}

/// Where the objects come from, validated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum Source {
    /// The API server: in-cluster, or through a kubeconfig, with an optional URL override.
    Kube {
        /// The kubeconfig file, if not in-cluster.
        kubeconfig: Option<PathBuf>,
        /// The API server's URL, overriding the kubeconfig's (or alone: no credentials).
        master: Option<String>,
    },
    /// A file of objects.
    File(PathBuf),
}

/// The configuration of `run`: that of `sync`, and the sync timing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunConfig {
    /// The backend, source and node.
    pub proxy: ProxyConfig,
    /// The sync timing (`--min-sync-period`, `--sync-period`; default backoff).
    #[serde(with = "serde_duration::timing")]
    pub runner: RunnerConfig,
}

/// The configuration of `demo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DemoConfig {
    /// The backend to demonstrate.
    pub backend: Backend,
    /// Which `iptables` the iptables backend drives.
    pub iptables_variant: IptablesVariant,
}
