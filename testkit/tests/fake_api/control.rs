//! Outages: stop and restart on the same port, pauses, and a server inside a namespace.

use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use kube::Api;
use kube::runtime::watcher;
use testkit::Netns;
use testkit::fake_api::{FakeApi, Kind, Options, Pause};

use super::{Mirror, client, fake_api, ports, service};
use crate::common::require_root;

#[tokio::test]
async fn watcher_recovers_after_stop_and_restart_on_the_same_port() {
    let api = fake_api();
    api.create(&service("ns", "a", 80, &[])).expect("create");
    let mut mirror = Mirror::start(
        Api::<Service>::all(client(&api)),
        watcher::Config::default(),
    );
    mirror
        .wait_for("the initial list", |m| m.init_dones == 1)
        .await;
    let addr = api.addr();
    api.stop();
    // The port is free (nothing listens), and the watcher fails to reconnect.
    assert!(
        TcpStream::connect(addr).is_err(),
        "nothing listens after stop"
    );
    drop(TcpListener::bind(addr).expect("the port is released"));
    mirror
        .wait_for("a failed reconnection", |m| !m.errors.is_empty())
        .await;
    // Changes during the outage are kept, as etcd keeps them.
    api.update(&service("ns", "a", 81, &[])).expect("update");
    api.create(&service("ns", "b", 82, &[])).expect("create");
    api.restart().expect("restart");
    assert_eq!(api.addr(), addr);
    mirror
        .wait_for("the outage's changes", |m| {
            m.objects.len() == 2 && ports(m).get("ns/a") == Some(&81)
        })
        .await;
    assert_eq!(mirror.inits, 1, "resumed from its version, no relist");
}

#[tokio::test]
async fn pause_unavailable_answers_503_and_hang_answers_after_unpause() {
    let api = fake_api();
    api.create(&service("ns", "a", 80, &[])).expect("create");
    api.pause(Pause::Unavailable);
    let (code, body) = super::http::get(&api, "/api/v1/services");
    assert_eq!(code, 503);
    assert_eq!(body["reason"], "ServiceUnavailable");
    api.pause(Pause::Hang);
    let mut stream = TcpStream::connect(api.addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    super::http::send(&mut stream, "/api/v1/services");
    assert!(
        super::http::read_all(&mut stream).is_err(),
        "no answer while hung"
    );
    api.unpause();
    stream
        .set_read_timeout(Some(super::PATIENCE))
        .expect("timeout");
    let answer = super::http::read_all(&mut stream).expect("an answer after unpause");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(
        api.requests(Kind::Service).lists,
        2,
        "both requests counted on arrival"
    );
}

#[test]
fn a_server_in_a_namespace_listens_there_across_restarts() {
    require_root!("a_server_in_a_namespace_listens_there_across_restarts");
    let ns = Netns::new("tk-fakeapi").expect("netns");
    let api = FakeApi::start_in(&ns, Options::default()).expect("start");
    let addr = api.addr();
    let version = |ns: &Netns| {
        ns.enter(move || {
            let mut stream = TcpStream::connect(addr).expect("connect inside");
            super::http::send(&mut stream, "/version");
            super::http::read_all(&mut stream).expect("answer")
        })
    };
    assert!(version(&ns).contains("\"major\":\"1\""));
    api.stop();
    api.restart().expect("restart in the namespace");
    assert!(version(&ns).contains("gitVersion"));
    // The host's loopback is another namespace's: nothing of ours listens there (a refused
    // connection, or someone else's server; never our /version).
    if let Ok(mut stream) = TcpStream::connect(addr) {
        stream
            .set_read_timeout(Some(Duration::from_secs(1)))
            .expect("timeout");
        super::http::send(&mut stream, "/version");
        let answer = super::http::read_all(&mut stream).unwrap_or_default();
        assert!(!answer.contains("svcproxy-fake"), "{answer}");
    }
}
