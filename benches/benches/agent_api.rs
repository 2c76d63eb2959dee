//! The agent's benchmark against the fake API server: the real `svcproxy run --source kube
//! --backend nftables` binary, the API server (`fake_cluster_api`) in another process, every
//! size side by side in one run. See `benches/README.md` and `benches::agent_api`.
//!
//! ```text
//! cargo bench -p benches --bench agent_api                                  # 10k and 44k
//! cargo bench -p benches --bench agent_api -- --sizes 1000 --starts 1 --changes 100
//! ```
//!
//! The agent binary is built first (`cargo build --release -p svcproxy`, a no-op when up to
//! date) unless `--svcproxy PATH` names one. Not a criterion bench: one start takes seconds,
//! and the figures are the agent's own (log timestamps, `latency_us`, `/proc/PID/status`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};
use benches::agent_api::agent::AgentOptions;
use benches::agent_api::report;
use benches::agent_api::run::{self, Plan};
use benches::cluster::Cluster;
use clap::Parser;

/// The agent benchmark: start time, memory and change latency of `svcproxy run`.
#[derive(Debug, Parser)]
struct Flags {
    /// Services per size, comma-separated (each with --endpoints endpoints).
    #[arg(long, value_delimiter = ',', default_value = "10000,44000")]
    sizes: Vec<u32>,
    /// Endpoints per service.
    #[arg(long, default_value_t = 5)]
    endpoints: u32,
    /// Agent starts timed per size (the median is reported).
    #[arg(long, default_value_t = 3)]
    starts: usize,
    /// Endpoint changes per size, on the last agent started.
    #[arg(long, default_value_t = 1000)]
    changes: usize,
    /// Changes per second.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// The agent's --sync-period (default: the agent's own, 30s).
    #[arg(long)]
    sync_period: Option<String>,
    /// The svcproxy binary to measure, instead of building it.
    #[arg(long)]
    svcproxy: Option<PathBuf>,
    /// Passed by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
    /// Criterion-style filters (ignored).
    #[arg(hide = true)]
    filter: Vec<String>,
}

/// Builds svcproxy in the profile this bench was built in; its path.
fn build_svcproxy() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("this bench's path")?;
    // target/<profile>/deps/agent_api-HASH
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("this bench is not in target/<profile>/deps")?;
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .context("profile directory")?;
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let mut cmd = Command::new(option_env!("CARGO").unwrap_or("cargo"));
    cmd.args(["build", "-q", "-p", "svcproxy", "--manifest-path"])
        .arg(&manifest);
    match profile {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    eprintln!("building svcproxy ({profile}): {cmd:?}");
    let status = cmd.status().context("cannot run cargo")?;
    if !status.success() {
        bail!("cargo build -p svcproxy failed ({status})");
    }
    let bin = profile_dir.join("svcproxy");
    if !bin.exists() {
        bail!("{} missing after the build", bin.display());
    }
    Ok(bin)
}

fn main() -> anyhow::Result<()> {
    let mut flags = Flags::parse();
    if !testkit::is_root() {
        eprintln!("skipping the agent_api bench: it needs root to create network namespaces");
        return Ok(());
    }
    if !flags.bench {
        // `cargo test --benches`: one small size, quickly.
        eprintln!("agent_api: test mode (cargo bench runs the real sizes)");
        (flags.sizes, flags.starts, flags.changes) = (vec![200], 1, 5);
    }
    for &n in &flags.sizes {
        Cluster::check(n, flags.endpoints).map_err(anyhow::Error::msg)?;
    }
    if flags.rate <= 0.0 || flags.rate.is_nan() {
        bail!("--rate must be positive");
    }
    let svcproxy = match flags.svcproxy.clone() {
        Some(path) => path,
        None => build_svcproxy()?,
    };
    let api = Path::new(env!("CARGO_BIN_EXE_fake_cluster_api"));
    let mut results = Vec::new();
    for &services in &flags.sizes {
        let plan = Plan {
            services,
            endpoints: flags.endpoints,
            starts: flags.starts,
            changes: flags.changes,
            rate: flags.rate,
            agent: AgentOptions {
                sync_period: flags.sync_period.clone(),
            },
        };
        let result = run::measure(&svcproxy, api, &plan)
            .map_err(|e| anyhow::anyhow!("{services} x {}: {e}", flags.endpoints))?;
        results.push(result);
    }
    println!(
        "\nagent_api: {} against fake_cluster_api (another process), --min-sync-period 0s, \
         sync period {}, {} change(s)/s",
        svcproxy.display(),
        flags.sync_period.as_deref().unwrap_or("30s (default)"),
        flags.rate
    );
    print!("{}", report::render(&results));
    Ok(())
}
