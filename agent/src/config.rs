//! The validated configuration: the command line cross-checked, with no system calls (nothing
//! here looks at the machine; the backend does when it opens).
//!
//! Every error names the flag at fault: `--node-ip: given twice for IPv4 (...)`.
//!
//! The families svcproxy programs are those of its `--node-ip` flags, so every CIDR flag
//! must only name families that have a node IP.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use proxy_core::model::{IpFamily, NodeInfo};
use proxy_core::runner::RunnerConfig;

use crate::cli::{
    Backend, CleanupArgs, Cli, Command, DemoArgs, IptablesVariant, NodePortAddresses, ProxyArgs,
    RunArgs, SourceSpec,
};
use crate::duration::format_duration;

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
    fn new(flag: &'static str, reason: impl Into<String>) -> Self {
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

impl TryFrom<Cli> for Config {
    type Error = ConfigError;

    fn try_from(cli: Cli) -> Result<Self, Self::Error> {
        Ok(match cli.command {
            Command::Sync(args) => Config::Sync(args.try_into()?),
            Command::Run(args) => Config::Run(args.try_into()?),
            Command::Dump(args) => Config::Dump(args.try_into()?),
            Command::Cleanup(args) => Config::Cleanup(args.try_into()?),
            Command::Demo(args) => Config::Demo(args.into()),
        })
    }
}

/// What the backend needs to know to program (or clean up) a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatapathConfig {
    /// The backend.
    pub backend: Backend,
    /// The network namespace to program (`/run/netns/NAME`), or the current one.
    pub netns: Option<String>,
    /// The pod network, normalized and deduplicated; empty: pod traffic cannot be told apart.
    pub cluster_cidrs: Vec<IpNet>,
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
    pub lock_wait: Duration,
}

impl DatapathConfig {
    /// The configuration of a backend that is only asked to clean up: no CIDRs, defaults.
    pub fn for_cleanup(backend: Backend, netns: Option<String>) -> Self {
        DatapathConfig {
            backend,
            netns,
            cluster_cidrs: Vec::new(),
            service_cidrs: Vec::new(),
            nodeport_addresses: NodePortAddresses::Primary,
            masquerade_all: false,
            iptables_variant: IptablesVariant::Auto,
            lock_wait: crate::lock::DEFAULT_WAIT,
        }
    }
}

/// The configuration of `sync`, `dump` and (with timing) `run`.
#[derive(Clone, Debug, PartialEq, Eq)]
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

impl TryFrom<ProxyArgs> for ProxyConfig {
    type Error = ConfigError;

    fn try_from(args: ProxyArgs) -> Result<Self, Self::Error> {
        let node_name = match args.node_name {
            Some(name) => name,
            None => host_name()?,
        };
        validate_node_name(&node_name)?;
        let source = match (args.source, args.kubeconfig, args.master) {
            (SourceSpec::Kube, kubeconfig, master) => Source::Kube { kubeconfig, master },
            (SourceSpec::File(path), None, None) => Source::File(path),
            (SourceSpec::File(_), _, _) => {
                return Err(ConfigError::new(
                    "--kubeconfig",
                    "--kubeconfig and --master apply to --source kube only",
                ));
            }
        };
        let node_ips = validate_node_ips(&args.node_ips, matches!(source, Source::Kube { .. }))?;
        // Without a --node-ip the Node object tells the families: every one is allowed here.
        let families: BTreeSet<IpFamily> = if node_ips.is_empty() {
            BTreeSet::from([IpFamily::V4, IpFamily::V6])
        } else {
            node_ips.iter().map(IpFamily::of).collect()
        };
        let cluster_cidrs = validate_cidrs("--cluster-cidr", &args.cluster_cidrs, &families)?;
        let service_cidrs = validate_cidrs("--service-cidr", &args.service_cidrs, &families)?;
        let nodeport_addresses = match args.nodeport_addresses {
            NodePortAddresses::Primary => NodePortAddresses::Primary,
            NodePortAddresses::Cidrs(cidrs) => {
                NodePortAddresses::Cidrs(validate_cidrs("--nodeport-addresses", &cidrs, &families)?)
            }
        };
        if let Some(name) = &args.netns {
            validate_netns(name)?;
        }
        Ok(ProxyConfig {
            source,
            allow_empty_source: args.allow_empty_source,
            node_name,
            node_ips,
            datapath: DatapathConfig {
                backend: args.backend,
                netns: args.netns,
                cluster_cidrs,
                service_cidrs,
                nodeport_addresses,
                masquerade_all: args.masquerade_all,
                iptables_variant: args.iptables_variant,
                lock_wait: args.lock_wait,
            },
        })
    }
}

/// Where the objects come from, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunConfig {
    /// The backend, source and node.
    pub proxy: ProxyConfig,
    /// The sync timing (`--min-sync-period`, `--sync-period`; default backoff).
    pub runner: RunnerConfig,
}

impl TryFrom<RunArgs> for RunConfig {
    type Error = ConfigError;

    fn try_from(args: RunArgs) -> Result<Self, Self::Error> {
        let proxy = args.proxy.try_into()?;
        // A zero --min-sync-period is valid (kube-proxy accepts it): every change is synced
        // as soon as it arrives, changes already queued joining that sync.
        if args.sync_period.is_zero() {
            return Err(ConfigError::new(
                "--sync-period",
                "must be more than 0, e.g. 30s",
            ));
        }
        if args.sync_period < args.min_sync_period {
            return Err(ConfigError::new(
                "--sync-period",
                format!(
                    "{} is shorter than --min-sync-period {}",
                    format_duration(args.sync_period),
                    format_duration(args.min_sync_period)
                ),
            ));
        }
        Ok(RunConfig {
            proxy,
            runner: RunnerConfig {
                min_sync_period: args.min_sync_period,
                sync_period: args.sync_period,
                ..RunnerConfig::default()
            },
        })
    }
}

impl TryFrom<CleanupArgs> for DatapathConfig {
    type Error = ConfigError;

    fn try_from(args: CleanupArgs) -> Result<Self, Self::Error> {
        if let Some(name) = &args.netns {
            validate_netns(name)?;
        }
        Ok(DatapathConfig {
            iptables_variant: args.iptables_variant,
            lock_wait: args.lock_wait,
            ..DatapathConfig::for_cleanup(args.backend, args.netns)
        })
    }
}

/// The configuration of `demo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoConfig {
    /// The backend to demonstrate.
    pub backend: Backend,
    /// Which `iptables` the iptables backend drives.
    pub iptables_variant: IptablesVariant,
}

impl From<DemoArgs> for DemoConfig {
    fn from(args: DemoArgs) -> Self {
        DemoConfig {
            backend: args.backend,
            iptables_variant: args.iptables_variant,
        }
    }
}

/// Checks that a node name is a DNS subdomain, as Kubernetes requires of node names.
fn validate_node_name(name: &str) -> Result<(), ConfigError> {
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
fn validate_node_ips(ips: &[IpAddr], from_node: bool) -> Result<Vec<IpAddr>, ConfigError> {
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
fn validate_cidrs(
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
fn host_name() -> Result<String, ConfigError> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").map_err(|e| {
        ConfigError::new(
            "--node-name",
            format!("not given, and the host name is unreadable: {e}"),
        )
    })?;
    Ok(name.trim().to_lowercase())
}

/// Checks a network namespace name: one path component under `/run/netns`.
fn validate_netns(name: &str) -> Result<(), ConfigError> {
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
