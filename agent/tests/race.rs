//! One writer per network namespace, through the binary, in throwaway namespaces, for
//! nftables, iptables-legacy and iptables-nft:
//!
//! * two `sync`s of different inputs started together, 20 rounds: the second waits for the
//!   first (its log names the first's PID), and the namespace ends up holding exactly the
//!   rules a fresh sync of one input makes: the input of the one that ran last;
//! * `sync` against a running `run` (`--min-sync-period 0`), 20 rounds: each `sync` gives up
//!   after `--lock-wait`, exits non-zero naming `run`'s PID, and changes nothing; `run` goes on
//!   serving (a new input is applied) without spinning; once `run` is killed, the kernel has
//!   released its lock and a `sync` proceeds at once;
//! * the lock is per namespace: syncs into two namespaces at once never wait, while a second
//!   name for a locked namespace (`ip netns attach`) is refused.
//!
//! "Exactly the rules" is compared on a canonical form of what the kernel holds: `nft -j list
//! table ip svcproxy` without handles, set elements sorted; `iptables-save` without comments
//! and counters, chains sorted, each chain's rules in order.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use testkit::Netns;
use tokio::time::Instant;

use crate::common::{Running, TempFile, service_yaml};

/// Rounds of each race.
const ROUNDS: usize = 20;

/// How long a `sync` racing a `run` waits for the lock before giving up.
const SHORT_WAIT: &str = "200ms";

/// What the tests program: a backend, and how to observe it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Nftables,
    Legacy,
    IptablesNft,
}

impl Target {
    /// The backend's flags.
    fn flags(self) -> &'static [&'static str] {
        match self {
            Target::Nftables => &["--backend", "nftables"],
            Target::Legacy => &["--backend", "iptables", "--iptables-variant", "legacy"],
            Target::IptablesNft => &["--backend", "iptables", "--iptables-variant", "nft"],
        }
    }

    /// What of ours `ns` holds, in canonical form (see the module documentation).
    fn observe(self, ns: &Netns) -> Vec<String> {
        match self {
            Target::Nftables => canonical_nft(ns),
            Target::Legacy => canonical_save(&ns.sh("iptables-legacy-save").expect("save")),
            Target::IptablesNft => canonical_save(&ns.sh("iptables-nft-save").expect("save")),
        }
    }
}

/// `nft -j list table ip svcproxy`: every object without its handle (and the table without
/// its flags: owned by a running `run`, ownerless after a `sync` exits), set and map elements
/// sorted, rules keyed by chain and position; the whole sorted. Empty without the table.
fn canonical_nft(ns: &Netns) -> Vec<String> {
    let out = ns
        .output("nft", ["-j", "list", "table", "ip", "svcproxy"])
        .expect("run nft");
    if !out.status.success() {
        return Vec::new();
    }
    let json: Value = serde_json::from_slice(&out.stdout).expect("nft prints JSON");
    let mut position: BTreeMap<String, usize> = BTreeMap::new();
    let mut lines = Vec::new();
    for object in json["nftables"].as_array().expect("nftables array") {
        let Some((kind, body)) = object.as_object().and_then(|o| o.iter().next()) else {
            continue;
        };
        if kind == "metainfo" {
            continue;
        }
        let mut body = body.clone();
        if let Some(fields) = body.as_object_mut() {
            fields.remove("handle");
            if kind == "table" {
                fields.remove("flags");
            }
            if let Some(Value::Array(elems)) = fields.get_mut("elem") {
                elems.sort_by_key(|e| e.to_string());
            }
        }
        let key = match kind.as_str() {
            "rule" => {
                let chain = body["chain"].to_string();
                let n = position.entry(chain.clone()).or_default();
                *n += 1;
                format!("rule {chain} #{n}")
            }
            other => other.to_owned(),
        };
        lines.push(format!("{key} {body}"));
    }
    lines.sort();
    lines
}

