//! Kernel tests of [`IptablesDatapath`] with both variants: real `ProxyState` values synced into
//! a fresh network namespace each, observed with `iptables-save` in that namespace, and the
//! restore inputs the datapath sent recorded by a wrapping runner.
//!
//! * a full sync programs every chain the planner promised, and the jump rules;
//! * a one-endpoint change rewrites only that service's chains (as many lines at 1000 services
//!   as at 100), and the kernel changes only there;
//! * cleanup removes our chains and jumps only: a foreign chain and rule survive;
//! * a refused restore leaves the previous rules intact, byte for byte, and names the line;
//!   the next sync is full and succeeds;
//! * a new datapath (a restart) deletes the chains an earlier run left and no longer needs;
//! * with `iptables-nft`, chunked documents program the same rules as one document.

use std::collections::BTreeSet;
use std::net::IpAddr;

use backend_iptables::Variant;
use backend_iptables::datapath::IptablesDatapath;
use backend_iptables::names;
use backend_iptables::plan::Config;
use backend_iptables::restore::Table;
use backend_iptables::runner::{CommandRunner, RestoreRunner, Restored};
use proxy_core::model::{
    Endpoint, IpFamily, NodeInfo, Protocol, ServicePort, ServicePortName, SessionAffinity,
    SourceRanges, TrafficPolicy,
};
use proxy_core::{Datapath, Delta, ProxyState, SyncMode, SyncReport};
use testkit::Netns;

use crate::common::{FOREIGN, FOREIGN6, foreign_lines, load, netns, runner, save};

const NODE: &str = "node-a";

fn ip(s: &str) -> IpAddr {
    s.parse().expect("an IP address")
}

/// A runner that records every restore input it passes on.
pub(crate) struct Recording {
    inner: CommandRunner,
    sent: Vec<(IpFamily, String)>,
}

impl RestoreRunner for Recording {
    fn variant(&self) -> Variant {
        self.inner.variant()
    }

    fn restore(&mut self, family: IpFamily, input: &str) -> backend_iptables::Result<Restored> {
        self.sent.push((family, input.to_owned()));
        self.inner.restore(family, input)
    }

    fn save(&mut self, family: IpFamily, table: Option<&str>) -> backend_iptables::Result<String> {
        self.inner.save(family, table)
    }

    fn list(
        &mut self,
        family: IpFamily,
        table: &str,
        chain: &str,
    ) -> backend_iptables::Result<String> {
        self.inner.list(family, table, chain)
    }
}

pub(crate) type Dp = IptablesDatapath<Recording>;

pub(crate) fn config() -> Config {
    Config {
        node: testkit::scenarios::node_config(testkit::scenarios::Setting::DualStack),
        chunk_chains: None,
    }
}

pub(crate) fn datapath(ns: &Netns, variant: Variant, config: Config) -> Dp {
    IptablesDatapath::with_runner(
        Recording {
            inner: runner(ns, variant),
            sent: Vec::new(),
        },
        config,
    )
}

pub(crate) fn block_on<T>(f: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
        .block_on(f)
}

pub(crate) fn sync(
    dp: &mut Dp,
    state: &ProxyState,
    delta: &Delta,
    mode: SyncMode,
) -> proxy_core::Result<SyncReport> {
    dp.runner_mut().sent.clear();
    block_on(dp.sync(state, delta, mode))
}

pub(crate) fn cleanup(dp: &mut Dp) -> proxy_core::Result<()> {
    block_on(dp.cleanup())
}

fn port_name(name: &str, proto: Protocol) -> ServicePortName {
    ServicePortName::new("default", name, "p", proto)
}

/// A state built from model values.
struct State(ProxyState);

impl State {
    fn new() -> Self {
        State(ProxyState {
            node: NodeInfo {
                ips: vec![ip("192.168.50.1"), ip("fd00:50::1")],
                ..NodeInfo::new(NODE)
            },
            ..ProxyState::default()
        })
    }

    fn service(
        mut self,
        name: &str,
        proto: Protocol,
        cluster_ip: &str,
        port: u16,
        f: impl FnOnce(&mut ServicePort),
    ) -> Self {
        let n = port_name(name, proto);
        let mut svc = ServicePort::new(n.clone(), ip(cluster_ip), port);
        f(&mut svc);
        self.0.services.insert(n, svc);
        self
    }

