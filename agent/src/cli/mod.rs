//! The command line, as typed values: what the user wrote, parsed but not yet cross-checked
//! ([`to_config`] checks it into a [`crate::config::Config`]). Only this module knows clap.
//!
//! Flags are a public interface: later work adds flags, never renames them.

mod to_config;
mod values;

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use ipnet::IpNet;

use crate::config::{Backend, IptablesVariant, LocalDetection, NodePortAddresses, parse_cidr};
use crate::duration::parse_duration;

/// svcproxy: a Kubernetes service proxy, a drop-in alternative to kube-proxy.
#[derive(Clone, Debug, Parser)]
#[command(name = "svcproxy", version, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Clone, Debug, Subcommand)]
pub enum Command {
    /// Program the node once from the source (one full sync), then exit.
    Sync(ProxyArgs),
    /// Keep the node in sync with the source, re-reading it when it changes, until SIGTERM or
    /// SIGINT; the rules stay in place on exit.
    Run(RunArgs),
    /// Print the planned ruleset in the backend's own syntax; touch nothing.
    Dump(ProxyArgs),
    /// Remove everything svcproxy programmed (idempotent; other tables are left alone).
    Cleanup(CleanupArgs),
    /// Build a sandbox of network namespaces, program example services in it, send traffic
    /// and print who answered, then remove the sandbox.
    Demo(DemoArgs),
}

/// Where the Kubernetes objects come from (`--source`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SourceSpec {
    /// `kube`: the API server (in-cluster, or `--kubeconfig` / `--master`).
    #[default]
    Kube,
    /// `file:PATH`: a file of Services, EndpointSlices and Nodes (multi-document YAML, JSON, or
    /// a `kubectl get -o yaml` List).
    File(PathBuf),
}

impl FromStr for SourceSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "kube" {
            return Ok(SourceSpec::Kube);
        }
        match s.split_once(':') {
            Some(("file", "")) => {
                Err("file: needs a path, as in file:/etc/svcproxy/cluster.yaml".to_owned())
            }
            Some(("file", path)) => Ok(SourceSpec::File(PathBuf::from(path))),
            Some((scheme, _)) if is_scheme(scheme) => {
                Err(format!("unsupported source {scheme:?}: kube or file:PATH"))
            }
            _ => Err(format!(
                "expected kube or file:PATH (a source with its scheme), e.g. file:{s}"
            )),
        }
    }
}

/// Whether `s` looks like a URI scheme (`file`, `https`, `k8s+api`), not like a path.
fn is_scheme(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

impl fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceSpec::Kube => f.write_str("kube"),
            SourceSpec::File(path) => write!(f, "file:{}", path.display()),
        }
    }
}

/// Parses an IP address, with a message that says what is expected.
fn parse_ip(s: &str) -> Result<IpAddr, String> {
    s.parse()
        .map_err(|_| format!("{s:?} is not an IP address such as 192.168.0.2 or fd00::2"))
}

/// The flags of `sync`, `run` and `dump`: the backend, the source and the node.
#[derive(Clone, Debug, Args)]
pub struct ProxyArgs {
    /// The datapath backend to program.
    #[arg(long, value_enum, value_name = "BACKEND")]
    pub backend: Backend,

    /// Where the Services, EndpointSlices and Nodes come from: `kube` (the API server), or
    /// file:PATH (multi-document YAML, JSON, or a `kubectl get -o yaml` List).
    #[arg(long, value_name = "kube|file:PATH", default_value = "kube")]
    pub source: SourceSpec,

    /// With --source kube: the kubeconfig file to reach the API server with (default: the
    /// in-cluster service account).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// With --source kube: the API server's URL, overriding the kubeconfig's.
    #[arg(long, value_name = "URL")]
    pub master: Option<String>,

    /// Apply a source that holds no objects, removing every service. Without it such a read
    /// is refused: an empty or half-written file must not empty the node.
    #[arg(long)]
    pub allow_empty_source: bool,

    /// This node's name (marks its local endpoints; its Node object, if the source has one,
    /// gives its labels); default: the host name. kube-proxy's `--hostname-override` is
    /// accepted for it.
    #[arg(long, alias = "hostname-override", value_name = "NAME")]
    pub node_name: Option<String>,

