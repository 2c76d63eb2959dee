//! Sync cost at scale, side by side in one run, every measurement in fresh network namespaces
//! (see the `benches` crate documentation for how to run it and what each group measures).
//!
//! Issue 3's targets: cold full sync of 10k x 5 under 1 s and at least 20x faster than `nft -f`
//! of kube-proxy's shape; adding one service or changing one endpoint at 10k under 2 ms, and at
//! 44k within 2x of the figure at 1k. The run ends with a summary checking them.

use std::cell::OnceCell;
use std::time::Duration;

use benches::cli::Args;
use benches::cluster::{self, Cluster};
use benches::kube_proxy;
use benches::rig::{NftFile, Svcproxy, TempFile};
use benches::summary::{self, Summary};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode};
use ipnet::IpNet;
use proxy_core::{Delta, ProxyState, SyncMode};

/// Endpoints per service, everywhere.
const ENDPOINTS: u32 = 5;

/// Full-sync sizes: svcproxy at each; `nft -f` under criterion at the first two, and at the
/// third with [`NFT_10K_LOADS_VAR`] loads outside criterion's sampling.
const FULL_SIZES: [(u32, &str); 3] = [(1_000, "1k_x5"), (5_000, "5k_x5"), (10_000, "10k_x5")];

/// Full-sync size for svcproxy only (`nft -f` would take many minutes per load).
const FULL_SIZE_SVCPROXY_ONLY: (u32, &str) = (44_000, "44k_x5");

/// Sizes of the partial-sync groups.
const PARTIAL_SIZES: [(u32, &str); 3] = [(1_000, "1k"), (10_000, "10k"), (44_000, "44k")];

/// How many times the 10k `nft -f` reference is loaded (default [`NFT_10K_LOADS`]).
const NFT_10K_LOADS_VAR: &str = "SVCPROXY_BENCH_NFT_10K_LOADS";
/// One such load takes 40 s to 100 s on a 2-vCPU machine; criterion would need at least 11.
const NFT_10K_LOADS: usize = 3;

const SVCPROXY: &str = "svcproxy";
const NFT_F: &str = "nft_f_kube_proxy_shape";

fn kube_proxy_config() -> kube_proxy::Config {
    kube_proxy::Config {
        cluster_cidr: IpNet::V4(cluster::CLUSTER_CIDR),
        service_cidr: IpNet::V4(cluster::SERVICE_CIDR),
    }
}

/// kube-proxy's text for `cluster`, in a temporary file.
fn kube_proxy_file(cluster: &Cluster, id: &str) -> TempFile {
    let text = kube_proxy::render(&cluster.state(), &kube_proxy_config());
    eprintln!(
        "{id}: {} lines, {} bytes of nft text",
        text.lines().count(),
        text.len()
    );
    TempFile::new("kube-proxy", &text).expect("a temporary file")
}

/// Loads `file` into a fresh namespace; checks the chains the first time (`check`).
fn load_kube_proxy(file: &TempFile, n: u32, id: &str, check: &mut bool) -> Duration {
    let rig = NftFile::new().expect("a namespace");
    let elapsed = rig.load(file.path()).expect("nft -f of kube-proxy's shape");
    if *check {
        let chains = rig.chains().expect("nft list chains");
        let expected = 16 + n as usize * (1 + ENDPOINTS as usize);
        assert_eq!(chains, expected, "{id}: chains after the load");
        eprintln!(
            "{id}: {chains} chains loaded (first load {})",
            summary::fmt(elapsed)
        );
        *check = false;
    }
    elapsed
}

/// Configures a group of slow iterations: 10 samples (criterion's minimum) of one iteration
/// each, plus one warm-up iteration. The 1 s measurement time only keeps every sample at one
/// iteration (criterion will say it needed longer).
fn slow_group(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(1));
}