    /// Endpoints `(ip, port, local)`.
    fn endpoints(mut self, name: &str, proto: Protocol, eps: &[(&str, u16, bool)]) -> Self {
        let mut list: Vec<Endpoint> = eps
            .iter()
            .map(|(addr, port, local)| {
                let mut e = Endpoint::new(ip(addr), *port);
                e.is_local = *local;
                e.node_name = Some(if *local { NODE } else { "node-b" }.into());
                e
            })
            .collect();
        list.sort();
        self.0.endpoints.insert(port_name(name, proto), list);
        self
    }
}

/// Every kind of service the planner knows, dual-stack.
pub(crate) fn rich_state() -> ProxyState {
    State::new()
        .service("web", Protocol::Tcp, "10.96.0.10", 80, |s| {
            s.cluster_ips.push(ip("fd00:96::10"));
            s.node_port = Some(30080);
            s.external_ips = vec![ip("192.168.60.10")];
        })
        .endpoints(
            "web",
            Protocol::Tcp,
            &[
                ("10.244.0.2", 8080, true),
                ("10.244.1.3", 8080, false),
                ("10.244.1.4", 8080, false),
                ("fd00:244::2", 8080, true),
            ],
        )
        .service("empty", Protocol::Tcp, "10.96.0.12", 80, |s| {
            s.node_port = Some(30081);
        })
        .service("dns", Protocol::Udp, "10.96.0.53", 53, |_| {})
        .endpoints(
            "dns",
            Protocol::Udp,
            &[("10.244.1.6", 5353, false), ("10.244.0.7", 5353, true)],
        )
        .service("sig", Protocol::Sctp, "10.96.0.20", 3868, |_| {})
        .endpoints("sig", Protocol::Sctp, &[("10.244.1.8", 3868, false)])
        .service("lb", Protocol::Tcp, "10.96.0.30", 443, |s| {
            s.node_port = Some(30443);
            s.load_balancer_ips = vec![ip("203.0.113.10")];
            s.source_ranges = SourceRanges::Only(vec![
                "198.51.100.0/24".parse().expect("cidr"),
                "192.168.50.0/24".parse().expect("cidr"),
            ]);
        })
        .endpoints(
            "lb",
            Protocol::Tcp,
            &[("10.244.1.9", 8443, false), ("10.244.1.10", 8443, false)],
        )
        .service("local", Protocol::Tcp, "10.96.0.40", 80, |s| {
            s.node_port = Some(30040);
            s.external_traffic_policy = TrafficPolicy::Local;
            s.health_check_node_port = Some(32000);
        })
        .endpoints(
            "local",
            Protocol::Tcp,
            &[("10.244.0.11", 8080, true), ("10.244.1.12", 8080, false)],
        )
        .service("itp", Protocol::Tcp, "10.96.0.41", 80, |s| {
            s.internal_traffic_policy = TrafficPolicy::Local;
        })
        .endpoints("itp", Protocol::Tcp, &[("10.244.1.13", 8080, false)])
        .service("sticky", Protocol::Tcp, "10.96.0.50", 80, |s| {
            s.node_port = Some(30050);
            s.session_affinity = Some(SessionAffinity {
                timeout_seconds: 10_800,
            });
        })
        .endpoints(
            "sticky",
            Protocol::Tcp,
            &[("10.244.1.14", 8080, false), ("10.244.1.15", 8080, false)],
        )
        .0
}

/// `n` services of two endpoints each, `svc0` .. `svc{n-1}`.
fn many(n: usize) -> ProxyState {
    let mut s = State::new();
    for i in 0..n {
        let (hi, lo) = (i / 250, i % 250 + 1);
        let name = format!("svc{i}");
        let a = format!("10.244.{hi}.{lo}");
        let b = format!("10.245.{hi}.{lo}");
        s = s
            .service(
                &name,
                Protocol::Tcp,
                &format!("10.96.{hi}.{lo}"),
                80,
                |_| {},
            )
            .endpoints(
                &name,
                Protocol::Tcp,
                &[(&a, 8080, false), (&b, 8080, false)],
            );
    }
    s.0
}