    /// The node's primary IP of a family; give it once per family the node serves (IPv4 and/or
    /// IPv6). Only those families are programmed. Required with a file source; with `kube`,
    /// the Node's addresses are used when none is given.
    #[arg(long = "node-ip", value_name = "IP", value_parser = parse_ip)]
    pub node_ips: Vec<IpAddr>,

    /// The cluster's pod network (repeatable): traffic from it is pod traffic; without any,
    /// pod traffic cannot be told apart from other traffic.
    #[arg(long = "cluster-cidr", value_name = "CIDR", value_parser = parse_cidr)]
    pub cluster_cidrs: Vec<IpNet>,

    /// How traffic from pods is told apart: `ClusterCIDR` (from --cluster-cidr) or `NodeCIDR`
    /// (from this node's pod CIDRs, the Node's `spec.podCIDRs`), as kube-proxy's flag.
    #[arg(
        long,
        value_name = "ClusterCIDR|NodeCIDR",
        default_value = "ClusterCIDR"
    )]
    pub detect_local_mode: LocalDetection,

    /// The cluster's service range (repeatable): traffic to an address of it that no service
    /// uses is dropped.
    #[arg(long = "service-cidr", value_name = "CIDR", value_parser = parse_cidr)]
    pub service_cidrs: Vec<IpNet>,

    /// The local addresses NodePorts are served on: `primary` (the --node-ip addresses), or a
    /// comma-separated list of CIDRs (0.0.0.0/0 and ::/0 mean every local address).
    #[arg(long, value_name = "primary|CIDR,..", default_value = "primary")]
    pub nodeport_addresses: NodePortAddresses,

    /// Masquerade (SNAT) all traffic to services, not only traffic that needs it.
    #[arg(long)]
    pub masquerade_all: bool,

    /// The namespace, the iptables variant and the lock wait.
    #[command(flatten)]
    pub target: TargetArgs,
}

/// Where `sync`, `run`, `dump` and `cleanup` work: the namespace, the iptables variant, and
/// how long to wait for another svcproxy there.
#[derive(Clone, Debug, Args)]
pub struct TargetArgs {
    /// Work in the network namespace /run/netns/NAME instead of the current one.
    #[arg(long, value_name = "NAME")]
    pub netns: Option<String>,

    /// With --backend iptables: which iptables, `legacy`, `nft`, or `auto` (to program: the
    /// one the node uses; to clean up: both).
    #[arg(long, value_enum, value_name = "auto|legacy|nft", default_value_t = IptablesVariant::Auto)]
    pub iptables_variant: IptablesVariant,

    /// How long to wait while another svcproxy (`run`, `sync` or `cleanup`) is programming
    /// the same network namespace, before giving up (e.g. 500ms, 5s).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub lock_wait: Duration,
}

/// The flags of `run`: those of `sync`, plus the sync timing.
#[derive(Clone, Debug, Args)]
pub struct RunArgs {
    /// The backend, source and node, as for `sync`.
    #[command(flatten)]
    pub proxy: ProxyArgs,

    /// The least time between two syncs: changes arriving sooner are batched (e.g. 500ms, 1s;
    /// 0: sync every change as it arrives).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub min_sync_period: Duration,

    /// The most time between two full syncs, which repair rules changed by someone else
    /// (e.g. 30s, 1m).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub sync_period: Duration,
}

/// The flags of `cleanup`.
#[derive(Clone, Debug, Args)]
pub struct CleanupArgs {
    /// The datapath backend whose rules to remove.
    #[arg(long, value_enum, value_name = "BACKEND")]
    pub backend: Backend,

    /// The namespace, the iptables variant and the lock wait.
    #[command(flatten)]
    pub target: TargetArgs,
}

/// The flags of `demo`.
#[derive(Clone, Debug, Args)]
pub struct DemoArgs {
    /// The datapath backend to demonstrate.
    #[arg(long, value_enum, value_name = "BACKEND", default_value = "nftables")]
    pub backend: Backend,
    /// With --backend iptables: which iptables to drive, `legacy`, `nft`, or `auto` (the one
    /// the node uses).
    #[arg(long, value_enum, value_name = "auto|legacy|nft", default_value_t = IptablesVariant::Auto)]
    pub iptables_variant: IptablesVariant,
}
