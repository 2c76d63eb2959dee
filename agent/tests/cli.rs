//! The command line and its validation: defaults, every flag, and each invalid input rejected
//! with an error naming the flag.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, Parser};
use ipnet::IpNet;
use proxy_core::model::IpFamily;
use svcproxy::cli::{Cli, SourceSpec};
use svcproxy::config::{
    Backend, Config, DatapathConfig, DemoConfig, IptablesVariant, NodePortAddresses, ProxyConfig,
    Source,
};
use svcproxy::duration::{format_duration, parse_duration};

/// Parses and validates a command line (without the program name); errors as the user sees
/// them (clap's, or the configuration's one line).
fn parse(args: &[&str]) -> Result<Config, String> {
    let cli = Cli::try_parse_from(std::iter::once("svcproxy").chain(args.iter().copied()))
        .map_err(|e| e.to_string())?;
    Config::try_from(cli).map_err(|e| e.to_string())
}

/// `sync` with the required flags, then `extra`.
fn sync(extra: &[&str]) -> Result<Config, String> {
    let mut args = vec!["--source", "file:/etc/svcproxy/cluster.yaml"];
    args.extend_from_slice(extra);
    sync_from(&args)
}

/// `sync` with the required flags but `--source`, then `extra`.
fn sync_from(extra: &[&str]) -> Result<Config, String> {
    let mut args = vec![
        "sync",
        "--backend",
        "nftables",
        "--node-name",
        "node-a",
        "--node-ip",
        "192.168.0.2",
    ];
    args.extend_from_slice(extra);
    parse(&args)
}

/// The proxy configuration of a `sync` command line, which must be valid.
fn sync_ok(extra: &[&str]) -> ProxyConfig {
    match sync(extra) {
        Ok(Config::Sync(config)) => config,
        other => panic!("{extra:?}: expected a sync configuration, got {other:?}"),
    }
}

/// `run` with the required flags, then `extra`.
fn run(extra: &[&str]) -> Result<Config, String> {
    let mut args = vec![
        "run",
        "--backend",
        "nftables",
        "--source",
        "file:cluster.yaml",
        "--node-name",
        "node-a",
        "--node-ip",
        "192.168.0.2",
    ];
    args.extend_from_slice(extra);
    parse(&args)
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("valid IP")
}

fn net(s: &str) -> IpNet {
    s.parse().expect("valid CIDR")
}

#[test]
fn clap_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn the_api_source_is_the_default_and_needs_no_node_ip() {
    let line = |s: &str| parse(&s.split_whitespace().collect::<Vec<_>>());
    let config = match line("run --backend nftables --hostname-override node-b") {
        Ok(Config::Run(run)) => run.proxy,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        config.source,
        Source::Kube {
            kubeconfig: None,
            master: None
        }
    );
    assert_eq!(config.node_name, "node-b");
    assert!(config.node_ips.is_empty(), "taken from the Node object");
    let config = match line(
        "sync --backend nftables --source kube --kubeconfig /k --master http://10.0.0.1:8080",
    ) {
        Ok(Config::Sync(sync)) => sync,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        config.source,
        Source::Kube {
            kubeconfig: Some(PathBuf::from("/k")),
            master: Some("http://10.0.0.1:8080".to_owned())
        }
    );
    assert!(!config.node_name.is_empty(), "the host name by default");
}

#[test]
fn sync_defaults() {
    let config = sync_ok(&[]);
    assert_eq!(
        config,
        ProxyConfig {
            source: Source::File(PathBuf::from("/etc/svcproxy/cluster.yaml")),
            allow_empty_source: false,
            node_name: "node-a".to_owned(),
            node_ips: vec![ip("192.168.0.2")],
            datapath: DatapathConfig {
                backend: Backend::Nftables,
                netns: None,
                cluster_cidrs: vec![],
                service_cidrs: vec![],
                nodeport_addresses: NodePortAddresses::Primary,
                detect_local: Default::default(),
                masquerade_all: false,
                iptables_variant: IptablesVariant::Auto,
                lock_wait: Duration::from_secs(5),
            },
        }
    );
    assert_eq!(config.families(), vec![IpFamily::V4]);
    assert_eq!(config.node_ip(IpFamily::V6), None);
    let node = config.node_info();
    assert_eq!(
        (node.name.as_str(), node.ips),
        ("node-a", vec![ip("192.168.0.2")])
    );
}

