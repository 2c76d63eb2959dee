//! The iptables datapath: kube-proxy's iptables layout under our own chain prefix, applied
//! with `iptables-restore --noflush` (`iptables-legacy` or `iptables-nft`), partial syncs
//! rewriting only the chains that changed.
//!
//! ```text
//! (state, delta, shadow) --plan::plan--> Plan { per family: [RestoreDoc], jumps, next shadow }
//!     --datapath::IptablesDatapath--> runner::RestoreRunner --{ip,ip6}tables-VARIANT-restore--> kernel
//! ```
//!
//! * [`names`]: chain names (`SVCP-*`, hashed per service port and endpoint);
//! * [`restore`]: the restore input format, written from values;
//! * [`plan`]: the pure planner (full and partial syncs, chunking for `iptables-nft`);
//! * [`jumps`]: the jump rules from the built-in chains to ours, fixed so that concurrent
//!   writers cannot lose one;
//! * [`runner`]: the one place that runs the tools (in a target network namespace, waiting
//!   for the xtables lock), and cleanup of our chains;
//! * [`variant`]: legacy or nft, detected like upstream or forced;
//! * `check` (feature `testing`): a model of the restored rules and whether a plan is valid
//!   and routes every service as it must (for tests, property tests and fuzz targets);
//! * [`datapath`]: [`datapath::IptablesDatapath`], the [`proxy_core::Datapath`].

#[cfg(feature = "testing")]
pub mod check;
pub mod datapath;
pub mod error;
pub mod jumps;
pub mod names;
pub mod plan;
pub mod restore;
pub mod runner;
pub mod variant;

pub use error::{Error, Result};
pub use variant::Variant;