/// A cold full sync of `n` x 5 into a fresh namespace per iteration.
fn bench_svcproxy_full(
    group: &mut BenchmarkGroup<'_, WallTime>,
    summary: &Summary,
    n: u32,
    label: &str,
) {
    let id = format!("full_sync/{SVCPROXY}/{label}");
    let cluster = Cluster::new(n, ENDPOINTS);
    let state = OnceCell::new();
    let mut check = true;
    group.bench_function(BenchmarkId::new(SVCPROXY, label), |b| {
        let state = state.get_or_init(|| cluster.state());
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut rig = Svcproxy::new(&cluster).expect("a namespace and a datapath");
                let (elapsed, report) = rig.sync(state, &Delta::default(), SyncMode::Full);
                total += elapsed;
                summary.record(&id, elapsed);
                if check {
                    let programmed = rig.service_ips().expect("nft list map");
                    assert_eq!(programmed, n as usize, "{id}: service-ips elements");
                    eprintln!(
                        "{id}: {} messages, {} bytes; {programmed} services in service-ips",
                        report.messages, report.bytes
                    );
                    check = false;
                }
            }
            total
        });
    });
}

/// `nft -f` of kube-proxy's shape of `n` x 5 into a fresh namespace per iteration.
fn bench_nft_file(
    group: &mut BenchmarkGroup<'_, WallTime>,
    summary: &Summary,
    n: u32,
    label: &str,
) {
    let id = format!("full_sync/{NFT_F}/{label}");
    let cluster = Cluster::new(n, ENDPOINTS);
    let file = OnceCell::new();
    let mut check = true;
    group.bench_function(BenchmarkId::new(NFT_F, label), |b| {
        let file = file.get_or_init(|| kube_proxy_file(&cluster, &id));
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let elapsed = load_kube_proxy(file, n, &id, &mut check);
                total += elapsed;
                summary.record(&id, elapsed);
            }
            total
        });
    });
}

/// `nft -f` of kube-proxy's shape of `n` x 5, loaded a few times *outside* criterion's
/// sampler: criterion takes at least 11 iterations (10 samples and a warm-up), which at 40 to
/// 100 s per load would take most of the run. Honors criterion's filter and modes; prints the
/// minimum, median and maximum of the loads where criterion prints its estimate.
fn nft_file_outside_criterion(args: &Args, summary: &Summary, n: u32, label: &str) {
    let id = format!("full_sync/{NFT_F}/{label}");
    if !args.selects(&id) || args.profile {
        return;
    }
    if args.list {
        println!("{id}: benchmark");
        return;
    }
    if args.test {
        // The same code as the 1k and 5k entries, which criterion tests; a load is too slow.
        println!("Testing {id}\nSkipped (too slow for a test: see the 1k and 5k entries)\n");
        return;
    }
    let loads = match std::env::var(NFT_10K_LOADS_VAR) {
        Ok(v) => match v.parse::<usize>() {
            Ok(k) if k > 0 => k,
            _ => panic!("{NFT_10K_LOADS_VAR}={v}: expected a positive number of loads"),
        },
        Err(_) => NFT_10K_LOADS,
    };
    println!(
        "Benchmarking {id}: {loads} loads outside criterion's sampling \
         (criterion needs 11; set {NFT_10K_LOADS_VAR} to change)"
    );
    let file = kube_proxy_file(&Cluster::new(n, ENDPOINTS), &id);
    let mut check = true;
    let mut times: Vec<Duration> = (0..loads)
        .map(|_| {
            let elapsed = load_kube_proxy(&file, n, &id, &mut check);
            summary.record(&id, elapsed);
            elapsed
        })
        .collect();
    times.sort();
    let median = summary::median(&times).unwrap_or_default();
    println!(
        "{id}\n                        time:   [{} {} {}]   (min, median, max of {loads} loads; not a criterion estimate)",
        summary::fmt(times[0]),
        summary::fmt(median),
        summary::fmt(times[times.len() - 1]),
    );
}