#[test]
fn sync_every_flag() {
    let config = sync_ok(&[
        "--node-ip",
        "fd00:50::1",
        "--cluster-cidr",
        "10.244.0.0/16",
        "--cluster-cidr",
        "fd00:244::/64",
        "--cluster-cidr",
        "10.244.0.0/16",
        "--service-cidr",
        "10.96.0.0/12",
        "--service-cidr",
        "fd00:96::/112",
        "--nodeport-addresses",
        "192.168.0.0/24, fd00:50::/64",
        "--masquerade-all",
        "--netns",
        "node1",
    ]);
    assert_eq!(config.node_ips, vec![ip("192.168.0.2"), ip("fd00:50::1")]);
    assert_eq!(config.families(), vec![IpFamily::V4, IpFamily::V6]);
    assert_eq!(config.node_ip(IpFamily::V6), Some(ip("fd00:50::1")));
    let dp = &config.datapath;
    // Duplicates are dropped, the order kept.
    assert_eq!(
        dp.cluster_cidrs,
        vec![net("10.244.0.0/16"), net("fd00:244::/64")]
    );
    assert_eq!(
        dp.service_cidrs,
        vec![net("10.96.0.0/12"), net("fd00:96::/112")]
    );
    assert_eq!(
        dp.nodeport_addresses,
        NodePortAddresses::Cidrs(vec![net("192.168.0.0/24"), net("fd00:50::/64")])
    );
    assert!(!dp.nodeport_addresses.all_local(ip("10.0.0.1")));
    assert!(dp.masquerade_all);
    assert_eq!(dp.netns.as_deref(), Some("node1"));
}

#[test]
fn ipv6_only_node() {
    let config = match parse(&[
        "sync",
        "--backend=nftables",
        "--source=file:c.yaml",
        "--node-name=node-a",
        "--node-ip=fd00:50::1",
        "--cluster-cidr=fd00:244::/64",
    ]) {
        Ok(Config::Sync(config)) => config,
        other => panic!("{other:?}"),
    };
    assert_eq!(config.families(), vec![IpFamily::V6]);
    assert_eq!(config.datapath.cluster_cidrs, vec![net("fd00:244::/64")]);
}

#[test]
fn nodeport_addresses_every_local_address() {
    let config = sync_ok(&[
        "--node-ip",
        "fd00::2",
        "--nodeport-addresses",
        "0.0.0.0/0,::/0",
    ]);
    let npa = &config.datapath.nodeport_addresses;
    assert!(npa.all_local(ip("10.0.0.1")));
    assert!(npa.all_local(ip("fd00::1")));
    assert_eq!(npa.to_string(), "0.0.0.0/0,::/0");
    let config = sync_ok(&["--nodeport-addresses", "primary"]);
    assert_eq!(
        config.datapath.nodeport_addresses,
        NodePortAddresses::Primary
    );
}

#[test]
fn dump_takes_the_flags_of_sync() {
    let config = parse(&[
        "dump",
        "--backend",
        "nftables",
        "--source",
        "file:c.yaml",
        "--node-name",
        "node-a",
        "--node-ip",
        "192.168.0.2",
        "--masquerade-all",
    ]);
    assert!(matches!(config, Ok(Config::Dump(c)) if c.datapath.masquerade_all));
}

#[test]
fn run_defaults_and_periods() {
    let Ok(Config::Run(config)) = run(&[]) else {
        panic!("run with the required flags must be valid");
    };
    assert_eq!(config.runner.min_sync_period, Duration::from_secs(1));
    assert_eq!(config.runner.sync_period, Duration::from_secs(30));
    let same_as_sync = ProxyConfig {
        source: Source::File(PathBuf::from("cluster.yaml")),
        allow_empty_source: false,
        ..sync_ok(&[])
    };
    assert_eq!(config.proxy, same_as_sync);

    let Ok(Config::Run(config)) = run(&["--min-sync-period", "500ms", "--sync-period", "1m30s"])
    else {
        panic!("valid periods");
    };
    assert_eq!(config.runner.min_sync_period, Duration::from_millis(500));
    assert_eq!(config.runner.sync_period, Duration::from_secs(90));

    // Equal periods are fine.
    assert!(run(&["--min-sync-period", "5s", "--sync-period", "5s"]).is_ok());

    // Zero: sync on every change, as kube-proxy accepts.
    for zero in ["0", "0s", "0ms"] {
        let Ok(Config::Run(config)) = run(&["--min-sync-period", zero]) else {
            panic!("--min-sync-period {zero} is valid");
        };
        assert_eq!(config.runner.min_sync_period, Duration::ZERO);
    }
}