/// An `iptables-save` output without comments and counters: per table, the chain declarations
/// sorted and each chain's rules in order, keyed by chain.
fn canonical_save(save: &str) -> Vec<String> {
    let mut table = "";
    let mut position: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut lines = Vec::new();
    for line in save.lines() {
        if line.starts_with('#') || line == "COMMIT" {
            continue;
        }
        if let Some(name) = line.strip_prefix('*') {
            table = name;
        } else if let Some(decl) = line.strip_prefix(':') {
            let words: Vec<&str> = decl.split_whitespace().take(2).collect();
            lines.push(format!("{table} :{}", words.join(" ")));
        } else if let Some(rule) = line.strip_prefix("-A ") {
            let chain = rule
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
            let n = position
                .entry((table.to_owned(), chain.clone()))
                .or_default();
            *n += 1;
            lines.push(format!("{table} {chain} #{n} {rule}"));
        }
    }
    lines.sort();
    lines
}

/// The first lines in which `seen` and `want` differ, for a failure message.
fn difference(seen: &[String], want: &[String]) -> String {
    let extra = seen.iter().filter(|l| !want.contains(l)).take(5);
    let missing = want.iter().filter(|l| !seen.contains(l)).take(5);
    let mut out = String::new();
    for l in extra {
        out.push_str(&format!("+ {l}\n"));
    }
    for l in missing {
        out.push_str(&format!("- {l}\n"));
    }
    out
}

