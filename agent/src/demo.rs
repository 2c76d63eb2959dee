//! `svcproxy demo`: a sandbox of network namespaces (a node, three pods running small servers,
//! a client), example services programmed by the chosen backend, real traffic, and a table of
//! who answered. The sandbox is removed at the end, also on Ctrl-C.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use proxy_core::model::NodeInfo;
use proxy_core::tracker::ChangeTracker;
use proxy_core::{Datapath, SyncMode, manifest};
use testkit::Sandbox;
use testkit::server::{TcpServer, tcp_ask};
use tokio::time::Instant;

use crate::backends;
use crate::config::NodePortAddresses;
use crate::config::{DatapathConfig, DemoConfig};
use crate::error::Error;

/// The node the demo programs; pod 0 runs there, the others on `node-b`.
const NODE: &str = "node-a";
/// The port the pods serve on.
const POD_PORT: u16 = 8080;
/// How long one probe may take.
const PROBE: Duration = Duration::from_secs(1);

/// The example services (pod IPs follow testkit's address plan).
const SERVICES: &str = include_str!("demo/services.yaml");
/// The endpoint of `demo/web` the demo removes (its first listing in [`SERVICES`]) before the
/// partial sync.
const REMOVED_ENDPOINT: &str = "- {addresses: [10.244.0.4], nodeName: node-b}\n";

/// One row of traffic: what to probe, how often.
struct Probe {
    label: &'static str,
    target: SocketAddr,
    count: usize,
}

/// Runs the demo with the backend `config` names; Ctrl-C stops the traffic and removes the
/// sandbox.
pub async fn run(config: &DemoConfig) -> Result<(), Error> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupted: removing the sandbox");
            flag.store(true, Ordering::SeqCst);
        }
    });
    let config = config.clone();
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || demo(&config, &stop, &handle))
        .await
        .map_err(|e| Error::Demo(format!("the demo task failed: {e}")))?
}

/// The demo proper, on a blocking thread (probes are blocking socket calls).
fn demo(demo: &DemoConfig, stop: &AtomicBool, rt: &tokio::runtime::Handle) -> Result<(), Error> {
    let sandbox = Sandbox::builder()
        .prefix("svcproxy-demo")
        .pods(3)
        .build()
        .map_err(|e| Error::Demo(format!("building the sandbox: {e}")))?;
    let mut servers = Vec::new();
    for pod in &sandbox.pods {
        let addr = SocketAddr::new(
            "::".parse().map_err(|_| Error::Demo("address".into()))?,
            POD_PORT,
        );
        servers.push(
            TcpServer::start(&pod.ns, addr)
                .map_err(|e| Error::Demo(format!("starting a server: {e}")))?,
        );
    }
    println!(
        "sandbox: node {} ({}), pods {}, client {}",
        NODE,
        sandbox.node.ipv4,
        sandbox
            .pods
            .iter()
            .map(|p| p.ipv4.to_string())
            .collect::<Vec<_>>()
            .join(" "),
        sandbox.client.ipv4
    );

    let config = DatapathConfig {
        backend: demo.backend,
        netns: Some(sandbox.node.ns.name().to_string()),
        cluster_cidrs: vec![cidr("10.244.0.0/16")?, cidr("fd00:244::/64")?],
        service_cidrs: Vec::new(),
        nodeport_addresses: NodePortAddresses::Primary,
        detect_local: Default::default(),
        masquerade_all: false,
        iptables_variant: demo.iptables_variant,
        // Unused: the demo programs a sandbox namespace of its own and takes no lock.
        lock_wait: crate::lock::DEFAULT_WAIT,
    };
    let mut datapath = backends::datapath(&config)?;
    let mut tracker = ChangeTracker::new(NodeInfo {
        ips: sandbox.node.ips().to_vec(),
        ..NodeInfo::new(NODE)
    });

    let full = sync(&mut datapath, &mut tracker, SERVICES, SyncMode::Full, rt)?;
    println!(
        "full sync of {} service ports: {full:?}",
        tracker.state().services.len()
    );
    let node_port = SocketAddr::new(sandbox.node.ipv4.into(), 30080);
    let probes = [
        probe("demo/web (ClusterIP)", "10.96.0.10:80", 300)?,
        Probe {
            label: "demo/web-nodeport (NodePort, from outside)",
            target: node_port,
            count: 150,
        },
        probe("demo/sticky (ClientIP affinity)", "10.96.0.20:80", 100)?,
        probe("demo/empty (no endpoints)", "10.96.0.30:80", 20)?,
    ];
    let mut report = traffic(&sandbox, &probes, stop);

    let scaled_down = SERVICES.replacen(REMOVED_ENDPOINT, "", 1);
    let partial = sync(
        &mut datapath,
        &mut tracker,
        &scaled_down,
        SyncMode::Partial,
        rt,
    )?;
    println!(
        "partial sync after removing {} from demo/web: {partial:?}",
        sandbox.pods[2].ipv4
    );
    let after = [probe(
        "demo/web after the scale-down",
        "10.96.0.10:80",
        150,
    )?];
    report.push_str(&traffic(&sandbox, &after, stop));
    print!("{report}");
    drop(servers);
    Ok(())
}

