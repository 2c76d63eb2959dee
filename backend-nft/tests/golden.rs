//! Golden tests of the nftables planner: scenarios built from proxy-core model values are
//! planned as a full sync, applied to the in-memory [`Ruleset`], rendered in `nft` syntax and
//! compared with `tests/golden/<case>.nft` (`UPDATE_GOLDEN=1` rewrites the files).
//!
//! Partial syncs are checked three ways: a one-endpoint change is a handful of element
//! operations and nothing else; after any sequence of changes, the ruleset built by partial
//! transactions equals the one a full sync builds; and the kernel accepts every golden file and
//! every transaction script (`nft -f` in a throwaway network namespace, root only).
//!
//! The scenarios are in `tests/common/scenarios.rs` (the kernel tests sync them too).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

#[path = "common/nft_compat.rs"]
mod nft_compat;
#[path = "common/scenarios.rs"]
mod scenarios;

use backend_nft::ir::{CmpOp, ElemData, Op, Rule, Ruleset, Stmt, TableState, Transaction, Value};
use backend_nft::names::SetName;
use backend_nft::plan::{self, Config, Shadow};
use backend_nft::render;
use proxy_core::model::{
    Endpoint, Protocol, ServicePort, ServicePortName, SessionAffinity, SourceRanges, TrafficPolicy,
};
use proxy_core::{Delta, ProxyState, SyncMode};
use scenarios::{cases, config};
use testkit::golden::diff;
use testkit::scenarios::{Scenario, ip, port_name, web3};

/// The ruleset a full sync of `state` builds in an empty kernel, rendered.
fn full_ruleset(state: &ProxyState, config: &Config) -> (Transaction, String) {
    let tx = plan::full_transaction(state, config);
    let ruleset = Ruleset::from_transaction(&tx).expect("the in-memory kernel accepts the plan");
    (tx, render::ruleset(&ruleset))
}

/// Compares `actual` with `tests/golden/<case>.nft`; `UPDATE_GOLDEN=1` rewrites it.
fn assert_golden(case: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/{case}.nft"));
    testkit::golden::assert_golden(&path, case, actual);
}

