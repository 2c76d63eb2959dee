//! Rigs: a fresh network namespace and the thing under test programming it.
//!
//! * [`Svcproxy`]: an [`NftDatapath`] bound to its own [`Netns`]; [`Svcproxy::sync`] times one
//!   `Datapath::sync` call (plan, encode, one netlink batch);
//! * [`NftFile`]: a [`Netns`] into which [`NftFile::load`] times `ip netns exec NS nft -f FILE`.
//!
//! Both empty their namespace before it is deleted (svcproxy's cleanup, `nft delete table`),
//! synchronously, so the kernel's asynchronous teardown of a namespace full of rules does not
//! compete with the next measurement. Neither ever touches the caller's namespace.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use backend_nft::datapath::{NftConfig, NftDatapath};
use backend_nft::names;
use backend_nft::owner::TableFlags;
use proxy_core::{Datapath, Delta, ProxyState, SyncMode, SyncReport};
use testkit::Netns;
use tokio::runtime::Runtime;
use tokio::time::Instant;

use crate::cluster::Cluster;
use crate::kube_proxy;

/// Errors of the rigs: they are bench support, so any error will do.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The rigs' result type.
pub type Result<T> = std::result::Result<T, Error>;

/// svcproxy's nftables datapath programming a fresh namespace.
pub struct Svcproxy {
    runtime: Runtime,
    datapath: Option<NftDatapath>,
    // Dropped last: the datapath's socket goes first.
    ns: Netns,
}

impl std::fmt::Debug for Svcproxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Svcproxy")
            .field("ns", &self.ns.name())
            .finish_non_exhaustive()
    }
}

impl Svcproxy {
    /// A new namespace and a datapath (nothing programmed yet) with `cluster`'s planner
    /// configuration.
    pub fn new(cluster: &Cluster) -> Result<Self> {
        let ns = Netns::new("svcproxy-bench")?;
        let datapath = NftDatapath::new(NftConfig {
            netns: Some(ns.path().to_path_buf()),
            plan: cluster.plan_config(),
            table_flags: TableFlags::Auto,
        })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?;
        Ok(Svcproxy {
            runtime,
            datapath: Some(datapath),
            ns,
        })
    }

    /// The namespace programmed.
    pub fn netns(&self) -> &Netns {
        &self.ns
    }

    /// Runs one sync and returns its wall time and report.
    ///
    /// # Panics
    ///
    /// If the sync fails: a bench of a failing sync measures nothing.
    pub fn sync(
        &mut self,
        state: &ProxyState,
        delta: &Delta,
        mode: SyncMode,
    ) -> (Duration, SyncReport) {
        let Some(datapath) = self.datapath.as_mut() else {
            unreachable!("the datapath is only taken on drop");
        };
        let start = Instant::now();
        let result = self.runtime.block_on(datapath.sync(state, delta, mode));
        let elapsed = start.elapsed();
        match result {
            Ok(report) => (elapsed, report),
            Err(e) => panic!("svcproxy {mode:?} sync failed: {e}"),
        }
    }

    /// How many elements the kernel's `service-ips` map holds (listed with `nft`): a check that
    /// a sync programmed every service.
    pub fn service_ips(&self) -> Result<usize> {
        let out = self
            .ns
            .exec("nft", ["list", "map", "ip", names::TABLE, "service-ips"])?;
        Ok(count_elements(&String::from_utf8_lossy(&out.stdout)))
    }
}

impl Drop for Svcproxy {
    fn drop(&mut self) {
        if let Some(mut datapath) = self.datapath.take()
            && let Err(e) = self.runtime.block_on(datapath.cleanup())
        {
            eprintln!("svcproxy cleanup in {} failed: {e}", self.ns.name());
        }
    }
}

/// The number of elements in `nft list set|map` output: the comma-separated entries between
/// `elements = {` and `}` (nft ends every entry with a comma; element comments here hold
/// none).
pub fn count_elements(listing: &str) -> usize {
    let Some((_, rest)) = listing.split_once("elements = {") else {
        return 0;
    };
    let body = rest.split_once('}').map_or(rest, |(body, _)| body);
    body.split(',').filter(|e| !e.trim().is_empty()).count()
}

/// A fresh namespace that `nft -f` loads text into.
#[derive(Debug)]
pub struct NftFile {
    ns: Netns,
}

