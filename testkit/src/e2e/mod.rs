//! The end-to-end traffic suite every backend runs: real connections from a client and from
//! pods, through the node's rules, to servers in pod namespaces.
//!
//! The suite is written once and drives any backend through the [`Proxy`] trait; the usual
//! implementation, [`SvcproxyCli`], runs `svcproxy sync --backend NAME --netns NODE` exactly as
//! an operator would. A backend's test binary instantiates every case with [`e2e_suite!`]:
//!
//! ```text
//! testkit::e2e_suite!(testkit::e2e::SvcproxyCli::new(env!("CARGO_BIN_EXE_svcproxy"), "nftables"));
//! ```
//!
//! Node settings: the node is `node-a` with the sandbox's node IPs; the cluster CIDRs are the
//! pod networks (`10.244.0.0/16`, `fd00:244::/64`). Pod 0 runs on `node-a` (local); the other
//! pods are on `node-b`. Every pod serves TCP on port 8080 (IPv4 and IPv6) and UDP on 5353.

pub mod cases;
pub mod manifest;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::netns::Netns;
use crate::plan;

/// The node under test.
pub const NODE_NAME: &str = "node-a";
/// Another node: endpoints there are remote.
pub const OTHER_NODE: &str = "node-b";

/// A backend under test: programs the node namespace from a manifest of Services and
/// EndpointSlices.
pub trait Proxy {
    /// Makes the rules in `node` match `manifest` (called again with a new manifest to change
    /// them). Returns the failure as text.
    fn sync(&mut self, node: &Netns, manifest: &str) -> Result<(), String>;
}

/// Runs the `svcproxy` binary's `sync` subcommand with a given backend.
#[derive(Debug)]
pub struct SvcproxyCli {
    bin: PathBuf,
    backend: String,
    file: PathBuf,
}

impl SvcproxyCli {
    /// Uses the `svcproxy` binary at `bin` with `--backend backend`.
    pub fn new(bin: impl AsRef<Path>, backend: &str) -> SvcproxyCli {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let file =
            std::env::temp_dir().join(format!("svcproxy-e2e-{}-{n}.yaml", std::process::id()));
        SvcproxyCli {
            bin: bin.as_ref().to_path_buf(),
            backend: backend.to_string(),
            file,
        }
    }
}

impl Proxy for SvcproxyCli {
    fn sync(&mut self, node: &Netns, manifest: &str) -> Result<(), String> {
        std::fs::write(&self.file, manifest)
            .map_err(|e| format!("writing {}: {e}", self.file.display()))?;
        let source = format!("file:{}", self.file.display());
        let (v4, v6) = (plan::NODE_V4.to_string(), plan::NODE_V6.to_string());
        let output = Command::new(&self.bin)
            .args(["sync", "--backend", &self.backend, "--source", &source])
            .args(["--node-name", NODE_NAME, "--node-ip", &v4, "--node-ip", &v6])
            .args([
                "--cluster-cidr",
                "10.244.0.0/16",
                "--cluster-cidr",
                "fd00:244::/64",
            ])
            .args(["--netns", node.name()])
            .output()
            .map_err(|e| format!("running {}: {e}", self.bin.display()))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "svcproxy sync failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }
}

impl Drop for SvcproxyCli {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

/// Instantiates every end-to-end case as a `#[test]` for the backend built by `$make` (an
/// expression of a type implementing [`Proxy`]). Each case skips with a printed reason when
/// not run as root.
#[macro_export]
macro_rules! e2e_suite {
    ($make:expr) => {
        $crate::e2e_suite!(@cases $make;
            cluster_ip_spreads_over_every_endpoint,
            a_removed_endpoint_gets_no_traffic_after_the_sync,
            a_service_without_endpoints_is_refused_fast,
            node_port_is_reachable_from_outside,
            client_ip_affinity_pins_a_client,
            external_traffic_policy_local_keeps_the_client_ip_and_the_local_endpoint,
            a_pod_reaches_itself_through_its_service,
            udp_is_balanced_too,
            ipv6_cluster_ip_works);
    };
    (@cases $make:expr; $($case:ident),*) => {
        $(
            #[test]
            fn $case() {
                if !$crate::root_or_skip(stringify!($case)) {
                    return;
                }
                let mut proxy = $make;
                $crate::e2e::cases::$case(&mut proxy);
            }
        )*
    };
}
