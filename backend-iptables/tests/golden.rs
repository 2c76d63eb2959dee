//! Golden tests of the iptables planner, for the same scenarios as backend-nft's golden tests:
//! each is planned as a full sync and rendered as the `iptables-restore` input of each family,
//! compared with `tests/golden/<case>.rules` (`UPDATE_GOLDEN=1` rewrites the files).
//!
//! Partial syncs and chunking are checked against a small in-memory model of
//! `iptables-restore --noflush` (below: a jump or a rule must name an existing chain, a deleted
//! chain must be unreferenced, each table section commits as a whole): a one-endpoint change
//! writes exactly the service's changed chains; any sequence of partial syncs ends where a
//! full sync would; every chunk of a chunked plan is valid on its own. As root, the kernel
//! accepts every golden and a chunked plan with both `iptables-legacy-restore` and
//! `iptables-nft-restore` in a throwaway network namespace.
//!
//! Addresses follow testkit's plan: pods `10.244.0.0/16` / `fd00:244::/64`, services
//! `10.96.0.0/16` / `fd00:96::/112`, node `192.168.50.1` / `fd00:50::1`; external IPs
//! `192.168.60.x`, load balancers `203.0.113.x`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::net::IpAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use backend_iptables::Variant;
use backend_iptables::names::{self, Kind};
use backend_iptables::plan::{self, Config, NodePortAddresses, Plan, Shadow};
use backend_iptables::restore::Table;
use proxy_core::NodeConfig;
use proxy_core::model::{
    Endpoint, IpFamily, Protocol, ServicePort, ServicePortName, SessionAffinity, SourceRanges,
    TrafficPolicy,
};
use proxy_core::{Delta, ProxyState, SyncMode};
use testkit::golden::diff;
use testkit::scenarios::{Scenario, Setting, ip, node_config, port_name, web3};

fn config() -> Config {
    config_for(Setting::SingleStack)
}

/// [`config`] with its node configuration changed by `change`.
fn config_with(change: impl FnOnce(&mut NodeConfig)) -> Config {
    let mut c = config();
    change(&mut c.node);
    c
}

fn dual_stack_config() -> Config {
    config_for(Setting::DualStack)
}

/// The configuration of a scenario's setting.
fn config_for(setting: Setting) -> Config {
    Config {
        node: node_config(setting),
        chunk_chains: None,
    }
}

/// Every golden case (testkit's scenarios, the same as backend-nft's): name, state,
/// configuration.
fn cases() -> Vec<(&'static str, ProxyState, Config)> {
    testkit::scenarios::cases()
        .into_iter()
        .map(|(name, state, setting)| (name, state, config_for(setting)))
        .collect()
}

fn tool(family: IpFamily) -> &'static str {
    match family {
        IpFamily::V4 => "iptables",
        IpFamily::V6 => "ip6tables",
    }
}

/// A plan as text: per family, its jump rules and documents, under `#` comment lines (which
/// the restore tools ignore).
fn render(plan: &Plan) -> String {
    let mut out = String::new();
    for f in &plan.families {
        let t = tool(f.family);
        for j in &f.jumps {
            let words: Vec<String> = j
                .rule
                .iter()
                .map(|w| {
                    if w.contains(' ') {
                        format!("\"{w}\"")
                    } else {
                        w.clone()
                    }
                })
                .collect();
            out.push_str(&format!(
                "# {t} -t {} -I {} {}\n",
                j.table,
                j.chain,
                words.join(" ")
            ));
        }
        let n = f.docs.len();
        for (i, doc) in f.docs.iter().enumerate() {
            out.push_str(&format!("# {t}-restore --noflush ({}/{n})\n", i + 1));
            out.push_str(&doc.text());
        }
    }
    out
}

/// Compares `actual` with `tests/golden/<case>.rules`; `UPDATE_GOLDEN=1` rewrites it.
fn assert_golden(case: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/{case}.rules"));
    testkit::golden::assert_golden(&path, case, actual);
}