/// `count` ClusterIP services `s{first}`.., each with one endpoint in `10.244.{subnet}.0/24`.
fn manifest(first: usize, count: usize, subnet: u8) -> String {
    (first..first + count)
        .map(|i| {
            service_yaml(
                &format!("s{i}"),
                &format!("10.96.{}.{}", i / 200, i % 200 + 1),
                &format!("10.244.{subnet}.{}", i % 200 + 1),
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

/// The two inputs of the races: 40 services each, 20 of them in both (with other endpoints).
fn inputs() -> (TempFile, TempFile) {
    (
        TempFile::with("race-a.yaml", &manifest(0, 40, 1)),
        TempFile::with("race-b.yaml", &manifest(20, 40, 2)),
    )
}

/// `svcproxy SUBCOMMAND` for `target` in `ns`, reading `source`, with `extra` flags; logs at
/// info, without colors.
fn svcproxy(sub: &str, target: Target, ns: &str, source: &TempFile, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_svcproxy"));
    command.arg(sub).args(target.flags());
    command
        .arg("--source")
        .arg(format!("file:{}", source.path().display()));
    command.args([
        "--node-name",
        "node-a",
        "--node-ip",
        "192.168.0.2",
        "--netns",
        ns,
    ]);
    command
        .args(extra)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    command
}

/// A finished `svcproxy` process.
struct Finished {
    pid: u32,
    out: Output,
}

impl Finished {
    /// Starts `command` with its output captured.
    fn start(command: &mut Command) -> Child {
        command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start svcproxy")
    }

    /// Waits for `child`.
    fn wait(child: Child) -> Finished {
        let pid = child.id();
        let out = child.wait_with_output().expect("wait for svcproxy");
        Finished { pid, out }
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    /// The PID of the holder this process logged it was waiting for.
    fn waited_for(&self) -> Option<u32> {
        let log = self.stderr();
        let line = log.lines().find(|l| l.contains("waiting for it"))?;
        let rest = &line[line.find("holder=")? + "holder=".len()..];
        rest.split_whitespace().next()?.parse().ok()
    }

    /// The PID this process named when it gave up.
    fn refused_by(&self) -> Option<u32> {
        let log = self.stderr();
        let rest = &log[log.find("another svcproxy (pid ")? + "another svcproxy (pid ".len()..];
        rest.split(')').next()?.parse().ok()
    }
}

/// What a fresh `sync` of `source` into an empty namespace programs.
fn reference(target: Target, source: &TempFile) -> Vec<String> {
    let ns = Netns::new("svcproxy-ref").expect("namespace");
    let done = Finished::wait(Finished::start(&mut svcproxy(
        "sync",
        target,
        ns.name(),
        source,
        &[],
    )));
    assert!(done.out.status.success(), "{}", done.stderr());
    let seen = target.observe(&ns);
    assert!(!seen.is_empty(), "{target:?}: nothing programmed");
    seen
}

/// Two `sync`s of different inputs started together, [`ROUNDS`] times.
fn two_syncs_race(target: Target) {
    let (a, b) = inputs();
    let wants = [reference(target, &a), reference(target, &b)];
    assert_ne!(wants[0], wants[1]);
    let ns = Netns::new("svcproxy-race").expect("namespace");
    let mut waited = 0;
    for round in 0..ROUNDS {
        // Alternate which one starts first.
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        let sources = [&a, &b];
        let children = order
            .map(|i| Finished::start(&mut svcproxy("sync", target, ns.name(), sources[i], &[])));
        let done = children.map(Finished::wait);
        let mut last = None;
        for (me, other) in [(0, 1), (1, 0)] {
            let (me_done, other_done) = (&done[me], &done[other]);
            if !me_done.out.status.success() {
                assert_eq!(
                    me_done.refused_by(),
                    Some(other_done.pid),
                    "{target:?} round {round}: {}",
                    me_done.stderr()
                );
                last = Some(order[other]);
            } else if let Some(holder) = me_done.waited_for() {
                assert_eq!(
                    holder,
                    other_done.pid,
                    "{target:?} round {round}: {}",
                    me_done.stderr()
                );
                waited += 1;
                last = Some(order[me]);
            }
        }
        let seen = target.observe(&ns);
        let ok = match last {
            Some(i) => seen == wants[i],
            None => wants.contains(&seen),
        };
        assert!(
            ok,
            "{target:?} round {round}: the namespace holds neither input's rules exactly \
             (expected {last:?}); against the first input:\n{}",
            difference(&seen, &wants[0])
        );
    }
    assert!(waited > 0, "{target:?}: no round overlapped");
}

#[test]
fn two_syncs_racing_nftables() {
    if testkit::root_or_skip("two_syncs_racing_nftables") {
        two_syncs_race(Target::Nftables);
    }
}

#[test]
fn two_syncs_racing_iptables_legacy() {
    if testkit::root_or_skip("two_syncs_racing_iptables_legacy") {
        two_syncs_race(Target::Legacy);
    }
}

#[test]
fn two_syncs_racing_iptables_nft() {
    if testkit::root_or_skip("two_syncs_racing_iptables_nft") {
        two_syncs_race(Target::IptablesNft);
    }
}

/// Polls until `ns` holds `want` (at most 15 s).
fn until_programmed(target: Target, ns: &Netns, want: &[String], run: &Running, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let seen = target.observe(ns);
        if seen == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{target:?}: {what} never programmed:\n{}\nrun's log:\n{}",
            difference(&seen, want),
            run.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `sync` against a running `run`, [`ROUNDS`] times.
fn sync_against_run(target: Target) {
    let (a, b) = inputs();
    let wants = [reference(target, &a), reference(target, &b)];
    let ns = Netns::new("svcproxy-race-run").expect("namespace");
    let live = TempFile::with("race-run.yaml", &manifest(0, 40, 1));
    let mut run = Running::start(svcproxy(
        "run",
        target,
        ns.name(),
        &live,
        &["--min-sync-period", "0"],
    ));
    until_programmed(target, &ns, &wants[0], &run, "run's first sync");

    let run_pid = run.pid();
    for round in 0..ROUNDS {
        let mut sync = svcproxy("sync", target, ns.name(), &b, &["--lock-wait", SHORT_WAIT]);
        let done = Finished::wait(Finished::start(&mut sync));
        assert_eq!(done.out.status.code(), Some(1), "{target:?} round {round}");
        let stderr = done.stderr();
        assert_eq!(done.refused_by(), Some(run_pid), "{stderr}");
        assert!(stderr.contains("gave up after waiting 200ms"), "{stderr}");
        assert_eq!(
            target.observe(&ns),
            wants[0],
            "{target:?} round {round}: changed"
        );
    }

    // `run` keeps serving: the next input is applied.
    live.replace(&manifest(20, 40, 2));
    until_programmed(target, &ns, &wants[1], &run, "the new input");
    // `--min-sync-period 0` does not spin: far less CPU than wall time.
    let (cpu, wall) = (run.cpu(), run.uptime());
    assert!(
        cpu < wall / 2,
        "{target:?}: run used {cpu:?} of CPU in {wall:?}"
    );

    // Killed, its lock is released by the kernel: the next writer proceeds at once.
    run.kill();
    let mut sync = svcproxy("sync", target, ns.name(), &a, &["--lock-wait", "0"]);
    let done = Finished::wait(Finished::start(&mut sync));
    assert!(done.out.status.success(), "{}", done.stderr());
    assert_eq!(target.observe(&ns), wants[0]);
}

#[test]
fn sync_against_run_nftables() {
    if testkit::root_or_skip("sync_against_run_nftables") {
        sync_against_run(Target::Nftables);
    }
}

#[test]
fn sync_against_run_iptables_legacy() {
    if testkit::root_or_skip("sync_against_run_iptables_legacy") {
        sync_against_run(Target::Legacy);
    }
}

#[test]
fn sync_against_run_iptables_nft() {
    if testkit::root_or_skip("sync_against_run_iptables_nft") {
        sync_against_run(Target::IptablesNft);
    }
}

/// A second name for a namespace (a bind mount of its file, as `ip netns attach` makes),
/// deleted on drop.
struct Alias {
    name: String,
}

impl Alias {
    /// A second name for `ns`, checked to be the same namespace.
    fn of(ns: &Netns) -> Alias {
        let alias = Alias {
            name: format!("svcproxy-alias-{}", std::process::id()),
        };
        let path = Path::new("/run/netns").join(&alias.name);
        std::fs::File::create(&path).expect("the mount point");
        let status = Command::new("mount")
            .arg("--bind")
            .arg(ns.path())
            .arg(&path)
            .status()
            .expect("run mount");
        assert!(status.success(), "mount --bind");
        let identity = |p: &Path| {
            let m = std::fs::metadata(p).expect("stat");
            (m.dev(), m.ino())
        };
        assert_eq!(identity(&path), identity(ns.path()), "the same namespace");
        alias
    }
}

impl Drop for Alias {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

#[test]
fn the_lock_is_per_namespace() {
    if !testkit::root_or_skip("the_lock_is_per_namespace") {
        return;
    }
    let target = Target::Nftables;
    let (a, b) = inputs();
    let locked = Netns::new("svcproxy-lock-held").expect("namespace");
    let run = Running::start(svcproxy("run", target, locked.name(), &a, &[]));
    until_programmed(
        target,
        &locked,
        &reference(target, &a),
        &run,
        "run's first sync",
    );

    // Two other namespaces, synced at once, never wait.
    let others = [
        Netns::new("svcproxy-lock-free").expect("namespace"),
        Netns::new("svcproxy-lock-free").expect("namespace"),
    ];
    let children = [0, 1].map(|i| {
        Finished::start(&mut svcproxy(
            "sync",
            target,
            others[i].name(),
            &b,
            &["--lock-wait", "0"],
        ))
    });
    for done in children.map(Finished::wait) {
        assert!(done.out.status.success(), "{}", done.stderr());
        assert_eq!(done.waited_for(), None, "{}", done.stderr());
    }

    // A second name for the locked namespace is the same lock.
    let alias = Alias::of(&locked);
    let mut sync = svcproxy(
        "sync",
        target,
        &alias.name,
        &b,
        &["--lock-wait", SHORT_WAIT],
    );
    let done = Finished::wait(Finished::start(&mut sync));
    assert_eq!(done.refused_by(), Some(run.pid()), "{}", done.stderr());
}
