//! The iptables backend at 10k services x 5 endpoints, side by side with the nftables backend
//! in the same run, every measurement in fresh network namespaces.
//!
//! ```text
//! cargo bench -p benches --bench iptables                       # everything, ~6 minutes on 2 vCPUs
//! cargo bench -p benches --bench iptables -- iptables_partial   # one group
//! SVCPROXY_BENCH_IPT_NFT_FULL_LOADS=3 cargo bench -p benches --bench iptables
//! ```
//!
//! Groups (the cluster of [`benches::cluster`], 10 000 TCP services of 5 endpoints, IPv4 node):
//!
//! * `iptables_full/legacy/10k_x5`: a cold [`SyncMode::Full`] sync of
//!   [`backend_iptables::datapath::IptablesDatapath`] with `iptables-legacy` into a fresh
//!   namespace (namespace and datapath set up, and the namespace emptied afterwards, outside
//!   the timing): the first sync's look at what the kernel holds, plan, render, one restore;
//! * `iptables_full/legacy_restore_reference/10k_x5`: `ip netns exec NS
//!   iptables-legacy-restore --noflush -w 30 < FILE` of the same rules (the planner's full plan,
//!   what `svcproxy dump` prints) into a fresh namespace; the first load's `iptables-save` is
//!   checked identical to the datapath's. Each iteration of these two groups runs both, back to
//!   back (see [`bench_legacy_and_reference`]): criterion times one, the summary records both
//!   and their ratio, so the 1.2x comparison is not at the mercy of the load drifting between
//!   two groups on a shared machine;
//! * `iptables_full/nft/10k_x5`: the same cold sync with `iptables-nft` (restores in chunks).
//!   At 10 to 20 s per sync it runs [`NFT_FULL_LOADS`] times (`SVCPROXY_BENCH_IPT_NFT_FULL_LOADS`)
//!   outside criterion's sampler (which needs 11), in the same run, printed as
//!   min/median/max; it follows criterion's filter, and `cargo test --benches` skips it;
//! * `iptables_partial/{legacy,nft}/10k_x5`: after a full sync (once, untimed), one
//!   [`SyncMode::Partial`] sync moving the first endpoint of the middle service to another
//!   address, and back the next iteration;
//! * `nftables_full/10k_x5`, `nftables_partial/10k_x5`: the same two for
//!   [`backend_nft::datapath::NftDatapath`].
//!
//! Issue 4's targets: the partial sync at least 3x faster than the full one (per variant); the
//! cold full sync within 1.2x of one `iptables-legacy-restore` of the same rules on legacy,
//! and under 20 s on iptables-nft. The run ends with a summary checking them.
//!
//! `iptables-legacy` serializes every writer on the host through one lock (`/run/xtables.lock`,
//! shared by all namespaces): another program's legacy restore anywhere on the machine delays
//! ours. The summary says how many legacy iterations started while someone else held it.

use std::cell::{Cell, OnceCell};
use std::time::Duration;

use backend_iptables::Variant;
use benches::cli::Args;
use benches::cluster::Cluster;
use benches::iptables_rig::{self, Iptables, LegacyRestore};
use benches::iptables_summary::{self as ids, IptablesSummary};
use benches::rig::{Svcproxy, TempFile};
use benches::summary;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode};
use proxy_core::{Delta, ProxyState, SyncMode};
use tokio::time::Instant;

/// Services.
const SERVICES: u32 = 10_000;
/// Endpoints per service.
const ENDPOINTS: u32 = 5;
/// The size in benchmark ids.
const LABEL: &str = "10k_x5";

/// How many times the iptables-nft full sync runs (default [`NFT_FULL_LOADS`]).
const NFT_FULL_LOADS_VAR: &str = "SVCPROXY_BENCH_IPT_NFT_FULL_LOADS";
/// 10 to 20 s each on a 2-vCPU machine; criterion would need at least 11.
const NFT_FULL_LOADS: usize = 5;

/// The tools the run needs.
const TOOLS: [&str; 6] = [
    "iptables-legacy-restore",
    "iptables-legacy-save",
    "iptables-nft-restore",
    "iptables-nft-save",
    "nft",
    "ip",
];

/// Everything the benches share: the cluster, its state (built once), the summary.
struct Ctx {
    cluster: Cluster,
    state: OnceCell<ProxyState>,
    /// Chains of ours a full sync declares, and the fingerprint of the legacy ruleset as the
    /// datapath loaded it (compared with the reference's).
    expected_chains: OnceCell<usize>,
    legacy_fingerprint: Cell<Option<u64>>,
    /// The reference's restore input (the same rules), written once.
    reference_file: OnceCell<TempFile>,
    summary: IptablesSummary,
}