#[test]
fn golden_full_plans() {
    let mut failures = Vec::new();
    for (case, state, config) in cases() {
        let plan = plan::full_plan(&state, &config);
        assert_eq!(plan.mode, SyncMode::Full);
        for f in &plan.families {
            assert_eq!(f.docs.len(), 1, "{case}: one document per family unchunked");
        }
        // Every plan is valid for the model of iptables-restore.
        let mut k = Kernel::default();
        k.apply(&plan).unwrap_or_else(|e| panic!("{case}: {e}"));
        let text = render(&plan);
        if let Err(e) = std::panic::catch_unwind(|| assert_golden(case, &text)) {
            failures.push(
                e.downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_else(|| case.to_string()),
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The model of what `iptables-restore --noflush` does to our chains (the plan checker's):
/// each section is checked and committed as a whole.
type Kernel = backend_iptables::check::Tables;

/// The chains a document writes and deletes, per table: `(written, deleted)`.
fn touched(plan: &Plan) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut written, mut deleted) = (BTreeSet::new(), BTreeSet::new());
    for f in &plan.families {
        for doc in &f.docs {
            for s in &doc.sections {
                written.extend(s.chains.iter().map(|c| format!("{} {c}", s.table)));
                deleted.extend(s.deleted.iter().map(|c| format!("{} {c}", s.table)));
            }
        }
    }
    (written, deleted)
}

/// Drives a shadow through syncs, mirroring every plan into the model kernel.
struct Driver {
    config: Config,
    shadow: Shadow,
    kernel: Kernel,
    plans: Vec<Plan>,
}

impl Driver {
    fn new(config: Config) -> Self {
        Driver {
            config,
            shadow: Shadow::new(),
            kernel: Kernel::default(),
            plans: Vec::new(),
        }
    }

    fn sync(&mut self, state: &ProxyState, delta: &Delta, mode: SyncMode) -> Plan {
        let p = plan::plan(state, delta, &self.shadow, mode, &self.config);
        self.kernel
            .apply(&p)
            .unwrap_or_else(|e| panic!("plan refused by the model: {e}"));
        self.shadow = p.next.clone();
        self.plans.push(p.clone());
        p
    }

    /// Asserts the kernel holds exactly what a fresh full sync of `state` would build.
    fn assert_matches_full(&self, state: &ProxyState, context: &str) {
        let mut fresh = Kernel::default();
        fresh
            .apply(&plan::full_plan(state, &self.config))
            .expect("full plan valid");
        if self.kernel.chains != fresh.chains {
            panic!(
                "{context}: syncs diverged from a full sync:\n{}",
                diff(&dump(&fresh), &dump(&self.kernel))
            );
        }
    }
}

fn dump(k: &Kernel) -> String {
    let mut out = String::new();
    for ((f, t), chains) in &k.chains {
        for (c, rules) in chains {
            out.push_str(&format!("{f} {t} :{c}\n"));
            for r in rules {
                out.push_str(&format!("{f} {t} -A {c} {r}\n"));
            }
        }
    }
    out
}

fn changed(names: &[&ServicePortName]) -> Delta {
    Delta {
        changed: names.iter().map(|n| (*n).clone()).collect(),
        ..Delta::default()
    }
}

#[test]
fn one_endpoint_change_rewrites_only_that_services_chains() {
    let mut s = web3()
        .service("api", Protocol::Tcp, "10.96.0.11", 443, |svc| {
            svc.node_port = Some(30443);
        })
        .endpoints("api", Protocol::Tcp, &[("10.244.0.5", 8443, false)], |_| {});
    let mut d = Driver::new(config());
    let full = d.sync(&s.state, &Delta::default(), SyncMode::Partial);
    assert_eq!(full.mode, SyncMode::Full, "nothing programmed yet: full");

    // 10.244.0.4 is replaced by 10.244.0.9.
    let web = port_name("web", Protocol::Tcp);
    let eps = s.state.endpoints.get_mut(&web).expect("web endpoints");
    eps[2] = Endpoint::new(ip("10.244.0.9"), 8080);
    eps.sort();
    let p = d.sync(&s.state, &changed(&[&web]), SyncMode::Partial);
    assert_eq!(p.mode, SyncMode::Partial);
    let (written, deleted) = touched(&p);
    let sep = |a: &str| {
        format!(
            "nat {}",
            names::endpoint_chain(&web, a.parse().expect("addr"))
        )
    };
    assert_eq!(
        written,
        BTreeSet::from([
            sep("10.244.0.9:8080"),
            format!("nat {}", names::service_chain(Kind::Svc, &web)),
        ]),
        "{}",
        render(&p)
    );
    assert_eq!(
        deleted,
        BTreeSet::from([sep("10.244.0.4:8080")]),
        "{}",
        render(&p)
    );
    let text: String = p
        .families
        .iter()
        .flat_map(|f| &f.docs)
        .map(|d| d.text())
        .collect();
    assert!(
        !text.contains(names::SERVICES),
        "dispatch rewritten:\n{text}"
    );
    assert_eq!(p.counts.documents, 1);
    d.assert_matches_full(&s.state, "after the endpoint change");

    // Nothing changed: nothing to send.
    let p = d.sync(&s.state, &changed(&[&web]), SyncMode::Partial);
    assert!(p.is_empty(), "{}", render(&p));

    // A new service: its chains, and the dispatch chains it adds rules to; no other service's.
    let s = s
        .service("new", Protocol::Udp, "10.96.0.12", 53, |_| {})
        .endpoints("new", Protocol::Udp, &[("10.244.0.7", 53, false)], |_| {});
    let new = port_name("new", Protocol::Udp);
    let p = d.sync(&s.state, &changed(&[&new]), SyncMode::Partial);
    let (written, deleted) = touched(&p);
    assert_eq!(
        written,
        BTreeSet::from([
            format!(
                "nat {}",
                names::endpoint_chain(&new, "10.244.0.7:53".parse().expect("addr"))
            ),
            format!("nat {}", names::service_chain(Kind::Svc, &new)),
            format!("nat {}", names::SERVICES),
            format!("filter {}", names::CLUSTER_IPS),
        ]),
        "{}",
        render(&p)
    );
    assert!(deleted.is_empty());
    d.assert_matches_full(&s.state, "after adding a service");
    kernel_check_driver(&d, "partial");
}

/// A small deterministic random generator (xorshift), so the sequence is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Random services: 0-4 endpoints (some local, some terminating), node ports, external IPs,
/// policies, source ranges, affinity, endpoints shared between services.
fn random_service(rng: &mut Rng, i: u64, state: &mut ProxyState) -> ServicePortName {
    let proto = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp][rng.next(3) as usize];
    let name = port_name(&format!("s{i}"), proto);
    let mut svc = ServicePort::new(
        name.clone(),
        ip(&format!("10.96.{}.{}", 1 + i / 250, i % 250)),
        80,
    );
    if rng.next(2) == 0 {
        svc.node_port = Some(30000 + i as u16);
    }
    if rng.next(4) == 0 {
        svc.external_ips = vec![ip(&format!("192.168.60.{}", rng.next(4)))];
    }
    if rng.next(4) == 0 {
        svc.load_balancer_ips = vec![ip(&format!("203.0.{}.{}", 113 + i / 250, i % 250))];
        if rng.next(2) == 0 {
            svc.source_ranges = SourceRanges::Only(vec!["198.51.100.0/24".parse().expect("cidr")]);
        }
    }
    if rng.next(3) == 0 {
        svc.external_traffic_policy = TrafficPolicy::Local;
    }
    if rng.next(4) == 0 {
        svc.internal_traffic_policy = TrafficPolicy::Local;
    }
    if rng.next(4) == 0 {
        svc.session_affinity = Some(SessionAffinity {
            timeout_seconds: 60,
        });
    }
    let mut eps: Vec<Endpoint> = (0..rng.next(5))
        .map(|_| {
            let mut e = Endpoint::new(ip(&format!("10.244.0.{}", 2 + rng.next(6))), 8080);
            e.is_local = rng.next(2) == 0;
            if rng.next(5) == 0 {
                e.ready = false;
                e.terminating = true;
            }
            e
        })
        .collect();
    eps.sort();
    eps.dedup_by_key(|e| e.addr());
    state.endpoints.insert(name.clone(), eps);
    state.services.insert(name.clone(), svc);
    name
}

/// Runs `steps` random changes, partial syncs mostly, full syncs sometimes, checking after
/// each that the model kernel equals a full sync's.
fn random_walk(config: Config, seed: u64, steps: u64) -> Driver {
    let mut rng = Rng(seed);
    let mut state = Scenario::new().state;
    let mut names: Vec<ServicePortName> = (0..12)
        .map(|i| random_service(&mut rng, i, &mut state))
        .collect();
    let mut d = Driver::new(config);
    d.sync(&state, &Delta::default(), SyncMode::Full);
    d.assert_matches_full(&state, "initial");
    for step in 0..steps {
        let mut delta = Delta::default();
        match rng.next(4) {
            0 | 1 => {
                let k = rng.next(names.len() as u64) as usize;
                let old = names[k].clone();
                state.services.remove(&old);
                state.endpoints.remove(&old);
                let i = old.service.name[1..].parse::<u64>().expect("index");
                let new = random_service(&mut rng, i, &mut state);
                if new != old {
                    delta.deleted.insert(old);
                }
                delta.changed.insert(new.clone());
                names[k] = new;
            }
            2 if names.len() > 3 => {
                let k = rng.next(names.len() as u64) as usize;
                let old = names.remove(k);
                state.services.remove(&old);
                state.endpoints.remove(&old);
                delta.deleted.insert(old);
            }
            _ => {
                if rng.next(3) == 0 {
                    d.sync(&state, &delta, SyncMode::Full);
                    d.assert_matches_full(&state, &format!("step {step} (full)"));
                    continue;
                }
                let new = random_service(&mut rng, 100 + step, &mut state);
                delta.changed.insert(new.clone());
                names.push(new);
            }
        }
        let p = d.sync(&state, &delta, SyncMode::Partial);
        assert_eq!(p.mode, SyncMode::Partial);
        d.assert_matches_full(&state, &format!("step {step}"));
    }
    d
}

#[test]
fn partial_syncs_equal_full_syncs() {
    let d = random_walk(config(), 0x5eed_1234_abcd_0042, 200);
    kernel_check_driver(&d, "random walk");
}

#[test]
fn other_configurations_stay_valid() {
    // Configurations the golden cases do not cover: two pod CIDRs (SVCP-MASQ-OFF-CLUSTER),
    // node ports on CIDRs overlapping loopback, no pod or service CIDRs, masquerade-all.
    let two_pod_cidrs = config_with(|n| {
        n.cluster_cidrs = vec![
            "10.244.0.0/16".parse().expect("cidr"),
            "10.250.0.0/16".parse().expect("cidr"),
        ];
        n.nodeport_addresses = NodePortAddresses::Cidrs(vec![
            "127.0.0.0/8".parse().expect("cidr"),
            "0.0.0.0/1".parse().expect("cidr"),
        ]);
    });
    let bare = config_with(|n| {
        n.cluster_cidrs = Vec::new();
        n.service_cidrs = Vec::new();
        n.masquerade_all = true;
    });
    for (i, cfg) in [two_pod_cidrs, bare].into_iter().enumerate() {
        let d = random_walk(cfg.clone(), 0xabc0 + i as u64, 40);
        let p = plan::full_plan(&Scenario::new().state, &cfg);
        let text = render(&p);
        assert_eq!(
            text.contains(names::MASQ_OFF_CLUSTER),
            i == 0,
            "MASQ-OFF-CLUSTER only with 2 pod CIDRs:\n{text}"
        );
        kernel_check_driver(&d, &format!("configuration {i}"));
    }
}

#[test]
fn chunked_plans_are_valid_document_by_document() {
    // Every document of every plan is checked by the model on its own (Driver::sync), after
    // the ones before it: a chunk never jumps to a chain a later chunk creates, never deletes
    // a chain something still jumps to.
    let chunked = Config {
        chunk_chains: Some(5),
        ..config()
    };
    let d = random_walk(chunked, 0x0dd_c0ffee, 120);
    let mut docs = 0;
    for p in &d.plans {
        for f in &p.families {
            for doc in &f.docs {
                assert!(doc.chains_touched() <= 5, "{}", doc.text());
                docs += 1;
            }
        }
    }
    assert!(docs > d.plans.len(), "plans were cut: {docs} documents");

    // The order inside a cold chunked plan: endpoints, service chains, dispatch chains last.
    let mut s = Scenario::new();
    for i in 0..10u8 {
        let name = format!("svc{i}");
        let eps: Vec<(String, u16, bool)> = (0..3)
            .map(|j| (format!("10.244.{i}.{}", j + 2), 8080, false))
            .collect();
        let eps: Vec<(&str, u16, bool)> =
            eps.iter().map(|(a, p, l)| (a.as_str(), *p, *l)).collect();
        s = s
            .service(
                &name,
                Protocol::Tcp,
                &format!("10.96.0.{}", 10 + i),
                80,
                |svc| {
                    svc.node_port = Some(30000 + u16::from(i));
                },
            )
            .endpoints(&name, Protocol::Tcp, &eps, |_| {});
    }
    let cfg = Config {
        chunk_chains: Some(7),
        ..config()
    };
    let p = plan::full_plan(&s.state, &cfg);
    let f = p.family(IpFamily::V4).expect("ipv4");
    // 10 x (3 SEP + SVC + EXT) + 9 fixed chains (no MASQ-OFF-CLUSTER with one pod CIDR).
    assert_eq!(f.counts.chains_written, 10 * 5 + 9);
    assert_eq!(f.docs.len(), (10 * 5 + 9usize).div_ceil(7));
    let order: Vec<String> = f
        .docs
        .iter()
        .flat_map(|d| {
            d.sections
                .iter()
                .flat_map(|s| s.chains.iter().map(|c| c.to_string()))
        })
        .collect();
    let pos = |pred: &dyn Fn(&str) -> bool| order.iter().position(|c| pred(c)).expect("present");
    let last = |pred: &dyn Fn(&str) -> bool| order.iter().rposition(|c| pred(c)).expect("present");
    assert_eq!(order[0], names::MARK_MASQ);
    assert!(last(&|c| c.starts_with("SVCP-SEP-")) < pos(&|c| c.starts_with("SVCP-SVC-")));
    assert!(last(&|c| c.starts_with("SVCP-SVC-")) < pos(&|c| c.starts_with("SVCP-EXT-")));
    assert!(last(&|c| c.starts_with("SVCP-EXT-")) < pos(&|c| c == names::NODEPORTS));
    assert_eq!(order.last().map(String::as_str), Some(names::FIREWALL));
    let mut k = Kernel::default();
    k.apply(&p).expect("valid");
    let mut whole = Kernel::default();
    whole
        .apply(&plan::full_plan(&s.state, &config()))
        .expect("valid");
    assert_eq!(k, whole, "chunked and whole plans build the same chains");

    // A warm chunked full sync that removes services: deletions come after the dispatch
    // rewrite, service chains before their endpoint chains.
    let mut d = Driver::new(cfg.clone());
    d.sync(&s.state, &Delta::default(), SyncMode::Full);
    for i in 0..5 {
        let n = port_name(&format!("svc{i}"), Protocol::Tcp);
        s.state.services.remove(&n);
        s.state.endpoints.remove(&n);
    }
    let p = d.sync(&s.state, &Delta::default(), SyncMode::Full);
    assert_eq!(p.counts.chains_deleted, 5 * 5);
    d.assert_matches_full(&s.state, "after the chunked warm sync");
    kernel_check_driver(&d, "chunked");
}

#[test]
fn config_change_is_a_full_sync_and_chunking_is_not_a_change() {
    let s = web3();
    let mut d = Driver::new(config());
    d.sync(&s.state, &Delta::default(), SyncMode::Full);
    d.config.chunk_chains = Some(3);
    let p = d.sync(&s.state, &Delta::default(), SyncMode::Partial);
    assert_eq!(p.mode, SyncMode::Partial);
    assert!(p.is_empty());
    d.config.node.masquerade_all = true;
    let p = d.sync(&s.state, &Delta::default(), SyncMode::Partial);
    assert_eq!(p.mode, SyncMode::Full);
    d.assert_matches_full(&s.state, "after the config change");
    // Dual-stack to single-stack: the IPv6 family is handed to the applier to clean up.
    let mut d = Driver::new(dual_stack_config());
    d.sync(&s.state, &Delta::default(), SyncMode::Full);
    d.config = config();
    let p = d.sync(&s.state, &Delta::default(), SyncMode::Partial);
    assert_eq!(p.removed_families, [IpFamily::V6]);
    assert!(p.family(IpFamily::V6).is_none());
}

#[test]
fn adopted_leftovers_are_deleted_by_the_next_full_sync() {
    let s = web3();
    let mut shadow = Shadow::new();
    shadow.adopt_saved(
        IpFamily::V4,
        "*nat\n:PREROUTING ACCEPT [0:0]\n:SVCP-SEP-LEFTOVER0000000 - [0:0]\n:KUBE-SERVICES - [0:0]\nCOMMIT\n",
    );
    let p = plan::plan(
        &s.state,
        &Delta::default(),
        &shadow,
        SyncMode::Partial,
        &config(),
    );
    assert_eq!(p.mode, SyncMode::Full);
    let (_, deleted) = touched(&p);
    assert_eq!(
        deleted,
        BTreeSet::from(["nat SVCP-SEP-LEFTOVER0000000".to_owned()])
    );
}

// ---- kernel checks (root only) ----

/// Runs `program args` in `ns` with `input` on stdin; the error holds stderr.
fn run_in(
    ns: &testkit::Netns,
    program: &str,
    args: &[&str],
    input: &str,
) -> Result<String, String> {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns.name(), program])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{program}: {e}"))?;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .map_err(|e| format!("{program}: {e}"))?;
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Restores every document of `plan` with `variant`'s tools, then ensures its jump rules.
fn load_plan(ns: &testkit::Netns, variant: Variant, plan: &Plan) -> Result<(), String> {
    for f in &plan.families {
        for doc in &f.docs {
            run_in(
                ns,
                variant.restore(f.family),
                &["--noflush", "-w", "5"],
                &doc.text(),
            )
            .map_err(|e| format!("{e}\n{}", doc.text()))?;
        }
        for j in &f.jumps {
            let base = ["-w", "5", "-t", j.table.name()];
            let mut check: Vec<&str> = base.to_vec();
            check.extend(["-C", j.chain]);
            check.extend(j.rule.iter().map(String::as_str));
            if run_in(ns, variant.iptables(f.family), &check, "").is_err() {
                let mut insert: Vec<&str> = base.to_vec();
                insert.extend(["-I", j.chain]);
                insert.extend(j.rule.iter().map(String::as_str));
                run_in(ns, variant.iptables(f.family), &insert, "")?;
            }
        }
    }
    Ok(())
}

/// Asserts `iptables-save` in `ns` lists exactly the chains of ours the shadow records.
fn assert_saved_chains(ns: &testkit::Netns, variant: Variant, shadow: &Shadow) {
    for family in IpFamily::ALL {
        let save = run_in(ns, variant.save(family), &[], "").expect("save");
        let mut table = "";
        let mut saved: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for line in save.lines() {
            if let Some(t) = line.strip_prefix('*') {
                table = t;
            } else if let Some(decl) = line.strip_prefix(':') {
                let name = decl.split_whitespace().next().unwrap_or_default();
                if names::is_ours(name) {
                    saved.entry(table).or_default().insert(name);
                }
            }
        }
        for t in Table::ALL {
            let want: BTreeSet<&str> = shadow.chains(family, t).into_iter().collect();
            let got = saved.remove(t.name()).unwrap_or_default();
            assert_eq!(got, want, "{variant} {family} {t}: chains in the kernel");
        }
    }
}

/// Loads every plan a driver produced, in order, into a fresh namespace per variant.
fn kernel_check_driver(d: &Driver, what: &str) {
    if !testkit::is_root() {
        eprintln!("skipping the kernel check of {what} plans: not root");
        return;
    }
    for variant in Variant::ALL {
        let ns = testkit::Netns::new("iptdrive").expect("namespace");
        for (i, p) in d.plans.iter().enumerate() {
            load_plan(&ns, variant, p)
                .unwrap_or_else(|e| panic!("{what}: {variant} refused plan {i}: {e}"));
        }
        assert_saved_chains(&ns, variant, &d.shadow);
    }
}

#[test]
fn kernel_accepts_golden_plans() {
    if !testkit::root_or_skip("kernel_accepts_golden_plans") {
        return;
    }
    for variant in Variant::ALL {
        for (case, state, config) in cases() {
            let plan = plan::full_plan(&state, &config);
            let ns = testkit::Netns::new("iptgold").expect("namespace");
            // Cold, then again over itself (a periodic full sync).
            for round in 0..2 {
                load_plan(&ns, variant, &plan)
                    .unwrap_or_else(|e| panic!("{case}: {variant} refused (round {round}): {e}"));
            }
            assert_saved_chains(&ns, variant, &plan.next);
        }
    }
}

/// The planned rules carry real traffic: a full plan and a partial one are loaded into the node
/// of a testkit sandbox (3 pods, a client), for each variant, and connections go through
/// (root only). The same scenarios as backend-nft's traffic check.
#[test]
fn kernel_traffic_through_planned_rules() {
    use std::net::SocketAddr;
    use std::time::Duration;
    use testkit::server::{Outcome, TcpServer, tcp_ask};

    if !testkit::root_or_skip("kernel_traffic_through_planned_rules") {
        return;
    }
    for variant in Variant::ALL {
        let sb = testkit::Sandbox::new(3).expect("sandbox");
        let _servers: Vec<TcpServer> = sb
            .pods
            .iter()
            .map(|p| TcpServer::start(&p.ns, "[::]:8080".parse().expect("addr")).expect("server"))
            .collect();
        let pod = |i: usize| IpAddr::from(sb.pods[i].ipv4);
        let eps = |ids: &[usize]| -> Vec<(String, u16, bool)> {
            ids.iter()
                .map(|i| (pod(*i).to_string(), 8080, *i == 0))
                .collect()
        };
        let mut s = Scenario::new();
        for (name, cip, node_port, ids, f) in [
            ("web", "10.96.0.10", 30080, vec![0, 1, 2], None),
            (
                "sticky",
                "10.96.0.11",
                30081,
                vec![0, 1, 2],
                Some("affinity"),
            ),
            ("local", "10.96.0.14", 30082, vec![0, 1], Some("etp-local")),
            ("self", "10.96.0.12", 30083, vec![0], None),
            ("none", "10.96.0.13", 30084, vec![], None),
        ] {
            let e = eps(&ids);
            let e: Vec<(&str, u16, bool)> =
                e.iter().map(|(a, p, l)| (a.as_str(), *p, *l)).collect();
            s = s
                .service(name, Protocol::Tcp, cip, 80, |svc| {
                    svc.node_port = Some(node_port);
                    if f == Some("affinity") {
                        svc.session_affinity = Some(SessionAffinity {
                            timeout_seconds: 600,
                        });
                    }
                    if f == Some("etp-local") {
                        svc.external_traffic_policy = TrafficPolicy::Local;
                    }
                })
                .endpoints(name, Protocol::Tcp, &e, |_| {});
        }
        let cfg = config_with(|n| n.node_ips = vec![sb.node.ipv4.into()]);
        let mut d = Driver::new(cfg);
        let full = d.sync(&s.state, &Delta::default(), SyncMode::Full);
        load_plan(&sb.node.ns, variant, &full).expect("full plan loads");

        let client = &sb.client.ns;
        let ask = |ns: &testkit::Netns, to: &str| -> String {
            let addr: SocketAddr = to.parse().expect("addr");
            match tcp_ask(ns, addr, Duration::from_millis(2500)) {
                Outcome::Answer(a) => a,
                other => other.to_string(),
            }
        };
        let tally = |ns: &testkit::Netns, to: &str, n: usize| {
            let mut m = BTreeMap::<String, usize>::new();
            for _ in 0..n {
                *m.entry(ask(ns, to)).or_default() += 1;
            }
            m
        };
        let node = sb.node.ipv4;
        let web = tally(client, "10.96.0.10:80", 30);
        assert_eq!(web.len(), 3, "{variant}: every endpoint answers: {web:?}");
        let np = tally(client, &format!("{node}:30080"), 10);
        assert!(
            np.keys().all(|k| k.starts_with("10.244.0.")),
            "{variant}: node port: {np:?}"
        );
        let sticky = tally(client, "10.96.0.11:80", 10);
        assert_eq!(sticky.len(), 1, "{variant}: affinity pins: {sticky:?}");
        assert_eq!(
            ask(&sb.pods[0].ns, "10.96.0.12:80"),
            pod(0).to_string(),
            "{variant}: hairpin"
        );
        assert_eq!(
            ask(client, "10.96.0.13:80"),
            "refused",
            "{variant}: no endpoints"
        );
        assert_eq!(
            ask(client, &format!("{node}:30084")),
            "refused",
            "{variant}: node port without endpoints"
        );
        assert_eq!(
            ask(client, "10.96.0.10:81"),
            "refused",
            "{variant}: cluster IP, unused port"
        );
        assert_eq!(
            ask(client, "10.96.0.99:80"),
            "timeout",
            "{variant}: unallocated service IP"
        );
        let local = tally(client, &format!("{node}:30082"), 10);
        assert_eq!(
            local.keys().collect::<Vec<_>>(),
            [&pod(0).to_string()],
            "{variant}: ETP Local"
        );
        // Pods short-circuit ETP Local to every endpoint.
        let from_pod = tally(&sb.pods[2].ns, &format!("{node}:30082"), 20);
        assert_eq!(
            from_pod.len(),
            2,
            "{variant}: ETP Local from a pod: {from_pod:?}"
        );

        // Remove the pinned endpoint: the client is pinned elsewhere (a partial plan).
        let pinned = sticky.keys().next().expect("pinned").clone();
        let name = port_name("sticky", Protocol::Tcp);
        s.state
            .endpoints
            .get_mut(&name)
            .expect("sticky")
            .retain(|e| e.ip.to_string() != pinned);
        let partial = d.sync(&s.state, &changed(&[&name]), SyncMode::Partial);
        assert_eq!(partial.mode, SyncMode::Partial);
        load_plan(&sb.node.ns, variant, &partial).expect("partial plan loads");
        let after = tally(client, "10.96.0.11:80", 5);
        assert_eq!(after.len(), 1, "{variant}: re-pinned: {after:?}");
        assert!(
            !after.contains_key(&pinned),
            "{variant}: not to the removed endpoint: {after:?}"
        );
        assert_saved_chains(&sb.node.ns, variant, &d.shadow);
    }
}
