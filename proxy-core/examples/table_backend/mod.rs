//! The table backend of the examples: instead of programming a kernel, it prints which
//! endpoints each service port would use, on every sync. Shared by proxy-core's
//! `custom_backend` (fed from a file) and the agent's `custom_agent` (fed from the API server).

use std::fmt::Write as _;

use async_trait::async_trait;
use proxy_core::model::{Endpoint, ServicePort, SourceRanges, TrafficPolicy};
use proxy_core::topology::categorize;
use proxy_core::{Datapath, Delta, ProxyState, Result, SyncMode, SyncReport};

/// A backend that renders the state as a table on standard output.
pub struct TableBackend;

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
pub fn render(state: &ProxyState) -> String {
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
