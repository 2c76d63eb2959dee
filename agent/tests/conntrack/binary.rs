//! Conntrack cleanup wired into the binary: `svcproxy run` deletes the entry of a UDP client
//! that keeps its source port once its endpoint is removed, so its next datagram reaches the
//! remaining endpoint (without the cleanup it would keep reaching the removed one).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use testkit::e2e::manifest::{Ep, Svc, render};
use testkit::sandbox::Sandbox;
use testkit::server::{Outcome, UdpClient, UdpServer};

use crate::common::TempFile;

/// `svcproxy run`, its log collected; killed on drop.
struct Run {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Run {
    fn start(source: &TempFile, node_ns: &str) -> Run {
        let mut child = Command::new(env!("CARGO_BIN_EXE_svcproxy"))
            .args(["run", "--backend", "nftables", "--source"])
            .arg(format!("file:{}", source.path().display()))
            .args([
                "--node-name",
                "node-a",
                "--node-ip",
                &testkit::plan::NODE_V4.to_string(),
            ])
            .args(["--cluster-cidr", "10.244.0.0/16", "--min-sync-period", "0s"])
            .args(["--netns", node_ns])
            .env("RUST_LOG", "info,proxy_core=debug,svcproxy=debug")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start svcproxy run");
        let log = Arc::new(Mutex::new(Vec::new()));
        if let Some(stderr) = child.stderr.take() {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Ok(mut log) = log.lock() {
                        log.push(line);
                    }
                }
            });
        }
        Run { child, log }
    }

    fn count(&self, text: &str) -> usize {
        self.log
            .lock()
            .map(|l| l.iter().filter(|l| l.contains(text)).count())
            .unwrap_or(0)
    }

    /// Waits until `text` was logged more than `seen` times (at most 20 s).
    fn wait_for(&self, text: &str, seen: usize) {
        for _ in 0..200 {
            if self.count(text) > seen {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = self.log.lock().map(|l| l.join("\n")).unwrap_or_default();
        panic!("never logged {text:?}:\n{log}");
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn run_releases_a_udp_client_from_a_removed_endpoint() {
    if !testkit::root_or_skip("run_releases_a_udp_client_from_a_removed_endpoint") {
        return;
    }
    let sandbox = Sandbox::builder()
        .prefix("ctrun")
        .pods(2)
        .build()
        .expect("sandbox");
    let _servers: Vec<UdpServer> = sandbox
        .pods
        .iter()
        .map(|p| UdpServer::start(&p.ns, SocketAddr::new(p.ipv4.into(), 5353)).expect("server"))
        .collect();
    let ep = |i: usize| Ep {
        ip: sandbox.pods[i].ipv4.into(),
        node: "node-b",
    };
    let vip = SocketAddr::new("10.96.0.53".parse().expect("ip"), 53);
    let svc = Svc::new("dns", vip.ip(), "UDP", 53, 5353);
    let source = TempFile::with("ct.yaml", &render(&[svc.clone().endpoints([ep(0)])]));
    let run = Run::start(&source, sandbox.node.ns.name());
    run.wait_for("datapath synced", 0);
    let client = UdpClient::bind(
        &sandbox.client.ns,
        SocketAddr::new(sandbox.client.ipv4.into(), 0),
    )
    .expect("client");
    let first = Outcome::Answer(sandbox.pods[0].ipv4.to_string());
    assert_eq!(client.ask(vip, Duration::from_secs(2)), first);

    let syncs = run.count("datapath synced");
    source.replace(&render(&[svc.endpoints([ep(1)])]));
    run.wait_for("datapath synced", syncs);
    run.wait_for("deleted stale conntrack entries", 0);
    let second = Outcome::Answer(sandbox.pods[1].ipv4.to_string());
    assert_eq!(
        client.ask(vip, Duration::from_secs(2)),
        second,
        "the same source port reaches the remaining endpoint"
    );
}