impl Ctx {
    fn state(&self) -> &ProxyState {
        self.state.get_or_init(|| self.cluster.state())
    }

    fn expected_chains(&self) -> usize {
        *self
            .expected_chains
            .get_or_init(|| iptables_rig::reference_text(&self.cluster, self.state()).1)
    }

    fn reference_file(&self) -> &TempFile {
        self.reference_file.get_or_init(|| {
            let (text, _) = iptables_rig::reference_text(&self.cluster, self.state());
            eprintln!(
                "{}: {} lines, {} bytes of restore input",
                ids::reference(LABEL),
                text.lines().count(),
                text.len()
            );
            TempFile::new("iptables-reference", &text).expect("a temporary file")
        })
    }

    /// Checks a freshly full-synced namespace (`saved`: its normalized IPv4 save): every chain
    /// of ours is there.
    fn check_full(&self, id: &str, saved: &str) {
        let chains = iptables_rig::our_chains(saved);
        assert_eq!(chains, self.expected_chains(), "{id}: chains of ours");
        eprintln!(
            "{id}: {chains} chains of ours, {} rules in the kernel",
            iptables_rig::rules(saved)
        );
    }

    /// Checks that the reference and the legacy datapath loaded the same ruleset, once both
    /// were seen.
    fn same_as_datapath(&self, id: &str, fingerprint: u64) {
        match self.legacy_fingerprint.get() {
            None => self.legacy_fingerprint.set(Some(fingerprint)),
            Some(f) => {
                assert_eq!(
                    f, fingerprint,
                    "{id}: the reference's iptables-legacy-save differs from the datapath's"
                );
                eprintln!("{id}: iptables-legacy-save identical to the datapath's");
            }
        }
    }
}

/// Configures a group of slow iterations: 10 samples (criterion's minimum) of one iteration
/// each, plus one warm-up iteration. The 1 s measurement time only keeps every sample at one
/// iteration (criterion will say it needed longer).
fn slow_group(group: &mut BenchmarkGroup<'_, WallTime>, samples: usize) {
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(samples)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(1));
}

/// A cold full sync of `variant` into a fresh namespace: one iteration.
fn iptables_full_once(ctx: &Ctx, variant: Variant, id: &str, check: &mut bool) -> Duration {
    let mut rig = Iptables::new(&ctx.cluster, variant).expect("a namespace and a datapath");
    let busy = variant == Variant::Legacy && iptables_rig::xtables_lock_busy();
    let (elapsed, report) = rig.sync(ctx.state(), &Delta::default(), SyncMode::Full);
    ctx.summary.record(id, elapsed, busy);
    if *check {
        let saved = rig.save().expect("the save tool");
        eprintln!(
            "{id}: first sync {} ({} restore lines, {} bytes)",
            summary::fmt(elapsed),
            report.messages,
            report.bytes
        );
        ctx.check_full(id, &saved);
        if variant == Variant::Legacy {
            ctx.same_as_datapath(id, iptables_rig::fingerprint(&saved));
        }
        *check = false;
    }
    elapsed
}

/// One `iptables-legacy-restore` of the reference file into a fresh namespace: one iteration.
fn reference_once(ctx: &Ctx, check: &mut bool) -> Duration {
    let id = ids::reference(LABEL);
    let rig = LegacyRestore::new().expect("a namespace");
    let busy = iptables_rig::xtables_lock_busy();
    let elapsed = rig
        .load(ctx.reference_file().path())
        .expect("iptables-legacy-restore");
    ctx.summary.record(&id, elapsed, busy);
    if *check {
        let saved = rig.save().expect("iptables-legacy-save");
        ctx.check_full(&id, &saved);
        ctx.same_as_datapath(&id, iptables_rig::fingerprint(&saved));
        *check = false;
    }
    elapsed
}

/// A legacy cold full sync and a reference load, each into its own fresh namespace, one right
/// after the other (the reference first if `reference_first`); both recorded, and their ratio.
/// Returns (datapath, reference).
fn legacy_pair(ctx: &Ctx, reference_first: bool, checks: &mut [bool; 2]) -> (Duration, Duration) {
    let id = ids::full_legacy(LABEL);
    let [check_ours, check_ref] = checks;
    let (ours, reference) = if reference_first {
        let r = reference_once(ctx, check_ref);
        (iptables_full_once(ctx, Variant::Legacy, &id, check_ours), r)
    } else {
        let o = iptables_full_once(ctx, Variant::Legacy, &id, check_ours);
        (o, reference_once(ctx, check_ref))
    };
    ctx.summary
        .record_pair(ours.as_secs_f64() / reference.as_secs_f64());
    (ours, reference)
}