#[test]
fn lock_wait_defaults_to_5s_for_the_commands_that_program() {
    let Ok(Config::Sync(config)) = sync(&[]) else {
        panic!("valid");
    };
    assert_eq!(config.datapath.lock_wait, Duration::from_secs(5));
    let Ok(Config::Run(config)) = run(&["--lock-wait", "250ms"]) else {
        panic!("valid");
    };
    assert_eq!(config.proxy.datapath.lock_wait, Duration::from_millis(250));
    let Ok(Config::Cleanup(config)) =
        parse(&["cleanup", "--backend", "iptables", "--lock-wait", "0"])
    else {
        panic!("valid");
    };
    assert_eq!(config.lock_wait, Duration::ZERO);
}

#[test]
fn cleanup_and_demo() {
    assert_eq!(
        parse(&["cleanup", "--backend", "nftables"]),
        Ok(Config::Cleanup(DatapathConfig::for_cleanup(
            Backend::Nftables,
            None
        )))
    );
    assert_eq!(
        parse(&["cleanup", "--backend", "nftables", "--netns", "n1"]),
        Ok(Config::Cleanup(DatapathConfig::for_cleanup(
            Backend::Nftables,
            Some("n1".to_owned())
        )))
    );
    let demo = Ok(Config::Demo(DemoConfig {
        backend: Backend::Nftables,
        iptables_variant: IptablesVariant::Auto,
    }));
    assert_eq!(parse(&["demo"]), demo);
    assert_eq!(parse(&["demo", "--backend", "nftables"]), demo);
}

#[test]
fn iptables_backend_and_variant() {
    for command in ["sync", "dump"] {
        let Ok(Config::Sync(config) | Config::Dump(config)) = parse(&[
            command,
            "--backend",
            "iptables",
            "--source",
            "file:/x",
            "--node-name",
            "n",
            "--node-ip",
            "10.0.0.1",
        ]) else {
            panic!("{command} --backend iptables");
        };
        assert_eq!(config.datapath.backend, Backend::Iptables);
        assert_eq!(config.datapath.iptables_variant, IptablesVariant::Auto);
    }
    let Ok(Config::Run(config)) = parse(&[
        "run",
        "--backend",
        "iptables",
        "--iptables-variant",
        "legacy",
        "--source",
        "file:/x",
        "--node-name",
        "n",
        "--node-ip",
        "10.0.0.1",
    ]) else {
        panic!("run --iptables-variant legacy");
    };
    assert_eq!(
        config.proxy.datapath.iptables_variant,
        IptablesVariant::Legacy
    );
    assert_eq!(
        parse(&[
            "cleanup",
            "--backend",
            "iptables",
            "--iptables-variant",
            "nft"
        ]),
        Ok(Config::Cleanup(DatapathConfig {
            iptables_variant: IptablesVariant::Nft,
            ..DatapathConfig::for_cleanup(Backend::Iptables, None)
        }))
    );
    assert_eq!(
        parse(&[
            "demo",
            "--backend",
            "iptables",
            "--iptables-variant",
            "legacy"
        ]),
        Ok(Config::Demo(DemoConfig {
            backend: Backend::Iptables,
            iptables_variant: IptablesVariant::Legacy,
        }))
    );
    let err = parse(&[
        "cleanup",
        "--backend",
        "iptables",
        "--iptables-variant",
        "both",
    ])
    .expect_err("not a variant");
    assert!(
        err.contains("auto") && err.contains("legacy") && err.contains("nft"),
        "{err}"
    );
}

#[test]
fn source_spec() {
    let parse = |s: &str| s.parse::<SourceSpec>();
    assert_eq!(
        parse("file:/a/b.yaml"),
        Ok(SourceSpec::File("/a/b.yaml".into()))
    );
    assert_eq!(
        parse("file:rel/c:d.yaml"),
        Ok(SourceSpec::File("rel/c:d.yaml".into()))
    );
    assert_eq!(
        parse("file:/a/b.yaml").map(|s| s.to_string()),
        Ok("file:/a/b.yaml".into())
    );
    let err = parse("https://api:6443").expect_err("unsupported scheme");
    assert!(
        err.contains("\"https\"") && err.contains("kube or file:PATH"),
        "{err}"
    );
    let err = parse("/a/b.yaml").expect_err("no scheme");
    assert!(err.contains("expected kube or file:PATH"), "{err}");
    assert_eq!(parse("kube"), Ok(SourceSpec::Kube));
    assert!(parse("file:").is_err());
}

