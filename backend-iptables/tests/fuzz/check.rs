//! The checker passes every golden case and fails each kind of broken plan.

use backend_iptables::check::{self, Tables};
use backend_iptables::names::{self, Kind};
use backend_iptables::plan::{self, Config};
use backend_iptables::restore::Table;
use proxy_core::ProxyState;
use proxy_core::model::{IpFamily, Protocol, TrafficPolicy};
use testkit::routes;
use testkit::scenarios::{Scenario, Setting, ip, node_config, port_name, web3};

/// The single-stack configuration of the golden tests.
pub fn config() -> Config {
    config_for(Setting::SingleStack)
}

/// The configuration of a golden scenario's setting.
pub fn config_for(setting: Setting) -> Config {
    Config {
        node: node_config(setting),
        chunk_chains: None,
    }
}

fn full(state: &ProxyState, config: &Config) -> Tables {
    let mut t = Tables::default();
    t.apply(&plan::full_plan(state, config))
        .expect("the plan applies");
    t
}

#[test]
fn every_golden_case_is_valid() {
    for (case, state, setting) in testkit::scenarios::cases() {
        let config = config_for(setting);
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

/// Asserts the checker finds a problem containing `want`.
fn assert_finds(tables: &Tables, state: &ProxyState, want: &str) {
    let problems = check::check(tables, state, &config());
    assert!(
        problems.iter().any(|p| p.contains(want)),
        "expected a problem with {want:?}, got {problems:#?}"
    );
}

/// The rules of nat chain `name` (IPv4), to break them.
fn nat_chain<'a>(t: &'a mut Tables, name: &str) -> &'a mut Vec<String> {
    t.chains
        .get_mut(&(IpFamily::V4, Table::Nat))
        .expect("nat")
        .get_mut(name)
        .expect("chain")
}

#[test]
fn an_endpoint_without_its_dnat_is_found() {
    let s = web3();
    let web = port_name("web", Protocol::Tcp);
    let mut t = full(&s.state, &config());
    let sep = names::endpoint_chain(&web, "10.244.0.3:8080".parse().expect("addr"));
    nat_chain(&mut t, &sep).retain(|r| !r.contains("DNAT"));
    assert_finds(&t, &s.state, "the ruleset gives");
    assert_finds(&t, &s.state, &names::service_chain(Kind::Svc, &web));
}

#[test]
fn a_jump_to_a_missing_chain_and_an_unused_chain_are_found() {
    let s = web3();
    let mut t = full(&s.state, &config());
    nat_chain(&mut t, names::SERVICES).insert(0, "-j SVCP-NOWHERE".into());
    assert_finds(&t, &s.state, "jumps to missing SVCP-NOWHERE");
    let mut t = full(&s.state, &config());
    let api = port_name("api", Protocol::Tcp);
    let orphan = names::service_chain(Kind::Ext, &api);
    t.chains
        .get_mut(&(IpFamily::V4, Table::Nat))
        .expect("nat")
        .insert(orphan.clone(), vec!["-j SVCP-MARK-MASQ".into()]);
    assert_finds(
        &t,
        &s.state,
        &format!("{orphan} is declared but never used"),
    );
}

#[test]
fn a_rule_the_checker_does_not_know_is_found() {
    let s = web3();
    let mut t = full(&s.state, &config());
    nat_chain(&mut t, names::SERVICES).insert(0, "-m owner --uid-owner 0 -j RETURN".into());
    assert_finds(&t, &s.state, "unknown module owner");
}

#[test]
fn endpoints_swapped_between_services_are_found() {
    let s = web3()
        .service("api", Protocol::Tcp, "10.96.0.11", 80, |_| {})
        .endpoints("api", Protocol::Tcp, &[("10.244.0.9", 8080, false)], |_| {});
    let api = port_name("api", Protocol::Tcp);
    let mut t = full(&s.state, &config());
    let sep = names::endpoint_chain(&api, "10.244.0.9:8080".parse().expect("addr"));
    for r in nat_chain(&mut t, &sep).iter_mut() {
        *r = r.replace("10.244.0.9:8080", "10.244.0.2:8080");
    }
    assert_finds(&t, &s.state, "default/api:p/tcp ClusterIp");
}

#[test]
fn a_service_without_its_rules_is_found() {
    let planned = web3();
    let t = full(&planned.state, &config());
    let s = web3()
        .service("api", Protocol::Tcp, "10.96.0.11", 80, |_| {})
        .endpoints("api", Protocol::Tcp, &[("10.244.0.9", 8080, false)], |_| {});
    assert_finds(&t, &s.state, "default/api:p/tcp");
    assert_finds(&Tables::default(), &planned.state, "nothing programmed");
}

/// Found by the property tests: in a family where a service is reachable from outside only
/// through the other family's addresses (here a dual-stack service whose only external IP is
/// IPv6, no node port), the IPv4 rules declared an `EXT` chain (and with `Local` policies the
/// `SVC`/`SVL`/`SEP` chains only it used) that nothing jumped to.
#[test]
fn r7_no_chains_for_external_addresses_of_the_other_family() {
    let dual = config_for(Setting::DualStack);
    for (etp, itp) in [
        (TrafficPolicy::Cluster, TrafficPolicy::Cluster),
        (TrafficPolicy::Local, TrafficPolicy::Cluster),
        (TrafficPolicy::Cluster, TrafficPolicy::Local),
    ] {
        let s = Scenario::new()
            .service("web", Protocol::Tcp, "10.96.0.10", 80, |svc| {
                svc.cluster_ips.push(ip("fd00:96::10"));
                svc.external_ips = vec![ip("fd00:60::1")];
                svc.external_traffic_policy = etp;
                svc.internal_traffic_policy = itp;
            })
            .endpoints(
                "web",
                Protocol::Tcp,
                &[
                    ("10.244.0.2", 8080, true),
                    ("10.244.1.3", 8080, false),
                    ("fd00:244::2", 8080, true),
                ],
                |_| {},
            );
        let problems = check::check(&full(&s.state, &dual), &s.state, &dual);
        assert!(
            problems.is_empty(),
            "{etp:?}/{itp:?}:\n{}",
            problems.join("\n")
        );
    }
}
