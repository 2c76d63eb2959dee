//! One size of the agent benchmark: starts of the agent against the API process, then the
//! memory and the endpoint changes on the last one.

use std::path::Path;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::agent::{Agent, AgentOptions};
use super::api::ApiProcess;
use super::log::{Line, Synced};
use super::report::{SizeResult, Start};
use crate::rig::Result;
use crate::summary::fmt;

/// How long a first sync may take before the run is given up.
const FIRST_SYNC_LIMIT: Duration = Duration::from_secs(300);

/// How long one change may take to be committed before it counts as lost.
const CHANGE_LIMIT: Duration = Duration::from_secs(10);

/// Settling time before each memory reading.
const SETTLE: Duration = Duration::from_secs(1);

/// What to measure at one size.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Services.
    pub services: u32,
    /// Endpoints per service.
    pub endpoints: u32,
    /// Agent starts timed (the last one is kept for the rest).
    pub starts: usize,
    /// Endpoint changes made on the kept agent.
    pub changes: usize,
    /// Changes per second.
    pub rate: f64,
    /// How the agent is started.
    pub agent: AgentOptions,
}

/// Measures `plan` with the agent `svcproxy` and the API process `api_exe`.
pub fn measure(svcproxy: &Path, api_exe: &Path, plan: &Plan) -> Result<SizeResult> {
    let mut result = SizeResult {
        services: plan.services,
        endpoints: plan.endpoints,
        changes: plan.changes,
        ..SizeResult::default()
    };
    let begun = Instant::now();
    let mut api = ApiProcess::start(api_exe, plan.services, plan.endpoints)?;
    eprintln!(
        "{}: API process serving at {} (generated in {})",
        result.label(),
        api.url(),
        fmt(begun.elapsed())
    );
    let mut kept = None;
    for k in 0..plan.starts.max(1) {
        let mut agent = Agent::spawn(svcproxy, api.url(), &plan.agent)?;
        let start = first_sync(&mut agent)?;
        eprintln!(
            "{}: start {}: first full sync committed after {} (up {}, lists done {}, sync {})",
            result.label(),
            k + 1,
            fmt(start.total),
            fmt(start.up),
            fmt(start.listed),
            fmt(start.sync)
        );
        result.starts.push(start);
        kept = Some(agent);
    }
    let Some(mut agent) = kept else {
        return Ok(result);
    };
    std::thread::sleep(SETTLE);
    result.after_sync = Some(agent.memory()?);
    changes(&mut agent, &mut api, plan, &mut result)?;
    std::thread::sleep(SETTLE);
    result.after_changes = Some(agent.memory()?);
    Ok(result)
}

/// Waits for the agent's first full sync; its start's figures.
fn first_sync(agent: &mut Agent) -> Result<Start> {
    let spawned = agent.spawned_at();
    let since = |at: SystemTime| at.duration_since(spawned).unwrap_or_default();
    let (_, synced) = agent.wait_for(0, FIRST_SYNC_LIMIT, |l| {
        Synced::from_line(l).filter(|s| s.full)
    })?;
    let at = |agent: &mut Agent, pick: &dyn Fn(&Line) -> bool| {
        agent
            .wait_for(0, Duration::ZERO, |l| pick(l).then_some(l.at))
            .map_or(Duration::ZERO, |(_, t)| since(t))
    };
    let up = at(agent, &|l| l.is("watching the API server"));
    let services = at(agent, &|l| {
        l.is("list complete") && l.field("kind") == Some("Service")
    });
    let slices = at(agent, &|l| {
        l.is("list complete") && l.field("kind") == Some("EndpointSlice")
    });
    Ok(Start {
        total: since(synced.at),
        up,
        listed: services.max(slices),
        sync: synced.duration,
    })
}

/// The service the `k`-th change touches: spread over the cluster, deterministic.
fn service_of(k: usize, services: u32) -> u32 {
    let n = u64::from(services.max(1));
    // 7919 is prime: consecutive changes land far apart.
    let i = (k as u64 * 7919 + n / 2) % n;
    u32::try_from(i).unwrap_or(0)
}

/// Makes the changes at the planned rate, each waited for before the next.
fn changes(
    agent: &mut Agent,
    api: &mut ApiProcess,
    plan: &Plan,
    result: &mut SizeResult,
) -> Result<()> {
    if plan.changes == 0 {
        return Ok(());
    }
    let period = Duration::from_secs_f64(1.0 / plan.rate.max(1e-3));
    let first = agent.lines();
    let mut from = first;
    let begun = Instant::now();
    for k in 0..plan.changes {
        let slot = begun + period.mul_f64(k as f64);
        std::thread::sleep(slot.saturating_duration_since(Instant::now()));
        let written = api.toggle(service_of(k, plan.services))?;
        result.elapsed = begun.elapsed();
        let found = agent.wait_for(from, CHANGE_LIMIT, |l| {
            Synced::from_line(l).filter(|s| s.latency.is_some())
        });
        match found {
            Ok((index, synced)) => {
                from = index + 1;
                result.latencies.extend(synced.latency);
                result
                    .walls
                    .push(synced.at.duration_since(written).unwrap_or_default());
            }
            Err(e) => {
                eprintln!("change {k}: {e}");
                result.lost += 1;
                from = agent.lines();
            }
        }
        if (k + 1) % 100 == 0 {
            eprintln!("{}: {} changes", result.label(), k + 1);
        }
    }
    // Full syncs with no change waiting: the periodic ones.
    result.resyncs = agent.scan(first, |l| {
        Synced::from_line(l)
            .filter(|s| s.full && s.latency.is_none())
            .map(|s| s.duration)
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_spread_over_the_cluster() {
        let picked: std::collections::BTreeSet<u32> =
            (0..1000).map(|k| service_of(k, 10_000)).collect();
        assert_eq!(picked.len(), 1000);
        assert!(picked.iter().all(|&i| i < 10_000));
        assert_eq!(service_of(0, 1), 0);
    }
}