#[test]
fn durations() {
    let ok = [
        ("0", Duration::ZERO),
        ("500ms", Duration::from_millis(500)),
        ("1s", Duration::from_secs(1)),
        ("30s", Duration::from_secs(30)),
        ("1.5s", Duration::from_millis(1500)),
        ("2m", Duration::from_secs(120)),
        ("1m30s", Duration::from_secs(90)),
        ("1h", Duration::from_secs(3600)),
        ("250us", Duration::from_micros(250)),
        ("10ns", Duration::from_nanos(10)),
    ];
    for (text, want) in ok {
        assert_eq!(parse_duration(text), Ok(want), "{text}");
    }
    for bad in [
        "", "30", "s", "1x", "-1s", "1.2.3s", "1s ", " 1s", ".s", "1 s",
    ] {
        assert!(parse_duration(bad).is_err(), "{bad:?} must be rejected");
    }
    for (d, text) in [
        (Duration::from_millis(500), "500ms"),
        (Duration::from_secs(1), "1s"),
        (Duration::from_secs(90), "1m30s"),
        (Duration::from_secs(3600), "1h"),
        (Duration::ZERO, "0s"),
    ] {
        assert_eq!(format_duration(d), text);
        assert_eq!(parse_duration(text), Ok(d));
    }
}

/// Every invalid command line, with the flag its error must name and a word of the reason.
/// `SYNC` and `RUN` stand for the subcommand with its required flags; `--flag=` gives an empty
/// value.
#[test]
fn invalid_command_lines_name_the_flag() {
    const SYNC: &str =
        "sync --backend nftables --source file:/c.yaml --node-name node-a --node-ip 192.168.0.2";
    const RUN: &str =
        "run --backend nftables --source file:/c.yaml --node-name node-a --node-ip 192.168.0.2";
    const BARE: &str = "sync --backend nftables --node-name n --node-ip 10.0.0.1";
    #[rustfmt::skip]
    let cases = [
        ("missing backend", "sync --source file:a --node-name n --node-ip 10.0.0.1", "--backend", "required"),
        ("unknown backend", "sync --backend ebpf --source file:a --node-name n --node-ip 10.0.0.1", "--backend", "ebpf"),
        ("demo unknown backend", "demo --backend ebpf", "--backend", "ebpf"),
        ("file without node ip", "sync --backend nftables --source file:a --node-name n", "--node-ip", "required with a file source"),
        ("kubeconfig with a file", "BARE --source file:a --kubeconfig k", "--kubeconfig", "--source kube only"),
        ("source scheme", "BARE --source http://x/y", "--source", "kube or file:PATH"),
        ("source without scheme", "BARE --source cluster.yaml", "--source", "file:PATH"),
        ("source without path", "BARE --source file:", "--source", "path"),
        ("empty node name", "sync --backend nftables --source file:a --node-name= --node-ip 10.0.0.1", "--node-name", "empty"),
        ("node name not DNS", "sync --backend nftables --source file:a --node-name Node_A --node-ip 10.0.0.1", "--node-name", "DNS"),
        ("missing node IP", "sync --backend nftables --source file:a --node-name n", "--node-ip", "required"),
        ("node IP syntax", "SYNC --node-ip node-a", "--node-ip", "not an IP"),
        ("two IPv4 node IPs", "SYNC --node-ip 192.168.0.3", "--node-ip", "twice for IPv4"),
        ("two IPv6 node IPs", "SYNC --node-ip fd00::1 --node-ip fd00::2", "--node-ip", "twice for IPv6"),
        ("unspecified node IP", "sync --backend nftables --source file:a --node-name n --node-ip 0.0.0.0", "--node-ip", "not a usable"),
        ("loopback node IP", "sync --backend nftables --source file:a --node-name n --node-ip ::1", "--node-ip", "not a usable"),
        ("cluster CIDR without prefix", "SYNC --cluster-cidr 10.244.0.0", "--cluster-cidr", "prefix length"),
        ("cluster CIDR syntax", "SYNC --cluster-cidr pods", "--cluster-cidr", "not a CIDR"),
        ("cluster CIDR host bits", "SYNC --cluster-cidr 10.244.1.0/16", "--cluster-cidr", "did you mean 10.244.0.0/16"),
        ("cluster CIDR of a family without node IP", "SYNC --cluster-cidr fd00:244::/64", "--cluster-cidr", "no --node-ip is"),
        ("service CIDR host bits", "SYNC --service-cidr 10.96.0.1/12", "--service-cidr", "host bits"),
        ("service CIDR of a family without node IP", "SYNC --service-cidr fd00:96::/112", "--service-cidr", "IPv6"),
        ("nodeport addresses mixed", "SYNC --nodeport-addresses primary,10.0.0.0/8", "--nodeport-addresses", "primary cannot be combined"),
        ("nodeport addresses empty entry", "SYNC --nodeport-addresses 10.0.0.0/8,", "--nodeport-addresses", "empty entry"),
        ("nodeport addresses syntax", "SYNC --nodeport-addresses all", "--nodeport-addresses", "not a CIDR"),
        ("nodeport addresses host bits", "SYNC --nodeport-addresses 192.168.0.2/24", "--nodeport-addresses", "host bits"),
        ("nodeport addresses of a family without node IP", "SYNC --nodeport-addresses 0.0.0.0/0,::/0", "--nodeport-addresses", "::/0"),
        ("nodeport addresses twice", "SYNC --nodeport-addresses primary --nodeport-addresses primary", "--nodeport-addresses", "multiple times"),
        ("netns with a slash", "SYNC --netns a/b", "--netns", "/run/netns"),
        ("netns empty", "SYNC --netns=", "--netns", "empty"),
        ("netns dot-dot", "cleanup --backend nftables --netns ..", "--netns", "namespace name"),
        ("cleanup netns with a slash", "cleanup --backend nftables --netns a/b", "--netns", "/run/netns"),
        ("masquerade-all takes no value", "SYNC --masquerade-all=yes", "--masquerade-all", "value"),
        ("zero sync period", "RUN --sync-period 0", "--sync-period", "more than 0"),
        ("sync period below the minimum", "RUN --min-sync-period 10s --sync-period 5s", "--sync-period", "shorter than --min-sync-period 10s"),
        ("period without unit", "RUN --sync-period 30", "--sync-period", "unit"),
        ("period syntax", "RUN --min-sync-period soon", "--min-sync-period", "invalid duration"),
        ("periods are for run only", "SYNC --sync-period 30s", "--sync-period", "unexpected argument"),
        ("cleanup takes no source", "cleanup --backend nftables --source file:a", "--source", "unexpected argument"),
        ("cleanup takes no node IP", "cleanup --backend nftables --node-ip 10.0.0.1", "--node-ip", "unexpected argument"),
        ("cleanup needs a backend", "cleanup", "--backend", "required"),
        ("demo takes no netns", "demo --netns x", "--netns", "unexpected argument"),
    ];
    for (what, line, flag, reason) in cases {
        let line = line
            .replace("SYNC", SYNC)
            .replace("RUN", RUN)
            .replace("BARE", BARE);
        let args: Vec<&str> = line.split(' ').collect();
        match parse(&args) {
            Ok(config) => panic!("{what}: accepted as {config:?}"),
            Err(err) => {
                assert!(
                    err.contains(flag),
                    "{what}: the error does not name {flag}: {err}"
                );
                assert!(
                    err.contains(reason),
                    "{what}: the error does not say {reason:?}: {err}"
                );
            }
        }
    }
}

