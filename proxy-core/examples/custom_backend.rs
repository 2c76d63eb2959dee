//! A complete custom backend: instead of programming a kernel, it prints which endpoints each
//! service port would use, on every sync.
//!
//! ```text
//! cargo run -p proxy-core --example custom_backend -- proxy-core/examples/cluster.yaml [NODE]
//! ```
//!
//! The file (multi-document YAML, JSON, or a `kubectl get -o yaml` List of Services,
//! EndpointSlices and Nodes) is read once and handed to the sync runner as the initial list; the
//! runner converts and tracks it and calls the backend, which prints the table.

use std::fmt::Write as _;
use std::process::ExitCode;

use async_trait::async_trait;
use proxy_core::model::{Endpoint, NodeInfo, ServicePort, SourceRanges, TrafficPolicy};
use proxy_core::runner::{RunnerConfig, SourceEvent, SyncRunner};
use proxy_core::topology::categorize;
use proxy_core::tracker::ChangeTracker;
use proxy_core::{Datapath, Delta, ProxyState, Result, SyncMode, SyncReport, manifest};

/// A backend that renders the state as a table on standard output.
struct TableBackend;

#[async_trait]
impl Datapath for TableBackend {
    fn name(&self) -> &str {
        "table"
    }

    async fn sync(
        &mut self,
        state: &ProxyState,
        delta: &Delta,
        mode: SyncMode,
    ) -> Result<SyncReport> {
        let table = render(state);
        print!("{table}");
        println!(
            "({mode:?} sync: {} service ports, {} changed, {} deleted)",
            state.services.len(),
            delta.changed.len(),
            delta.deleted.len()
        );
        Ok(SyncReport {
            objects_added: state.services.len(),
            messages: 1,
            bytes: table.len(),
            ..SyncReport::default()
        })
    }

    async fn cleanup(&mut self) -> Result<()> {
        Ok(())
    }
}

/// One line per service port: its addresses, policies, and the endpoints each kind of traffic
/// goes to, as the node in `state` sees them.
fn render(state: &ProxyState) -> String {
    let mut rows = vec![[
        "SERVICE PORT".to_string(),
        "FRONTENDS".to_string(),
        "POLICY".to_string(),
        "AFFINITY".to_string(),
        "CLUSTER TRAFFIC ->".to_string(),
        "LOCAL TRAFFIC ->".to_string(),
    ]];
    for (name, svc) in &state.services {
        let sets = categorize(state.endpoints_of(name), svc, &state.node);
        rows.push([
            name.to_string(),
            frontends(svc),
            policies(svc),
            svc.session_affinity
                .map_or("-".to_string(), |a| format!("{}s", a.timeout_seconds)),
            targets(sets.cluster.as_deref(), sets.has_any_endpoints),
            targets(sets.local.as_deref(), sets.has_any_endpoints),
        ]);
    }
    let mut widths = [0; 6];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = format!(
        "node {} (zone {})\n",
        state.node.name,
        state.node.zone().unwrap_or("-")
    );
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    out
}

/// `clusterIP:port`, then the node port, external and load-balancer IPs.
fn frontends(svc: &ServicePort) -> String {
    let mut parts: Vec<String> = svc
        .cluster_ips
        .iter()
        .map(|ip| std::net::SocketAddr::new(*ip, svc.port).to_string())
        .collect();
    if let Some(np) = svc.node_port {
        parts.push(format!("node:{np}"));
    }
    parts.extend(svc.external_ips.iter().map(|ip| format!("ext {ip}")));
    parts.extend(svc.load_balancer_ips.iter().map(|ip| format!("lb {ip}")));
    if let SourceRanges::Only(nets) = &svc.source_ranges {
        let nets: Vec<String> = nets.iter().map(ToString::to_string).collect();
        parts.push(format!("from {}", nets.join(",")));
    }
    parts.join(" ")
}

/// `external/internal` traffic policies, `C` for Cluster, `L` for Local.
fn policies(svc: &ServicePort) -> String {
    let p = |t: TrafficPolicy| if t == TrafficPolicy::Local { "L" } else { "C" };
    format!(
        "etp={} itp={}",
        p(svc.external_traffic_policy),
        p(svc.internal_traffic_policy)
    )
}

/// The endpoints a set sends to, or what happens when it is empty.
fn targets(set: Option<&[&Endpoint]>, has_any: bool) -> String {
    match set {
        None => "(unused)".to_string(),
        Some([]) if has_any => "DROP (none usable here)".to_string(),
        Some([]) => "REJECT (no endpoints)".to_string(),
        Some(eps) => eps
            .iter()
            .map(|e| {
                let mark = if e.ready { "" } else { "~" };
                format!("{mark}{}", e.addr())
            })
            .collect::<Vec<_>>()
            .join(" "),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: custom_backend FILE [NODE-NAME]");
        return ExitCode::from(2);
    };
    let node = args.next().unwrap_or_else(|| "node-a".to_string());
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) => {
            eprintln!("cannot read {path}: {err}");
            return ExitCode::FAILURE;
        }
    };
    let (objects, errors) = manifest::parse(&text);
    for err in &errors {
        eprintln!("warning: {path}: {err}");
    }

    let tracker = ChangeTracker::new(NodeInfo::new(node));
    let runner = SyncRunner::new(TableBackend, tracker, RunnerConfig::default());
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    // The whole file is the initial list; closing the channel makes the runner sync what it has
    // and return.
    if tx.send(SourceEvent::Reset(objects)).await.is_err() {
        return ExitCode::FAILURE;
    }
    drop(tx);
    runner.run(rx, std::future::pending()).await;
    ExitCode::SUCCESS
}