impl NftFile {
    /// A new, empty namespace.
    pub fn new() -> Result<Self> {
        Ok(NftFile {
            ns: Netns::new("kp-nft-bench")?,
        })
    }

    /// The namespace.
    pub fn netns(&self) -> &Netns {
        &self.ns
    }

    /// Runs `ip netns exec NS nft -f path` and returns its wall time (process start included,
    /// a few milliseconds).
    pub fn load(&self, path: &Path) -> Result<Duration> {
        let start = Instant::now();
        self.ns.exec("nft", [Path::new("-f"), path])?;
        Ok(start.elapsed())
    }

    /// How many chains the namespace's `ip` tables hold, i.e. `table ip kube-proxy` once
    /// loaded (listed with `nft`).
    pub fn chains(&self) -> Result<usize> {
        let out = self.ns.exec("nft", ["list", "chains", "ip"])?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.trim_start().starts_with("chain "))
            .count())
    }
}

impl Drop for NftFile {
    fn drop(&mut self) {
        // Best effort: the table may not exist (a failed load).
        let _ = self
            .ns
            .output("nft", ["delete", "table", "ip", kube_proxy::TABLE]);
    }
}

/// A temporary file, removed on drop.
#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
}

impl TempFile {
    /// Writes `contents` to a new file in the temporary directory; `stem` goes into its name.
    pub fn new(stem: &str, contents: &str) -> Result<Self> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "svcproxy-bench-{stem}-{}-{n}.nft",
            std::process::id()
        ));
        fs::write(&path, contents)?;
        Ok(TempFile { path })
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use ipnet::IpNet;

    use super::*;
    use crate::cluster;

    fn kp_config() -> kube_proxy::Config {
        kube_proxy::Config {
            cluster_cidr: IpNet::V4(cluster::CLUSTER_CIDR),
            service_cidr: IpNet::V4(cluster::SERVICE_CIDR),
        }
    }

    #[test]
    fn counts_listed_elements() {
        let listing = "table ip svcproxy {\n\tmap service-ips {\n\t\ttype ipv4_addr . inet_proto . inet_service : mark\n\t\telements = { 10.96.0.10 . tcp . 80 comment \"a/b:p/tcp\" : 0x01000003,\n\t\t\t     10.96.0.11 . tcp . 80 : 0x01000003 }\n\t}\n}\n";
        assert_eq!(count_elements(listing), 2);
        assert_eq!(count_elements("table ip t {\n\tmap m {\n\t}\n}\n"), 0);
    }

    #[test]
    fn kube_proxy_text_loads() {
        if !testkit::root_or_skip("kube_proxy_text_loads") {
            return;
        }
        let c = Cluster::new(50, 3);
        let mut state = c.state();
        // One service without endpoints, too.
        state.endpoints.remove(&c.name(7));
        let file = TempFile::new("test", &kube_proxy::render(&state, &kp_config())).unwrap();
        let rig = NftFile::new().unwrap();
        rig.load(file.path()).unwrap();
        assert_eq!(rig.chains().unwrap(), 16 + 49 * 4);
        let listed = rig
            .netns()
            .sh("nft list map ip kube-proxy service-ips")
            .unwrap();
        assert_eq!(count_elements(&listed), 49);
    }

    #[test]
    fn svcproxy_full_then_partial() {
        if !testkit::root_or_skip("svcproxy_full_then_partial") {
            return;
        }
        let c = Cluster::new(50, 3);
        let mut state = c.state();
        let mut rig = Svcproxy::new(&c).unwrap();
        rig.sync(&state, &Delta::default(), SyncMode::Full);
        assert_eq!(rig.service_ips().unwrap(), 50);
        let delta = c.insert(&mut state, 50);
        let (_, report) = rig.sync(&state, &delta, SyncMode::Partial);
        assert!(report.messages > 0);
        assert_eq!(rig.service_ips().unwrap(), 51);
        let delta = c.toggle_endpoint(&mut state, 25);
        rig.sync(&state, &delta, SyncMode::Partial);
        let delta = c.remove(&mut state, 50);
        rig.sync(&state, &delta, SyncMode::Partial);
        assert_eq!(rig.service_ips().unwrap(), 50);
    }
}
