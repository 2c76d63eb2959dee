//! The checker passes every golden case and fails each kind of broken plan.

use backend_nft::check;
use backend_nft::ir::{ElemData, Rule, Ruleset, Stmt, Value, Verdict};
use backend_nft::names::SetName;
use backend_nft::plan::{self, Config};
use proxy_core::ProxyState;
use proxy_core::model::Protocol;
use testkit::routes;
use testkit::scenarios::{ip, web3};

use crate::scenarios::{cases, config};

fn full(state: &ProxyState, config: &Config) -> Ruleset {
    Ruleset::from_transaction(&plan::full_transaction(state, config)).expect("the plan applies")
}

#[test]
fn every_golden_case_is_valid() {
    for (case, state, config) in cases() {
        // The oracle has something to check in every case with a service.
        let expected = routes::expected(&state, &check::node(&config)).len();
        assert_eq!(
            expected == 0,
            state.services.is_empty(),
            "{case}: {expected} frontends"
        );
        let problems = check::check(&full(&state, &config), &state, &config);
        assert!(problems.is_empty(), "{case}:\n{}", problems.join("\n"));
    }
}

/// Asserts the checker finds a problem containing `want` in `ruleset`.
fn assert_finds(ruleset: &Ruleset, state: &ProxyState, want: &str) {
    let problems = check::check(ruleset, state, &config());
    assert!(
        problems.iter().any(|p| p.contains(want)),
        "expected a problem with {want:?}, got {problems:#?}"
    );
}

/// The IPv4 table of a ruleset, to break it.
fn table(r: &mut Ruleset) -> &mut backend_nft::ir::TableState {
    r.tables.values_mut().next().expect("a table")
}

#[test]
fn a_missing_endpoint_slot_is_found() {
    let s = web3();
    let mut r = full(&s.state, &config());
    let set = table(&mut r)
        .sets
        .iter_mut()
        .find(|s| s.def.name == SetName::ServiceEndpoints.as_str())
        .expect("service-endpoints");
    let slot1 = set
        .elements
        .keys()
        .find(|k| k.last() == Some(&Value::Slot(1)))
        .cloned()
        .expect("slot 1");
    set.elements.remove(&slot1);
    assert_finds(&r, &s.state, "the ruleset gives");
}

#[test]
fn endpoints_swapped_between_services_are_found() {
    let s = web3()
        .service("api", Protocol::Tcp, "10.96.0.11", 80, |_| {})
        .endpoints("api", Protocol::Tcp, &[("10.244.0.9", 8080, false)], |_| {});
    let mut r = full(&s.state, &config());
    let set = table(&mut r)
        .sets
        .iter_mut()
        .find(|s| s.def.name == SetName::ServiceEndpoints.as_str())
        .expect("service-endpoints");
    for e in set.elements.values_mut() {
        if e.key[0] == Value::Addr(ip("10.96.0.11")) {
            e.data = Some(ElemData::Concat(vec![
                Value::Addr(ip("10.244.0.2")),
                Value::Port(8080),
            ]));
        }
    }
    assert_finds(&r, &s.state, "default/api:p/tcp ClusterIp");
}

#[test]
fn a_dispatch_id_without_its_rule_is_found() {
    let s = web3();
    let mut r = full(&s.state, &config());
    let chain = table(&mut r)
        .chains
        .iter_mut()
        .find(|c| c.chain.name == "service-ips-dispatch")
        .expect("dispatch chain");
    chain.rules.clear();
    assert_finds(&r, &s.state, "no rule for the id");
}

#[test]
fn a_jump_to_a_missing_chain_and_a_missing_set_are_found() {
    let s = web3();
    let mut r = full(&s.state, &config());
    let t = table(&mut r);
    let services = t
        .chains
        .iter_mut()
        .find(|c| c.chain.name == "services")
        .expect("services");
    services.rules.insert(
        0,
        Rule::new(vec![Stmt::Verdict(Verdict::Jump("nowhere".into()))]),
    );
    services.rules.push(Rule::new(vec![Stmt::Lookup {
        key: vec![],
        set: "no-such-set".into(),
        negate: false,
    }]));
    assert_finds(&r, &s.state, "jumps to missing nowhere");
    assert_finds(&r, &s.state, "uses missing set no-such-set");
}

#[test]
fn a_service_without_its_rules_is_found() {
    // A state with one more service than the ruleset was planned for.
    let planned = web3();
    let r = full(&planned.state, &config());
    let s = web3()
        .service("api", Protocol::Tcp, "10.96.0.11", 80, |_| {})
        .endpoints("api", Protocol::Tcp, &[("10.244.0.9", 8080, false)], |_| {});
    assert_finds(&r, &s.state, "default/api:p/tcp");
    // And a missing table.
    let mut empty = r.clone();
    empty.tables.clear();
    assert_finds(&empty, &planned.state, "no table");
}