fn cidr(s: &str) -> Result<ipnet::IpNet, Error> {
    s.parse().map_err(|e| Error::Demo(format!("{s}: {e}")))
}

fn probe(label: &'static str, target: &str, count: usize) -> Result<Probe, Error> {
    let target = target
        .parse()
        .map_err(|e| Error::Demo(format!("{target}: {e}")))?;
    Ok(Probe {
        label,
        target,
        count,
    })
}

/// Feeds `yaml` to the tracker and syncs the datapath; returns how long the sync took.
fn sync(
    datapath: &mut impl Datapath,
    tracker: &mut ChangeTracker,
    yaml: &str,
    mode: SyncMode,
    rt: &tokio::runtime::Handle,
) -> Result<Duration, Error> {
    let (objects, errors) = manifest::parse(yaml);
    if let Some(e) = errors.first() {
        return Err(Error::Demo(format!("the embedded services: {e}")));
    }
    tracker.reset(&objects);
    let delta = tracker.take_delta();
    let start = Instant::now();
    rt.block_on(datapath.sync(tracker.state(), &delta, mode))
        .map_err(|e| Error::Sync(std::sync::Arc::new(e)))?;
    Ok(start.elapsed())
}

/// Sends every probe from the client and renders who answered how often.
fn traffic(sandbox: &Sandbox, probes: &[Probe], stop: &AtomicBool) -> String {
    let pods: Vec<String> = sandbox.pods.iter().map(|p| p.ipv4.to_string()).collect();
    let mut out = String::new();
    let _ = write!(out, "\n{:<44} {:>6}", "SERVICE", "SENT");
    for pod in &pods {
        let _ = write!(out, " {pod:>11}");
    }
    let _ = writeln!(out, " {:>8} {:>6}", "REFUSED", "OTHER");
    for p in probes {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        let mut sent = 0;
        for _ in 0..p.count {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let outcome = tcp_ask(&sandbox.client.ns, p.target, PROBE);
            let key = match outcome.answer() {
                Some(ip) => ip.to_string(),
                None if outcome == testkit::server::Outcome::Refused => "refused".to_string(),
                None => "other".to_string(),
            };
            *counts.entry(key).or_default() += 1;
            sent += 1;
        }
        let _ = write!(out, "{:<44} {sent:>6}", p.label);
        for pod in &pods {
            let _ = write!(out, " {:>11}", counts.get(pod).copied().unwrap_or(0));
        }
        let get = |k: &str| counts.get(k).copied().unwrap_or(0);
        let _ = writeln!(out, " {:>8} {:>6}", get("refused"), get("other"));
    }
    out
}