#[test]
fn golden_full_rulesets() {
    let mut failures = Vec::new();
    for (case, state, config) in cases() {
        let (_, text) = full_ruleset(&state, &config);
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

#[test]
fn no_per_service_chains() {
    // Ten services with one to three endpoints share the same few chains.
    let mut s = Scenario::new();
    for i in 0..10u8 {
        let name = format!("svc{i}");
        let eps: Vec<(String, u16, bool)> = (0..=(i % 3))
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
    let tx = plan::full_transaction(&s.state, &config());
    let r = Ruleset::from_transaction(&tx).expect("valid");
    let t = r.tables.values().next().expect("ip table");
    let names: Vec<&str> = t.chains.iter().map(|c| c.chain.name.as_str()).collect();
    let shared: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| n.chars().last().is_some_and(|c| c.is_ascii_digit()))
        .collect();
    assert_eq!(
        shared,
        [
            "endpoints-1",
            "endpoints-2",
            "endpoints-3",
            "nodeport-endpoints-1",
            "nodeport-endpoints-2",
            "nodeport-endpoints-3",
            "nodeport-external-1",
            "nodeport-external-2",
            "nodeport-external-3",
        ]
    );
}

/// The dispatch ids the per-service map `map` holds.
fn used_ids(t: &TableState, map: SetName) -> BTreeSet<Value> {
    t.set(map.as_str())
        .into_iter()
        .flat_map(|s| s.elements.values())
        .filter_map(|e| match &e.data {
            Some(ElemData::Concat(v)) => v.first().copied(),
            _ => None,
        })
        .collect()
}

/// The dispatch id a rule of a dispatch chain sends on (`KEY map @m == ID VERDICT`).
fn rule_id(rule: &Rule) -> Option<Value> {
    rule.stmts.iter().find_map(|s| match s {
        Stmt::MapCmp {
            op: CmpOp::Eq,
            value,
            ..
        } => Some(*value),
        _ => None,
    })
}

/// Asserts that every dispatch id a per-service map holds has its rule in the map's dispatch
/// chain (a missing one would silently send nowhere), and that dispatch rules are in id order.
fn assert_ids_resolve(r: &Ruleset, context: &str) {
    for t in r.tables.values() {
        for name in SetName::DISPATCHING {
            let Some(map) = t.set(name.as_str()) else {
                continue;
            };
            let chain = name.dispatch_chain().expect("a dispatch chain");
            let rules = &t.chain(chain).expect("the dispatch chain").rules;
            let ids: Vec<Value> = rules.iter().map(|r| rule_id(r).expect("an id")).collect();
            assert!(
                ids.windows(2).all(|w| w[0] <= w[1]),
                "{context}: {chain} is not in id order: {ids:?}"
            );
            for e in map.elements.values() {
                let Some(ElemData::Concat(id)) = &e.data else {
                    panic!("{context}: {name} element without an id: {e:?}");
                };
                assert!(
                    ids.contains(&id[0]),
                    "{context}: {name} {:?} -> {id:?}, no rule in {chain}",
                    e.key
                );
            }
        }
    }
}

/// A ruleset with sets and chains sorted by name, so that creation order does not matter, and
/// without unreferenced regular chains and the dispatch rules no per-service element uses
/// (partial syncs keep unused shared chains until the next full sync; they are dead code for
/// packets).
fn normalized(r: &Ruleset) -> String {
    let mut r = r.clone();
    for t in r.tables.values_mut() {
        for name in SetName::DISPATCHING {
            let used = used_ids(t, name);
            let chain = name.dispatch_chain().expect("a dispatch chain");
            if let Some(c) = t.chains.iter_mut().find(|c| c.chain.name == chain) {
                c.rules.retain(|rule| {
                    rule_id(rule)
                        .is_some_and(|id| used.contains(&id) || matches!(id, Value::Id(1 | 2)))
                });
            }
        }
        let referenced: Vec<String> = t
            .chains
            .iter()
            .flat_map(|c| &c.rules)
            .flat_map(|r| &r.stmts)
            .filter_map(|s| s.target().map(str::to_string))
            .collect();
        let before = t.chains.len();
        t.chains
            .retain(|c| c.chain.base.is_some() || referenced.contains(&c.chain.name));
        if t.chains.len() != before {
            // Removing a chain may leave the chains only it referenced unreferenced.
            return normalized(&r);
        }
        t.sets.sort_by(|a, b| a.def.name.cmp(&b.def.name));
        t.chains.sort_by(|a, b| a.chain.name.cmp(&b.chain.name));
    }
    render::ruleset(&r)
}

/// Drives a shadow through syncs, mirroring every transaction into an in-memory kernel.
struct Driver {
    config: Config,
    shadow: Shadow,
    kernel: Ruleset,
    scripts: Vec<String>,
}

impl Driver {
    fn new(config: Config) -> Self {
        Driver {
            config,
            shadow: Shadow::new(),
            kernel: Ruleset::new(),
            scripts: Vec::new(),
        }
    }

    fn sync(&mut self, state: &ProxyState, delta: &Delta, mode: SyncMode) -> plan::Plan {
        let p = plan::plan(state, delta, &self.shadow, mode, &self.config);
        let script = render::transaction_over(&p.transaction, &self.kernel);
        self.kernel
            .apply(&p.transaction)
            .unwrap_or_else(|e| panic!("{e}\n{script}"));
        assert_ids_resolve(&self.kernel, &script);
        self.scripts.push(script);
        self.shadow.commit(p.update.clone());
        p
    }

    /// Asserts the kernel holds exactly what a fresh full sync of `state` would build.
    fn assert_matches_full(&self, state: &ProxyState, context: &str) {
        let fresh = Ruleset::from_transaction(&plan::full_transaction(state, &self.config))
            .expect("full plan valid");
        let (got, want) = (normalized(&self.kernel), normalized(&fresh));
        assert!(
            got == want,
            "{context}: partial syncs diverged from a full sync:\n{}",
            diff(&want, &got)
        );
    }
}

fn changed(names: &[&ServicePortName]) -> Delta {
    Delta {
        changed: names.iter().map(|n| (*n).clone()).collect(),
        ..Delta::default()
    }
}

#[test]
fn one_endpoint_change_is_a_few_element_operations() {
    let mut s = web3()
        .service("api", Protocol::Tcp, "10.96.0.11", 443, |svc| {
            svc.node_port = Some(30443);
        })
        .endpoints("api", Protocol::Tcp, &[("10.244.0.5", 8443, false)], |_| {});
    let mut d = Driver::new(config());
    let full = d.sync(&s.state, &Delta::default(), SyncMode::Partial);
    assert_eq!(full.mode, SyncMode::Full, "nothing programmed yet: full");

    // 10.244.0.4 is replaced by 10.244.0.9: slot 2 changes, and the hairpin pair.
    let web = port_name("web", Protocol::Tcp);
    let eps = s.state.endpoints.get_mut(&web).expect("web endpoints");
    eps[2] = Endpoint::new(ip("10.244.0.9"), 8080);
    eps.sort();
    let p = d.sync(&s.state, &changed(&[&web]), SyncMode::Partial);
    assert_eq!(p.mode, SyncMode::Partial);
    let counts = p.transaction.counts();
    assert_eq!(
        counts.non_element(),
        0,
        "{}",
        render::transaction(&p.transaction)
    );
    assert_eq!(
        (counts.elements_deleted, counts.elements_added),
        (2, 2),
        "{}",
        render::transaction(&p.transaction)
    );
    let web_ip = Value::Addr(ip("10.96.0.10"));
    for cmd in &p.transaction.commands {
        let (set, key) = match &cmd.op {
            Op::AddElement { set, elem } => (set, &elem.key),
            Op::DeleteElement { set, key } => (set, key),
            other => panic!("unexpected {other:?}"),
        };
        let ours = if set == SetName::HairpinEndpoints.as_str() {
            key[0] == Value::Addr(ip("10.244.0.4")) || key[0] == Value::Addr(ip("10.244.0.9"))
        } else {
            set == SetName::ServiceEndpoints.as_str() && key[0] == web_ip
        };
        assert!(ours, "an operation outside web's elements: {cmd:?}");
    }
    d.assert_matches_full(&s.state, "after the endpoint change");

    // Nothing changed: nothing to send.
    let p = d.sync(&s.state, &changed(&[&web]), SyncMode::Partial);
    assert!(
        p.transaction.is_empty(),
        "{}",
        render::transaction(&p.transaction)
    );
    print_kernel_check(&d.scripts);
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
/// policies, source ranges, shared endpoints between services.
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
    let mut eps: Vec<Endpoint> = (0..rng.next(5))
        .map(|_| {
            // A small address pool, so endpoints (and hairpin pairs) are shared.
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

#[test]
fn partial_syncs_equal_full_syncs() {
    let mut rng = Rng(0x5eed_1234_abcd_0042);
    let mut state = Scenario::new().state;
    let mut names: Vec<ServicePortName> = (0..12)
        .map(|i| random_service(&mut rng, i, &mut state))
        .collect();
    let mut d = Driver::new(config());
    d.sync(&state, &Delta::default(), SyncMode::Full);
    d.assert_matches_full(&state, "initial");
    for step in 0..200u64 {
        let mut delta = Delta::default();
        match rng.next(4) {
            // Replace a service (new endpoints, policies, ports).
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
            // Delete a service.
            2 if names.len() > 3 => {
                let k = rng.next(names.len() as u64) as usize;
                let old = names.remove(k);
                state.services.remove(&old);
                state.endpoints.remove(&old);
                delta.deleted.insert(old);
            }
            // Add one, or run a periodic full sync.
            _ => {
                if rng.next(3) == 0 {
                    d.sync(&state, &delta, SyncMode::Full);
                    d.assert_matches_full(&state, &format!("step {step} (full)"));
                    continue;
                }
                let i = 100 + step;
                let new = random_service(&mut rng, i, &mut state);
                delta.changed.insert(new.clone());
                names.push(new);
            }
        }
        let p = d.sync(&state, &delta, SyncMode::Partial);
        assert_eq!(p.mode, SyncMode::Partial);
        d.assert_matches_full(&state, &format!("step {step}"));
    }
    print_kernel_check(&d.scripts[..20]);
}

#[test]
fn stale_shared_chains_are_flushed_then_deleted() {
    let mut s = web3();
    let mut d = Driver::new(config());
    d.sync(&s.state, &Delta::default(), SyncMode::Full);
    let web = port_name("web", Protocol::Tcp);
    s.state.endpoints.get_mut(&web).expect("web").truncate(2);
    // Partial: endpoints-2 appears (and the dispatch chain naming it is rewritten),
    // endpoints-3 stays (unused) until the next full sync.
    let p = d.sync(&s.state, &changed(&[&web]), SyncMode::Partial);
    let chain_ops: Vec<&Op> = p
        .transaction
        .commands
        .iter()
        .map(|c| &c.op)
        .filter(|op| matches!(op, Op::AddChain(_) | Op::FlushChain(_) | Op::DeleteChain(_)))
        .collect();
    assert!(
        matches!(
            &chain_ops[..],
            [Op::AddChain(c), Op::FlushChain(d)]
                if c.name == "endpoints-2" && d == "service-ips-dispatch"
        ),
        "{}",
        render::transaction(&p.transaction)
    );
    let has = |d: &Driver, name: &str| {
        d.kernel
            .tables
            .values()
            .next()
            .expect("table")
            .chain(name)
            .is_some()
    };
    assert!(has(&d, "endpoints-3"));
    // Full: endpoints-3 is flushed (by `flush table`) and not re-added...
    let p = d.sync(&s.state, &Delta::default(), SyncMode::Full);
    assert!(!render::transaction(&p.transaction).contains("delete chain"));
    assert!(has(&d, "endpoints-3"));
    // ...and deleted by the next transaction, whatever it is.
    let p = d.sync(&s.state, &Delta::default(), SyncMode::Partial);
    assert_eq!(
        render::transaction(&p.transaction),
        "delete chain ip svcproxy endpoints-3\n"
    );
    assert!(!has(&d, "endpoints-3"));
    d.assert_matches_full(&s.state, "after the stale chain is gone");
    print_kernel_check(&d.scripts);
}

#[test]
fn config_change_rebuilds_the_table() {
    let s = web3();
    let mut d = Driver::new(config());
    d.sync(&s.state, &Delta::default(), SyncMode::Full);
    d.config.masquerade_all = true;
    let p = d.sync(&s.state, &Delta::default(), SyncMode::Partial);
    assert_eq!(p.mode, SyncMode::Full);
    assert!(render::transaction(&p.transaction).contains("delete table ip svcproxy"));
    d.assert_matches_full(&s.state, "after the config change");
}

/// Loads each script in order with `nft -f` in one throwaway namespace (root only).
fn print_kernel_check(scripts: &[String]) {
    if !testkit::is_root() {
        eprintln!("skipping the kernel check of transaction scripts: not root");
        return;
    }
    let ns = testkit::Netns::new("nftplan").expect("namespace");
    for (i, script) in scripts.iter().enumerate() {
        nft_load(&ns, script).unwrap_or_else(|e| panic!("transaction {i} refused: {e}\n{script}"));
    }
}

/// `nft -f FILE` inside `ns`, with the dispatch spelled so that `nft` parses it (see
/// [`nft_compat`]).
fn nft_load(ns: &testkit::Netns, text: &str) -> Result<(), String> {
    let file = tempfile(&nft_compat::loadable(text));
    let out = ns
        .output("nft", ["-f", file.to_str().expect("utf-8 path")])
        .map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&file);
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn tempfile(text: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let path = std::env::temp_dir().join(format!(
        "svcproxy-golden-{}-{}.nft",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, text).expect("write temp file");
    path
}

/// Golden cases the kernel takes over netlink but `nft` 1.0.6 cannot load, with the reason.
const NFT_CANNOT_LOAD: [(&str, &str); 1] = [(
    "affinity_dual_stack",
    "IPv6 affinity recording (`update @affinity { 40-byte key : 20-byte data }`) needs 15 of \
     the kernel's 16 32-bit registers; nft allocates registers in 16-byte units and aborts \
     (netlink_linearize.c: dreg < ctx->reg_low)",
)];

#[test]
fn kernel_accepts_golden_rulesets() {
    if !testkit::root_or_skip("kernel_accepts_golden_rulesets") {
        return;
    }
    for (case, state, config) in cases() {
        if let Some((_, why)) = NFT_CANNOT_LOAD.iter().find(|(c, _)| *c == case) {
            eprintln!("{case}: not loaded with nft: {why}");
            continue;
        }
        let (tx, text) = full_ruleset(&state, &config);
        // The rendered ruleset (what the golden file holds)...
        let ns = testkit::Netns::new("nftgold").expect("namespace");
        nft_load(&ns, &text).unwrap_or_else(|e| panic!("{case}: golden ruleset refused: {e}"));
        // ...and the transaction script, twice (a rebuild over an existing table).
        let ns = testkit::Netns::new("nftgold").expect("namespace");
        let script = render::transaction(&tx);
        for round in 0..2 {
            nft_load(&ns, &script)
                .unwrap_or_else(|e| panic!("{case}: transaction refused (round {round}): {e}"));
        }
    }
}

#[test]
fn losing_affinity_forgets_what_the_packet_path_remembered() {
    let affine = |s: Scenario| {
        s.service("web", Protocol::Tcp, "10.96.0.10", 80, |svc| {
            svc.session_affinity = Some(SessionAffinity {
                timeout_seconds: 60,
            });
        })
    };
    let mut s = affine(web3());
    let mut d = Driver::new(config());
    d.sync(&s.state, &Delta::default(), SyncMode::Full);
    let web = port_name("web", Protocol::Tcp);

    // An endpoint change keeps the memory (gone endpoints are caught by affinity-backends).
    s.state.endpoints.get_mut(&web).expect("web").truncate(2);
    let p = d.sync(&s.state, &changed(&[&web]), SyncMode::Partial);
    assert!(!render::transaction(&p.transaction).contains("flush map ip svcproxy affinity"));

    // Affinity off: the memory goes.
    s.state
        .services
        .get_mut(&web)
        .expect("web")
        .session_affinity = None;
    d.sync(&s.state, &changed(&[&web]), SyncMode::Partial);
    let script = d.scripts.last().expect("a script");
    assert!(
        script.contains("flush map ip svcproxy affinity\n"),
        "{script}"
    );
    d.assert_matches_full(&s.state, "after affinity off");

    // A periodic full sync keeps the memory: every set is flushed but `affinity`.
    d.sync(&s.state, &Delta::default(), SyncMode::Full);
    let script = d.scripts.last().expect("a script");
    assert!(
        script.contains("flush map ip svcproxy service-ips\n"),
        "{script}"
    );
    assert!(
        !script.contains("flush map ip svcproxy affinity\n"),
        "{script}"
    );
    print_kernel_check(&d.scripts);
}

/// The planned design carries real traffic: the full and a partial transaction are loaded with
/// `nft -f` into the node of a testkit sandbox (3 pods, a client), and connections go through
/// (root only). This checks the ruleset design, independently of the netlink encoder.
#[test]
fn kernel_traffic_through_planned_rules() {
    use std::net::SocketAddr;
    use std::time::Duration;
    use testkit::server::{Outcome, TcpServer, tcp_ask};

    if !testkit::root_or_skip("kernel_traffic_through_planned_rules") {
        return;
    }
    let sb = testkit::Sandbox::new(3).expect("sandbox");
    // The sandbox's node has a default route (testkit), as real nodes have: traffic to an
    // unused service address reaches the forward hook and its checks.
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
        let e: Vec<(&str, u16, bool)> = e.iter().map(|(a, p, l)| (a.as_str(), *p, *l)).collect();
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
    let cfg = Config {
        node_ips: vec![sb.node.ipv4.into()],
        ..config()
    };
    let mut d = Driver::new(cfg);
    d.sync(&s.state, &Delta::default(), SyncMode::Full);
    nft_load(&sb.node.ns, &d.scripts[0]).expect("full transaction loads");

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
    assert_eq!(web.len(), 3, "every endpoint answers: {web:?}");
    let np = tally(client, &format!("{node}:30080"), 10);
    assert!(
        np.keys().all(|k| k.starts_with("10.244.0.")),
        "node port: {np:?}"
    );
    let sticky = tally(client, "10.96.0.11:80", 10);
    assert_eq!(sticky.len(), 1, "affinity pins the client: {sticky:?}");
    assert_eq!(
        ask(&sb.pods[0].ns, "10.96.0.12:80"),
        pod(0).to_string(),
        "hairpin"
    );
    assert_eq!(ask(client, "10.96.0.13:80"), "refused", "no endpoints");
    assert_eq!(
        ask(client, "10.96.0.10:81"),
        "refused",
        "cluster IP, unused port"
    );
    assert_eq!(
        ask(client, "10.96.0.99:80"),
        "timeout",
        "unallocated service IP"
    );
    let local = tally(client, &format!("{node}:30082"), 10);
    assert_eq!(
        local.keys().collect::<Vec<_>>(),
        [&pod(0).to_string()],
        "ETP Local"
    );

    // Remove the pinned endpoint: one retry later the client is pinned elsewhere.
    let pinned = sticky.keys().next().expect("pinned").clone();
    let name = port_name("sticky", Protocol::Tcp);
    s.state
        .endpoints
        .get_mut(&name)
        .expect("sticky")
        .retain(|e| e.ip.to_string() != pinned);
    d.sync(&s.state, &changed(&[&name]), SyncMode::Partial);
    nft_load(&sb.node.ns, d.scripts.last().expect("partial")).expect("partial loads");
    let after = tally(client, "10.96.0.11:80", 5);
    assert_eq!(after.len(), 1, "re-pinned: {after:?}");
    assert!(
        !after.contains_key(&pinned),
        "not to the removed endpoint: {after:?}"
    );
}

/// Adding and removing a service whose shared chains exist is plain data: element operations
/// only, none carrying a verdict (a verdict element with a `goto` makes the kernel re-validate
/// the whole table at commit, a cost linear in the number of services).
#[test]
fn adding_a_service_adds_no_verdicts() {
    let mut s = web3();
    let mut d = Driver::new(config());
    d.sync(&s.state, &Delta::default(), SyncMode::Full);
    s = s
        .service("api", Protocol::Tcp, "10.96.0.11", 443, |svc| {
            svc.node_port = Some(30443);
            svc.external_ips = vec![ip("192.168.60.10")];
        })
        .endpoints(
            "api",
            Protocol::Tcp,
            &[
                ("10.244.0.5", 8443, false),
                ("10.244.0.6", 8443, false),
                ("10.244.0.7", 8443, false),
            ],
            |_| {},
        )
        .service("none", Protocol::Tcp, "10.96.0.12", 80, |_| {});
    let api = port_name("api", Protocol::Tcp);
    let none = port_name("none", Protocol::Tcp);
    // The first time, api needs external-3 and the node-port chains: rules and dispatch
    // elements for those (rare).
    let first = d.sync(&s.state, &changed(&[&api, &none]), SyncMode::Partial);
    assert!(first.transaction.counts().non_element() > 0);
    // Afterwards the same service comes and goes as data only.
    let mut gone = s.state.clone();
    gone.services.remove(&api);
    gone.services.remove(&none);
    for (state, what) in [(&gone, "removed"), (&s.state, "added")] {
        let p = d.sync(
            state,
            &Delta {
                changed: [api.clone(), none.clone()].into(),
                ..Delta::default()
            },
            SyncMode::Partial,
        );
        let script = render::transaction(&p.transaction);
        assert_eq!(p.transaction.counts().non_element(), 0, "{what}:\n{script}");
        for cmd in &p.transaction.commands {
            if let Op::AddElement { elem, .. } = &cmd.op {
                assert!(
                    !matches!(elem.data, Some(ElemData::Verdict(_))),
                    "{what}: a verdict element:\n{script}"
                );
            }
        }
        assert!(script.contains("service-ips"), "{what}:\n{script}");
    }
    d.assert_matches_full(&s.state, "after the add");
    print_kernel_check(&d.scripts);
}