/// Moves the first IPv4 endpoint of `name` (tcp) to `10.246.0.1`.
fn move_one_endpoint_of(state: &mut ProxyState, name: &str) -> Delta {
    let name = port_name(name, Protocol::Tcp);
    let eps = state.endpoints.get_mut(&name).expect("endpoints");
    let first = eps
        .iter_mut()
        .find(|e| e.ip.is_ipv4())
        .expect("an IPv4 endpoint");
    first.ip = ip("10.246.0.1");
    eps.sort();
    Delta {
        changed: [name].into(),
        ..Delta::default()
    }
}

/// Our chains in a save output, as `table/name`.
fn our_chains(save: &str) -> BTreeSet<String> {
    let mut table = "";
    let mut out = BTreeSet::new();
    for line in save.lines() {
        if let Some(t) = line.strip_prefix('*') {
            table = t;
        } else if let Some(decl) = line.strip_prefix(':') {
            let name = decl.split_whitespace().next().unwrap_or_default();
            if names::is_ours(name) {
                out.insert(format!("{table}/{name}"));
            }
        }
    }
    out
}

/// The chains the shadow records for `family`, as `table/name`.
fn shadow_chains(dp: &Dp, family: IpFamily) -> BTreeSet<String> {
    Table::ALL
        .into_iter()
        .flat_map(|t| {
            dp.shadow()
                .chains(family, t)
                .into_iter()
                .map(move |c| format!("{t}/{c}"))
        })
        .collect()
}