/// `iptables_full/legacy` and `iptables_full/legacy_restore_reference`. The machine is shared
/// and its load drifts over the minutes a group takes, so each iteration of either runs a
/// *pair*: a datapath sync and a reference load back to back, the timed one second (the
/// other one is recorded for the summary, not for criterion). Both ids thus have samples from
/// both groups' windows, the order within a pair alternates between the groups, and the
/// summary gives the median of per-pair ratios next to the ratio of medians.
fn bench_legacy_and_reference(group: &mut BenchmarkGroup<'_, WallTime>, ctx: &Ctx) {
    let mut checks = [true, true];
    group.bench_function(BenchmarkId::new(Variant::Legacy.name(), LABEL), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| legacy_pair(ctx, true, &mut checks).0)
                .sum()
        });
    });
    group.bench_function(BenchmarkId::new("legacy_restore_reference", LABEL), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| legacy_pair(ctx, false, &mut checks).1)
                .sum()
        });
    });
}

/// The iptables-nft cold full sync, a few times *outside* criterion's sampler (which takes at
/// least 11 iterations). Honors criterion's filter and modes; prints the minimum, median and
/// maximum where criterion prints its estimate.
fn nft_full_outside_criterion(args: &Args, ctx: &Ctx) {
    let id = ids::full_nft(LABEL);
    if !args.selects(&id) || args.profile {
        return;
    }
    if args.list {
        println!("{id}: benchmark");
        return;
    }
    if args.test {
        println!("Testing {id}\nSkipped (too slow for a test: see iptables_partial/nft)\n");
        return;
    }
    let loads = match std::env::var(NFT_FULL_LOADS_VAR) {
        Ok(v) => match v.parse::<usize>() {
            Ok(k) if k > 0 => k,
            _ => panic!("{NFT_FULL_LOADS_VAR}={v}: expected a positive number of syncs"),
        },
        Err(_) => NFT_FULL_LOADS,
    };
    println!(
        "Benchmarking {id}: {loads} syncs outside criterion's sampling \
         (criterion needs 11; set {NFT_FULL_LOADS_VAR} to change)"
    );
    let mut check = true;
    let mut times: Vec<Duration> = (0..loads)
        .map(|_| iptables_full_once(ctx, Variant::Nft, &id, &mut check))
        .collect();
    times.sort();
    let median = summary::median(&times).unwrap_or_default();
    println!(
        "{id}\n                        time:   [{} {} {}]   (min, median, max of {loads} syncs; not a criterion estimate)",
        summary::fmt(times[0]),
        summary::fmt(median),
        summary::fmt(times[times.len() - 1]),
    );
}

fn iptables_full(c: &mut Criterion, args: &Args, ctx: &Ctx) {
    let mut group = c.benchmark_group("iptables_full");
    slow_group(&mut group, 10);
    bench_legacy_and_reference(&mut group, ctx);
    nft_full_outside_criterion(args, ctx);
    group.finish();
}

/// An iptables datapath holding a full sync of the cluster, reused across a partial group.
struct Loaded {
    state: ProxyState,
    rig: Iptables,
}

impl Loaded {
    fn new(ctx: &Ctx, id: &str, variant: Variant) -> Self {
        let state = ctx.state().clone();
        let mut rig = Iptables::new(&ctx.cluster, variant).expect("a namespace and a datapath");
        let (elapsed, report) = rig.sync(&state, &Delta::default(), SyncMode::Full);
        eprintln!(
            "{id}: setup full sync took {} ({} restore lines, {} bytes)",
            summary::fmt(elapsed),
            report.messages,
            report.bytes
        );
        Loaded { state, rig }
    }
}

/// The service whose endpoint the partial groups move.
fn changed_service(cluster: &Cluster) -> u32 {
    cluster.services / 2
}

