//! The command line checked into a [`Config`]: each flag's value goes through
//! [`crate::config::validate`], which names the flag at fault.

use std::collections::BTreeSet;

use proxy_core::model::IpFamily;
use proxy_core::runner::RunnerConfig;

use super::{CleanupArgs, Cli, Command, DemoArgs, ProxyArgs, RunArgs, SourceSpec};
use crate::config::validate;
use crate::config::{
    Config, ConfigError, DatapathConfig, DemoConfig, NodePortAddresses, ProxyConfig, RunConfig,
    Source,
};

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

impl TryFrom<ProxyArgs> for ProxyConfig {
    type Error = ConfigError;

    fn try_from(args: ProxyArgs) -> Result<Self, Self::Error> {
        let node_name = match args.node_name {
            Some(name) => name,
            None => validate::host_name()?,
        };
        validate::node_name(&node_name)?;
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
        let node_ips = validate::node_ips(&args.node_ips, matches!(source, Source::Kube { .. }))?;
        // Without a --node-ip the Node object tells the families: every one is allowed here.
        let families: BTreeSet<IpFamily> = if node_ips.is_empty() {
            BTreeSet::from([IpFamily::V4, IpFamily::V6])
        } else {
            node_ips.iter().map(IpFamily::of).collect()
        };
        let cluster_cidrs = validate::cidrs("--cluster-cidr", &args.cluster_cidrs, &families)?;
        let service_cidrs = validate::cidrs("--service-cidr", &args.service_cidrs, &families)?;
        let nodeport_addresses = match args.nodeport_addresses {
            NodePortAddresses::Primary => NodePortAddresses::Primary,
            NodePortAddresses::Cidrs(cidrs) => NodePortAddresses::Cidrs(validate::cidrs(
                "--nodeport-addresses",
                &cidrs,
                &families,
            )?),
        };
        if let Some(name) = &args.target.netns {
            validate::netns(name)?;
        }
        Ok(ProxyConfig {
            source,
            allow_empty_source: args.allow_empty_source,
            node_name,
            node_ips,
            datapath: DatapathConfig {
                backend: args.backend,
                netns: args.target.netns,
                cluster_cidrs,
                detect_local: args.detect_local_mode,
                service_cidrs,
                nodeport_addresses,
                masquerade_all: args.masquerade_all,
                iptables_variant: args.target.iptables_variant,
                lock_wait: args.target.lock_wait,
            },
        })
    }
}

impl TryFrom<RunArgs> for RunConfig {
    type Error = ConfigError;

    fn try_from(args: RunArgs) -> Result<Self, Self::Error> {
        let proxy = args.proxy.try_into()?;
        validate::sync_periods(args.min_sync_period, args.sync_period)?;
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
        if let Some(name) = &args.target.netns {
            validate::netns(name)?;
        }
        Ok(DatapathConfig {
            iptables_variant: args.target.iptables_variant,
            lock_wait: args.target.lock_wait,
            ..DatapathConfig::for_cleanup(args.backend, args.target.netns)
        })
    }
}

impl From<DemoArgs> for DemoConfig {
    fn from(args: DemoArgs) -> Self {
        DemoConfig {
            backend: args.backend,
            iptables_variant: args.iptables_variant,
        }
    }
}