/// The chains a restore input declares (writes or deletes).
fn declared(input: &str) -> BTreeSet<String> {
    input
        .lines()
        .filter_map(|l| l.strip_prefix(':'))
        .map(|d| d.split_whitespace().next().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn full_sync_programs_every_chain_and_the_jumps() {
    for variant in Variant::ALL {
        let Some(ns) = netns("full_sync_programs_every_chain_and_the_jumps") else {
            return;
        };
        let mut dp = datapath(&ns, variant, config());
        let report =
            sync(&mut dp, &rich_state(), &Delta::default(), SyncMode::Full).expect("full sync");
        println!("{variant}: {report:?}");
        assert!(
            report.messages > 50 && report.objects_added > 50,
            "{report:?}"
        );
        for family in IpFamily::ALL {
            let text = save(&ns, variant, family);
            assert_eq!(
                our_chains(&text),
                shadow_chains(&dp, family),
                "{variant} {family}: the kernel holds the chains the plan promised\n{text}"
            );
            for (table_chain, target) in [
                ("-A PREROUTING", names::SERVICES),
                ("-A OUTPUT", names::SERVICES),
                ("-A POSTROUTING", names::POSTROUTING),
                ("-A FORWARD", names::FIREWALL),
                ("-A INPUT", names::FIREWALL),
            ] {
                assert!(
                    text.lines()
                        .any(|l| l.starts_with(table_chain) && l.ends_with(&format!("-j {target}"))),
                    "{variant} {family}: no jump {table_chain} -> {target}\n{text}"
                );
            }
        }
        let v4 = save(&ns, variant, IpFamily::V4);
        for dnat in [
            "--to-destination 10.244.1.3:8080",
            "--to-destination 10.244.1.6:5353",
            "--to-destination 10.244.1.8:3868",
        ] {
            assert!(v4.contains(dnat), "{variant}: {dnat} missing\n{v4}");
        }
        assert!(
            v4.contains("-m statistic --mode random --probability"),
            "{v4}"
        );
        assert!(v4.contains("--reject-with icmp-port-unreachable"), "{v4}");
        let v6 = save(&ns, variant, IpFamily::V6);
        assert!(
            v6.contains("--to-destination [fd00:244::2]:8080"),
            "{variant}\n{v6}"
        );

        // A second full sync changes nothing and inserts no jump twice.
        sync(&mut dp, &rich_state(), &Delta::default(), SyncMode::Full).expect("again");
        assert_eq!(
            save(&ns, variant, IpFamily::V4),
            v4,
            "{variant}: idempotent"
        );
    }
}

#[test]
fn one_endpoint_change_rewrites_only_that_services_chains() {
    for variant in Variant::ALL {
        let mut seen = Vec::new();
        for n in [100, 1000] {
            let Some(ns) = netns("one_endpoint_change_rewrites_only_that_services_chains") else {
                return;
            };
            let mut state = many(n);
            let mut dp = datapath(&ns, variant, config());
            let full = sync(&mut dp, &state, &Delta::default(), SyncMode::Full).expect("full");
            let before = save(&ns, variant, IpFamily::V4);
            let delta = move_one_endpoint_of(&mut state, "svc0");
            let partial = sync(&mut dp, &state, &delta, SyncMode::Partial).expect("partial");
            println!(
                "{variant} {n} services: full {full:?}\n{variant} {n} services: one endpoint changed: {partial:?}"
            );

            let svc0 = port_name("svc0", Protocol::Tcp);
            let svc = names::service_chain(names::Kind::Svc, &svc0);
            let old_sep = names::endpoint_chain(&svc0, "10.244.0.1:8080".parse().expect("addr"));
            let new_sep = names::endpoint_chain(&svc0, "10.246.0.1:8080".parse().expect("addr"));
            let sent = &dp.runner().sent;
            assert_eq!(
                sent.len(),
                1,
                "{variant}: one restore (IPv4 only changed): {sent:?}"
            );
            let (family, input) = &sent[0];
            assert_eq!(*family, IpFamily::V4);
            assert_eq!(
                declared(input),
                [svc.clone(), old_sep.clone(), new_sep.clone()].into(),
                "{variant}: only svc0's service chain and its old and new endpoint chains\n{input}"
            );
            assert!(input.contains(&format!("-X {old_sep}")), "{input}");
            assert!(
                !input.contains(names::SERVICES),
                "{variant}: dispatch untouched\n{input}"
            );

            // The kernel: the new endpoint in, the old one out, everything else as before.
            let after = save(&ns, variant, IpFamily::V4);
            assert!(
                after.contains("--to-destination 10.246.0.1:8080"),
                "{after}"
            );
            assert!(
                !after.contains("--to-destination 10.244.0.1:8080"),
                "{after}"
            );
            let others = |text: &str| -> Vec<String> {
                text.lines()
                    .filter(|l| {
                        ![svc.as_str(), old_sep.as_str(), new_sep.as_str()]
                            .iter()
                            .any(|c| l.contains(c))
                    })
                    .map(str::to_owned)
                    .collect()
            };
            assert!(
                others(&before) == others(&after),
                "{variant}: nothing else changed"
            );
            seen.push((partial.messages, partial.bytes));
        }
        assert_eq!(
            seen[0], seen[1],
            "{variant}: independent of the number of services (100 vs 1000)"
        );
    }
}

#[test]
fn cleanup_removes_only_our_chains() {
    for variant in Variant::ALL {
        let Some(ns) = netns("cleanup_removes_only_our_chains") else {
            return;
        };
        load(&ns, variant, IpFamily::V4, FOREIGN);
        load(&ns, variant, IpFamily::V6, FOREIGN6);
        let foreign = [IpFamily::V4, IpFamily::V6].map(|f| foreign_lines(&save(&ns, variant, f)));
        let mut dp = datapath(&ns, variant, config());
        cleanup(&mut dp).expect("cleanup with nothing of ours is fine");
        sync(&mut dp, &rich_state(), &Delta::default(), SyncMode::Full).expect("full sync");
        assert!(!our_chains(&save(&ns, variant, IpFamily::V6)).is_empty());

        cleanup(&mut dp).expect("cleanup");
        for (i, family) in [IpFamily::V4, IpFamily::V6].into_iter().enumerate() {
            let text = save(&ns, variant, family);
            assert!(
                !text.contains(names::PREFIX),
                "{variant} {family}: ours are gone\n{text}"
            );
            assert_eq!(
                foreign_lines(&text),
                foreign[i],
                "{variant} {family}: foreign intact"
            );
        }
        cleanup(&mut dp).expect("a second cleanup succeeds");

        // After a cleanup the datapath rebuilds everything, even when asked for a partial sync.
        sync(&mut dp, &rich_state(), &Delta::default(), SyncMode::Partial).expect("sync");
        assert_eq!(
            our_chains(&save(&ns, variant, IpFamily::V4)),
            shadow_chains(&dp, IpFamily::V4)
        );
    }
}

#[test]
fn a_refused_restore_leaves_the_previous_rules_intact() {
    for variant in Variant::ALL {
        let Some(ns) = netns("a_refused_restore_leaves_the_previous_rules_intact") else {
            return;
        };
        let mut state = rich_state();
        let mut dp = datapath(&ns, variant, config());
        sync(&mut dp, &state, &Delta::default(), SyncMode::Full).expect("full sync");
        let before = [IpFamily::V4, IpFamily::V6].map(|f| save(&ns, variant, f));

        let delta = move_one_endpoint_of(&mut state, "web");
        dp.inject_failure_next_sync();
        let err = sync(&mut dp, &state, &delta, SyncMode::Partial).expect_err("refused");
        let msg = err.to_string();
        println!("{variant}: refused: {msg}");
        assert!(msg.contains("SVCP-INJECTED-MISSING"), "{msg}");
        assert!(msg.contains(" at line "), "names the line: {msg}");
        assert!(err.is_retryable(), "{msg}");
        let after = [IpFamily::V4, IpFamily::V6].map(|f| save(&ns, variant, f));
        assert!(before == after, "{variant}: nothing changed");

        // The retry is full (whatever is asked) and succeeds.
        let report = sync(&mut dp, &state, &delta, SyncMode::Partial).expect("the retry");
        assert!(report.objects_added > 50, "a full sync: {report:?}");
        let text = save(&ns, variant, IpFamily::V4);
        assert!(text.contains("--to-destination 10.246.0.1:8080"), "{text}");
        assert_eq!(our_chains(&text), shadow_chains(&dp, IpFamily::V4));
    }
}

#[test]
fn a_restart_deletes_the_chains_it_no_longer_needs() {
    for variant in Variant::ALL {
        let Some(ns) = netns("a_restart_deletes_the_chains_it_no_longer_needs") else {
            return;
        };
        let mut first = datapath(&ns, variant, config());
        sync(&mut first, &rich_state(), &Delta::default(), SyncMode::Full).expect("full");
        drop(first);
        let mut fewer = rich_state();
        fewer.services.retain(|n, _| n.service.name == "web");
        fewer.endpoints.retain(|n, _| n.service.name == "web");
        let mut second = datapath(&ns, variant, config());
        sync(&mut second, &fewer, &Delta::default(), SyncMode::Full).expect("full");
        for family in IpFamily::ALL {
            let text = save(&ns, variant, family);
            assert_eq!(
                our_chains(&text),
                shadow_chains(&second, family),
                "{variant} {family}"
            );
            assert!(
                !text.contains("10.244.1.6"),
                "{variant}: dns is gone\n{text}"
            );
        }
    }
}

#[test]
fn chunked_documents_program_the_same_rules() {
    let Some(one) = netns("chunked_documents_program_the_same_rules") else {
        return;
    };
    let Some(chunked) = netns("chunked_documents_program_the_same_rules") else {
        return;
    };
    let state = many(50);
    let mut a = datapath(
        &one,
        Variant::Nft,
        Config {
            chunk_chains: Some(usize::MAX),
            ..config()
        },
    );
    let mut b = datapath(
        &chunked,
        Variant::Nft,
        Config {
            chunk_chains: Some(7),
            ..config()
        },
    );
    sync(&mut a, &state, &Delta::default(), SyncMode::Full).expect("one document");
    sync(&mut b, &state, &Delta::default(), SyncMode::Full).expect("chunks");
    let v4 = |dp: &Dp| {
        dp.runner()
            .sent
            .iter()
            .filter(|(f, _)| *f == IpFamily::V4)
            .count()
    };
    assert_eq!(v4(&a), 1, "one document per family");
    assert!(v4(&b) > 10, "{} documents", v4(&b));
    assert_eq!(
        save(&one, Variant::Nft, IpFamily::V4),
        save(&chunked, Variant::Nft, IpFamily::V4)
    );
}

#[test]
fn the_variant_decides_the_chunking() {
    let Some(ns) = netns("the_variant_decides_the_chunking") else {
        return;
    };
    let legacy = datapath(&ns, Variant::Legacy, config());
    let nft = datapath(&ns, Variant::Nft, config());
    assert_eq!(legacy.plan_config().chunk_chains, None);
    assert_eq!(
        nft.plan_config().chunk_chains,
        Some(backend_iptables::plan::NFT_CHUNK_CHAINS)
    );
}
