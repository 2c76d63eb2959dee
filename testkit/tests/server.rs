//! Tests of `testkit::server` in a single namespace.

use std::net::SocketAddr;
use std::time::Duration;

use testkit::server::{Outcome, TcpServer, UdpServer, tcp_ask, udp_ask};
use testkit::{Error, Netns};

use crate::common::require_root;

const WAIT: Duration = Duration::from_secs(2);

#[test]
fn servers_answer_with_the_address_they_were_reached_on() {
    require_root!("servers_answer_with_the_address_they_were_reached_on");
    let ns = Netns::new("tk-srv").expect("namespace");
    ns.ip_batch(["addr add 10.1.0.1/32 dev lo", "addr add 10.1.0.2/32 dev lo"])
        .expect("addresses");

    // Port 0: the server reports the port it got. A wildcard answers per address.
    let tcp = TcpServer::start(&ns, "0.0.0.0:0".parse().expect("addr")).expect("tcp");
    let port = tcp.local_addr().port();
    assert_ne!(port, 0);
    for ip in ["10.1.0.1", "10.1.0.2", "127.0.0.1"] {
        let addr = SocketAddr::new(ip.parse().expect("ip"), port);
        assert_eq!(tcp_ask(&ns, addr, WAIT), Outcome::Answer(ip.to_owned()));
    }
    assert_eq!(tcp.peers().len(), 3);

    let udp = UdpServer::start(&ns, "10.1.0.2:0".parse().expect("addr")).expect("udp");
    let addr = udp.local_addr();
    assert_ne!(addr.port(), 0);
    let answer = udp_ask(&ns, addr, WAIT);
    assert_eq!(answer.answer(), Some("10.1.0.2"));
    assert_eq!(udp.peers().len(), 1);

    // Stopped on drop: the ports close.
    drop(tcp);
    drop(udp);
    assert_eq!(
        tcp_ask(
            &ns,
            SocketAddr::new("10.1.0.1".parse().expect("ip"), port),
            WAIT
        ),
        Outcome::Refused
    );
    assert_eq!(udp_ask(&ns, addr, WAIT), Outcome::Refused);
}

#[test]
fn servers_report_bad_addresses() {
    require_root!("servers_report_bad_addresses");
    let ns = Netns::new("tk-srv").expect("namespace");
    assert!(matches!(
        UdpServer::start(&ns, "0.0.0.0:53".parse().expect("addr")),
        Err(Error::InvalidArgument(_))
    ));
    // Not an address of this namespace.
    assert!(matches!(
        TcpServer::start(&ns, "192.0.2.1:80".parse().expect("addr")),
        Err(Error::Io { .. })
    ));
    // Taken.
    let first = TcpServer::start(&ns, "127.0.0.1:0".parse().expect("addr")).expect("tcp");
    assert!(TcpServer::start(&ns, first.local_addr()).is_err());
}

#[test]
fn outcomes_read_well() {
    assert_eq!(Outcome::Refused.to_string(), "refused");
    assert_eq!(Outcome::Timeout.to_string(), "timeout");
    assert_eq!(
        Outcome::Answer("10.0.0.1".into()).to_string(),
        "answer \"10.0.0.1\""
    );
    assert_eq!(Outcome::Timeout.answer(), None);
}