fn full_sync(c: &mut Criterion, args: &Args, summary: &Summary) {
    let mut group = c.benchmark_group("full_sync");
    slow_group(&mut group);
    for (i, (n, label)) in FULL_SIZES.into_iter().enumerate() {
        bench_svcproxy_full(&mut group, summary, n, label);
        if i + 1 < FULL_SIZES.len() {
            bench_nft_file(&mut group, summary, n, label);
        } else {
            nft_file_outside_criterion(args, summary, n, label);
        }
    }
    let (n, label) = FULL_SIZE_SVCPROXY_ONLY;
    bench_svcproxy_full(&mut group, summary, n, label);
    group.finish();
}

/// A datapath holding a full sync of a cluster, reused across a partial-sync bench.
struct Loaded {
    cluster: Cluster,
    state: ProxyState,
    rig: Svcproxy,
}

impl Loaded {
    fn new(id: &str, n: u32) -> Self {
        let cluster = Cluster::new(n, ENDPOINTS);
        let state = cluster.state();
        let mut rig = Svcproxy::new(&cluster).expect("a namespace and a datapath");
        let (elapsed, report) = rig.sync(&state, &Delta::default(), SyncMode::Full);
        eprintln!(
            "{id}: setup full sync of {n} x {ENDPOINTS} took {} ({} messages, {} bytes)",
            summary::fmt(elapsed),
            report.messages,
            report.bytes
        );
        Loaded {
            cluster,
            state,
            rig,
        }
    }
}

/// Configures a group of fast iterations.
fn fast_group(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
}

/// The change a partial-sync group times.
#[derive(Clone, Copy)]
enum Change {
    /// Add the service after the last one (removed again after each iteration, untimed).
    AddService,
    /// Move the first endpoint of the middle service to another address, and back.
    ChangeEndpoint,
}

impl Change {
    fn group(self) -> &'static str {
        match self {
            Change::AddService => "add_service",
            Change::ChangeEndpoint => "change_endpoint",
        }
    }
}

fn partial(c: &mut Criterion, summary: &Summary, change: Change) {
    let mut group = c.benchmark_group(change.group());
    fast_group(&mut group);
    for (n, label) in PARTIAL_SIZES {
        let id = format!("{}/{SVCPROXY}/{label}", change.group());
        let mut loaded: Option<Loaded> = None;
        let mut reported = false;
        group.bench_function(BenchmarkId::new(SVCPROXY, label), |b| {
            let Loaded {
                cluster,
                state,
                rig,
            } = loaded.get_or_insert_with(|| Loaded::new(&id, n));
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let delta = match change {
                        Change::AddService => cluster.insert(state, cluster.services),
                        Change::ChangeEndpoint => {
                            cluster.toggle_endpoint(state, cluster.services / 2)
                        }
                    };
                    let (elapsed, report) = rig.sync(state, &delta, SyncMode::Partial);
                    total += elapsed;
                    summary.record(&id, elapsed);
                    if !reported {
                        eprintln!(
                            "{id}: {} messages, {} bytes per sync",
                            report.messages, report.bytes
                        );
                        reported = true;
                    }
                    if let Change::AddService = change {
                        let delta = cluster.remove(state, cluster.services);
                        rig.sync(state, &delta, SyncMode::Partial);
                    }
                }
                total
            });
        });
        if let Some(loaded) = &loaded {
            let programmed = loaded.rig.service_ips().expect("nft list map");
            assert_eq!(
                programmed, n as usize,
                "{id}: service-ips elements at the end"
            );
        }
        // The namespace goes before the next size is loaded.
        drop(loaded);
    }
    group.finish();
}

fn main() {
    if !testkit::is_root() {
        eprintln!(
            "skipping the sync benches: they need root (CAP_NET_ADMIN, CAP_SYS_ADMIN) to create \
             the network namespaces every measurement programs"
        );
        return;
    }
    let args = Args::from_env();
    let summary = Summary::new();
    let mut c = Criterion::default().configure_from_args();
    full_sync(&mut c, &args, &summary);
    partial(&mut c, &summary, Change::AddService);
    partial(&mut c, &summary, Change::ChangeEndpoint);
    c.final_summary();
    if !args.list && !args.test && !args.profile {
        print!("{}", summary.render());
    }
}
