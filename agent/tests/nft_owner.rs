//! `svcproxy run` with the nftables backend owns its tables, through the binary in a throwaway
//! namespace: another process's `nft flush ruleset` leaves our table and its services in place
//! (kernels with table `persist`, 6.9+; on older ones the flush removes it and the next
//! periodic full sync restores it), `nft delete table` is refused while `run` runs, the table
//! stays when `run` exits, and `svcproxy cleanup` removes it.

use std::fs::File;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use testkit::Netns;
use tokio::time::Instant;

use crate::common::{TempFile, cluster};

/// The periodic full sync of the `run` under test.
const SYNC_PERIOD: &str = "2s";

/// A running `svcproxy run`, stopped with SIGTERM (and waited for) on drop.
struct Running {
    child: Child,
    log: TempFile,
}

impl Running {
    /// `svcproxy run --backend nftables` of `source` into `ns`, logging to a file.
    fn start(ns: &Netns, source: &TempFile) -> Running {
        let log = TempFile::new("run.log");
        let stderr = File::create(log.path()).expect("log file");
        let source = format!("file:{}", source.path().display());
        let child = Command::new(env!("CARGO_BIN_EXE_svcproxy"))
            .args(["run", "--backend", "nftables", "--source", &source])
            .args(["--node-name", "node-a", "--node-ip", "192.168.0.2"])
            .args(["--netns", ns.name(), "--sync-period", SYNC_PERIOD])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start svcproxy run");
        Running { child, log }
    }

    /// Sends SIGTERM and waits for the exit.
    fn stop(&mut self) -> ExitStatus {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
        }
        self.child.wait().expect("wait for svcproxy run")
    }

    /// What it logged so far.
    fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `nft list table ip svcproxy` in `ns`, if the table exists.
fn our_table(ns: &Netns) -> Option<String> {
    let out = ns
        .output("nft", ["list", "table", "ip", "svcproxy"])
        .expect("run nft");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Waits up to `limit` for our table to hold both services of [`cluster`]`(true)`.
fn wait_for_services(ns: &Netns, limit: Duration) -> Option<String> {
    let start = Instant::now();
    loop {
        if let Some(text) =
            our_table(ns).filter(|t| t.contains("10.96.0.10") && t.contains("10.96.0.20"))
        {
            return Some(text);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether this kernel has the `persist` table flag (Linux 6.9).
fn kernel_has_persist() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("osrelease");
    let mut parts = release
        .trim()
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= (6, 9)
}

#[test]
fn nft_flush_ruleset_while_run_runs_leaves_our_table() {
    if !testkit::root_or_skip("nft_flush_ruleset_while_run_runs_leaves_our_table") {
        return;
    }
    let ns = Netns::new("svcproxy-own").expect("namespace");
    let source = TempFile::with("own.yaml", &cluster(true));
    let mut run = Running::start(&ns, &source);
    assert!(
        wait_for_services(&ns, Duration::from_secs(20)).is_some(),
        "run never programmed the services:\n{}",
        run.log()
    );

    ns.sh("nft add table inet foreign")
        .expect("a foreign table");
    let flush = ns.output("nft", ["flush", "ruleset"]).expect("run nft");
    assert!(
        flush.status.success(),
        "{}",
        String::from_utf8_lossy(&flush.stderr)
    );
    assert!(
        ns.output("nft", ["list", "table", "inet", "foreign"])
            .expect("nft")
            .status
            .code()
            != Some(0),
        "the flush removed the foreign table"
    );
    if kernel_has_persist() {
        let after = our_table(&ns).expect("our table survives the flush");
        assert!(
            after.starts_with("table ip svcproxy { # progname svcproxy\n"),
            "nft names the owner: {after:.60}"
        );
        assert!(
            after.contains("10.96.0.10") && after.contains("10.96.0.20"),
            "with its services: {after}"
        );
        let delete = ns
            .output("nft", ["delete", "table", "ip", "svcproxy"])
            .expect("run nft");
        assert!(!delete.status.success(), "only run may delete it");
        assert!(
            run.log().contains("owned by this process"),
            "run says so: {}",
            run.log()
        );
    } else {
        // Older kernels: gone until the next periodic full sync.
        wait_for_services(&ns, Duration::from_secs(10))
            .unwrap_or_else(|| panic!("the periodic full sync did not restore it:\n{}", run.log()));
    }

    let status = run.stop();
    assert!(
        status.success(),
        "run exits cleanly: {status}\n{}",
        run.log()
    );
    if kernel_has_persist() {
        let after = our_table(&ns).expect("the table stays when run exits");
        assert!(after.contains("10.96.0.10") && after.contains("10.96.0.20"));
    }
    let cleanup = Command::new(env!("CARGO_BIN_EXE_svcproxy"))
        .args(["cleanup", "--backend", "nftables", "--netns", ns.name()])
        .env("RUST_LOG", "off")
        .output()
        .expect("run svcproxy cleanup");
    assert!(
        cleanup.status.success(),
        "{}",
        String::from_utf8_lossy(&cleanup.stderr)
    );
    assert!(our_table(&ns).is_none(), "cleanup removed it");
}