#[test]
fn configuration_errors_are_one_line() {
    let err = sync(&["--node-ip", "192.168.0.3"]).expect_err("two IPv4 node IPs");
    assert_eq!(
        err,
        "--node-ip: given twice for IPv4 (192.168.0.2 and 192.168.0.3): give the node's primary IP once per family"
    );
    assert!(!err.contains('\n'));
}

/// The validated configuration round-trips through serde, durations and addresses as text.
#[test]
fn run_config_round_trips_through_serde() {
    let config = parse(&[
        "run",
        "--backend",
        "iptables",
        "--source",
        "file:/etc/svcproxy/cluster.yaml",
        "--node-ip",
        "192.168.0.2",
        "--cluster-cidr",
        "10.244.0.0/16",
        "--nodeport-addresses",
        "192.168.0.0/24,0.0.0.0/0",
        "--min-sync-period",
        "250ms",
    ])
    .expect("valid flags");
    let Config::Run(run) = config else {
        panic!("not a run configuration: {config:?}");
    };
    let json = serde_json::to_value(&run).expect("serializes");
    assert_eq!(json["runner"]["minSyncPeriod"], "250ms");
    assert_eq!(json["runner"]["syncPeriod"], "30s");
    assert_eq!(json["proxy"]["datapath"]["backend"], "iptables");
    assert_eq!(
        json["proxy"]["datapath"]["nodeportAddresses"],
        "192.168.0.0/24,0.0.0.0/0"
    );
    let back: svcproxy::config::RunConfig = serde_json::from_value(json).expect("deserializes");
    assert_eq!(back, run);
}
