//! `svcproxy run --source kube` against the fake API server (real HTTP, the real kube-rs
//! client), programming a sandbox node with real traffic: the initial list, changes and a new
//! service, an API outage (rules kept, traffic flowing, changes made meanwhile applied after
//! it), and a watch expired by compaction (relist, an object deleted meanwhile loses its
//! rules).

use std::net::IpAddr;
use std::process::Command;
use std::time::Duration;

use proxy_core::{KubeObject, manifest};
use testkit::e2e::manifest::{Ep, Svc, render};
use testkit::fake_api::FakeApi;
use testkit::sandbox::Sandbox;

use crate::common::{Running, answers, serving_sandbox};

/// Stores every object of `services` in the fake API server.
fn apply(api: &FakeApi, services: &[Svc]) {
    let (objects, errors) = manifest::parse(&render(services));
    assert!(errors.is_empty(), "{errors:?}");
    for object in objects {
        let done = match object {
            KubeObject::Service(s) => api.apply(s.as_ref()),
            KubeObject::EndpointSlice(s) => api.apply(s.as_ref()),
            KubeObject::Node(n) => api.apply(n.as_ref()),
        };
        done.expect("apply");
    }
}

/// Polls (up to 15 s) until `vip` is answered by exactly `pods`; returns what was last seen.
fn until_served(sandbox: &Sandbox, vip: IpAddr, pods: &[usize]) -> (Vec<String>, usize) {
    let mut want: Vec<String> = pods
        .iter()
        .map(|&i| sandbox.pods[i].ipv4.to_string())
        .collect();
    want.sort();
    // No pod at all: every connection fails (the service is gone).
    let failed = if pods.is_empty() { 20 } else { 0 };
    let mut seen = (Vec::new(), 0);
    for _ in 0..30 {
        seen = answers(sandbox, vip);
        if seen == (want.clone(), failed) {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("{vip} never served by {want:?}: last {seen:?}");
}

#[test]
fn run_follows_the_api_server_through_outages_and_relists() {
    if !testkit::root_or_skip("run_follows_the_api_server_through_outages_and_relists") {
        return;
    }
    let (sandbox, _servers) = serving_sandbox("kube", 3);
    let ep = |i: usize| Ep {
        ip: sandbox.pods[i].ipv4.into(),
        node: "node-b",
    };
    let (web, api_vip): (IpAddr, IpAddr) = (
        "10.96.0.10".parse().expect("ip"),
        "10.96.0.11".parse().expect("ip"),
    );
    let svc = Svc::new("web", web, "TCP", 80, 8080);
    let other = Svc::new("api", api_vip, "TCP", 80, 8080);

    let api = FakeApi::start().expect("fake API server");
    apply(
        &api,
        &[
            svc.clone().endpoints([ep(0), ep(1)]),
            other.clone().endpoints([ep(2)]),
        ],
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_svcproxy"));
    cmd.args([
        "run",
        "--backend",
        "nftables",
        "--source",
        "kube",
        "--master",
        &api.url(),
    ])
    .args([
        "--node-name",
        "node-a",
        "--node-ip",
        &testkit::plan::NODE_V4.to_string(),
    ])
    .args([
        "--cluster-cidr",
        "10.244.0.0/16",
        "--min-sync-period",
        "100ms",
    ])
    .args(["--netns", sandbox.node.ns.name()])
    .env("RUST_LOG", "info");
    let run = Running::start(cmd);

    // The initial list, then a change and a new service.
    until_served(&sandbox, web, &[0, 1]);
    until_served(&sandbox, api_vip, &[2]);
    apply(&api, &[svc.clone().endpoints([ep(2)])]);
    until_served(&sandbox, web, &[2]);
    let added: IpAddr = "10.96.0.12".parse().expect("ip");
    apply(
        &api,
        &[Svc::new("added", added, "TCP", 80, 8080).endpoints([ep(1)])],
    );
    until_served(&sandbox, added, &[1]);

    // The API server goes away for 10 s: the rules stay and traffic flows; a change made
    // meanwhile arrives after it.
    api.stop();
    std::thread::sleep(Duration::from_secs(10));
    assert_eq!(
        answers(&sandbox, web),
        (vec![sandbox.pods[2].ipv4.to_string()], 0)
    );
    apply(&api, &[svc.clone().endpoints([ep(0)])]);
    api.restart().expect("restart");
    until_served(&sandbox, web, &[0]);

    // While the API server is away, `api` is deleted and history compacted: the watches'
    // resumption gets 410 Gone, the kinds are relisted, and the vanished service is deleted.
    // The Service watcher's own relist is awaited: after two outages its backoff may have grown
    // to kube-rs's (and client-go's) 30 s ceiling, while the other kinds relist sooner.
    let relisted = "list complete kind=Service";
    let lists = run.count(relisted);
    api.stop();
    api.delete::<k8s_openapi::api::core::v1::Service>("e2e", "api")
        .expect("delete");
    api.compact_all();
    api.restart().expect("restart");
    run.wait_for_within(relisted, lists, Duration::from_secs(60));
    until_served(&sandbox, api_vip, &[]);
    until_served(&sandbox, web, &[0]);
}