fn iptables_partial(c: &mut Criterion, ctx: &Ctx) {
    let mut group = c.benchmark_group("iptables_partial");
    slow_group(&mut group, 20);
    for variant in Variant::ALL {
        let id = format!("iptables_partial/{variant}/{LABEL}");
        let mut loaded: Option<Loaded> = None;
        let mut reported = false;
        group.bench_function(BenchmarkId::new(variant.name(), LABEL), |b| {
            let Loaded { state, rig } =
                loaded.get_or_insert_with(|| Loaded::new(ctx, &id, variant));
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let delta = ctx
                        .cluster
                        .toggle_endpoint(state, changed_service(&ctx.cluster));
                    let busy = variant == Variant::Legacy && iptables_rig::xtables_lock_busy();
                    let (elapsed, report) = rig.sync(state, &delta, SyncMode::Partial);
                    ctx.summary.record(&id, elapsed, busy);
                    total += elapsed;
                    if !reported {
                        assert!(
                            report.messages < 50,
                            "{id}: a partial sync sent {} restore lines",
                            report.messages
                        );
                        eprintln!(
                            "{id}: {} restore lines, {} bytes per sync",
                            report.messages, report.bytes
                        );
                        reported = true;
                    }
                }
                total
            });
        });
        if let Some(Loaded { state, rig }) = &loaded {
            // Every chain still there, and the moved endpoint where the state says it is.
            let saved = rig.save().expect("the save tool");
            ctx.check_full(&id, &saved);
            let i = changed_service(&ctx.cluster);
            let alternate = ctx.cluster.alternate_endpoint(i);
            let moved = state.endpoints[&ctx.cluster.name(i)].contains(&alternate);
            assert_eq!(
                saved.contains(&format!("--to-destination {alternate}")),
                moved,
                "{id}: the moved endpoint"
            );
        }
        // The namespace goes before the next variant is loaded.
        drop(loaded);
    }
    group.finish();
}

fn nftables(c: &mut Criterion, ctx: &Ctx) {
    let mut group = c.benchmark_group("nftables_full");
    slow_group(&mut group, 10);
    let id = ids::nftables_full(LABEL);
    let mut check = true;
    group.bench_function(LABEL, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut rig = Svcproxy::new(&ctx.cluster).expect("a namespace and a datapath");
                let (elapsed, report) = rig.sync(ctx.state(), &Delta::default(), SyncMode::Full);
                ctx.summary.record(&id, elapsed, false);
                total += elapsed;
                if check {
                    let programmed = rig.service_ips().expect("nft list map");
                    assert_eq!(programmed, SERVICES as usize, "{id}: service-ips elements");
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
    group.finish();

    let mut group = c.benchmark_group("nftables_partial");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    let id = ids::nftables_partial(LABEL);
    let mut loaded: Option<(ProxyState, Svcproxy)> = None;
    let mut reported = false;
    group.bench_function(LABEL, |b| {
        let (state, rig) = loaded.get_or_insert_with(|| {
            let state = ctx.state().clone();
            let mut rig = Svcproxy::new(&ctx.cluster).expect("a namespace and a datapath");
            let (elapsed, _) = rig.sync(&state, &Delta::default(), SyncMode::Full);
            eprintln!("{id}: setup full sync took {}", summary::fmt(elapsed));
            (state, rig)
        });
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let delta = ctx
                    .cluster
                    .toggle_endpoint(state, changed_service(&ctx.cluster));
                let (elapsed, report) = rig.sync(state, &delta, SyncMode::Partial);
                ctx.summary.record(&id, elapsed, false);
                total += elapsed;
                if !reported {
                    eprintln!(
                        "{id}: {} messages, {} bytes per sync",
                        report.messages, report.bytes
                    );
                    reported = true;
                }
            }
            total
        });
    });
    drop(loaded);
    group.finish();
}

/// The tools of [`TOOLS`] not found in `PATH`.
fn missing_tools() -> Vec<&'static str> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    TOOLS
        .into_iter()
        .filter(|tool| !std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
        .collect()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|e| format!("unknown ({e})"))
}

fn main() {
    if !testkit::is_root() {
        eprintln!(
            "skipping the iptables benches: they need root (CAP_NET_ADMIN, CAP_SYS_ADMIN) to \
             create the network namespaces every measurement programs"
        );
        return;
    }
    let missing = missing_tools();
    if !missing.is_empty() {
        eprintln!(
            "skipping the iptables benches: {} not found in PATH",
            missing.join(", ")
        );
        return;
    }
    let args = Args::from_env();
    let measuring = !args.list && !args.test && !args.profile;
    let start = Instant::now();
    if measuring {
        println!("load average at the start: {}", loadavg());
    }
    let ctx = Ctx {
        cluster: Cluster::new(SERVICES, ENDPOINTS),
        state: OnceCell::new(),
        expected_chains: OnceCell::new(),
        legacy_fingerprint: Cell::new(None),
        reference_file: OnceCell::new(),
        summary: IptablesSummary::new(),
    };
    let mut c = Criterion::default().configure_from_args();
    iptables_full(&mut c, &args, &ctx);
    iptables_partial(&mut c, &ctx);
    nftables(&mut c, &ctx);
    c.final_summary();
    if measuring {
        print!("{}", ctx.summary.render(LABEL));
        println!(
            "load average at the end: {} (run took {})",
            loadavg(),
            summary::fmt(start.elapsed())
        );
    }
}
