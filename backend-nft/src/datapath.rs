//! [`NftDatapath`]: the nftables backend as a [`proxy_core::Datapath`].
//!
//! A sync is: plan (pure: state, delta and the shadow of what was programmed) -> encode ->
//! apply as ONE netlink batch -> on success commit the planner's shadow update. On failure
//! nothing was applied (the kernel refuses a batch as a whole), the old shadow is kept and the
//! next sync is forced to [`SyncMode::Full`], which rebuilds everything in one batch: `add
//! table` + `flush table` (or, the first time, `delete table` and rebuild), so it also
//! repairs drift such as our table flushed or deleted by someone else (stale shared chains are
//! deleted with the encoder's delete-if-exists, see [`crate::encode`]).
//!
//! Tables are created with the `owner` and `persist` flags where the kernel has both (probed at
//! the first sync; [`NftConfig::table_flags`]): the datapath's one socket then owns them, so no
//! other process can change or flush them while it lives, and they stay when it goes. See
//! [`crate::owner`].
//!
//! # Errors
//!
//! Failures become a [`proxy_core::Error::Datapath`] carrying the kernel's verdict (errno,
//! extended-ack text, and the operation it refused, in `nft` syntax):
//!
//! * **retryable**: `EBUSY`, `EAGAIN`, `EINTR`, `ENOBUFS`, `ENOMEM` (transient kernel
//!   conditions), `ENOENT`, `EEXIST` (objects missing or different from what we programmed:
//!   drift, which the forced full sync repairs), and lost replies (whether the batch applied is
//!   unknown; the full sync makes it irrelevant);
//! * **fatal** (the runner retries after its sync period, since retrying at once will not
//!   help): every other errno (`EINVAL`, `EOPNOTSUPP`, `EPERM`, `EMSGSIZE`, ...: missing kernel
//!   support, privileges or our table owned by another live process, a batch the kernel cannot
//!   take, a planner bug), malformed replies, batches over [`netlink::MAX_BATCH`] and
//!   transactions the encoder cannot express.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use nix::errno::Errno;
use proxy_core::{Datapath, Delta, ProxyState, SyncMode, SyncReport};
use tokio::time::Instant;

use crate::encode::{self, Encoded, Schema};
use crate::ir::{Family, Op, Rule, Stmt, Transaction, Verdict};
use crate::names;
use crate::netlink::{self, Sent, Socket};
use crate::owner::{self, TableFlags};
use crate::plan::{self, Shadow};

/// The backend's name, in logs, metrics and errors.
pub const NAME: &str = "nftables";

/// The chain the failure injected by [`NftDatapath::inject_failure_next_sync`] jumps to; it
/// never exists.
const MISSING_CHAIN: &str = "svcproxy-injected-missing-chain";

/// How to build an [`NftDatapath`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NftConfig {
    /// The network namespace to program (a file such as `/run/netns/NAME`); `None`: the
    /// caller's namespace.
    pub netns: Option<PathBuf>,
    /// The planner's configuration. Empty `node_ips` are taken from the state's node at each
    /// sync (so `nodeport-addresses primary` follows the node).
    pub plan: plan::Config,
    /// The flags our tables are created with (see [`crate::owner`]).
    pub table_flags: TableFlags,
}

/// The nftables datapath: see the module documentation.
pub struct NftDatapath {
    socket: Socket,
    config: NftConfig,
    /// What the kernel holds, as far as we know (committed after each accepted batch).
    shadow: Shadow,
    /// The sets the kernel holds, for encoding elements of partial transactions.
    schema: Schema,
    /// The previous sync failed (or a cleanup ran): the next one is full.
    force_full: bool,
    /// Test hook: append an operation the kernel refuses to the next sync's transaction.
    inject_failure: bool,
    /// The `NFT_TABLE_F_*` bits our tables are created with, once known (probed at the first
    /// sync for [`TableFlags::Auto`]).
    flags: Option<u32>,
    /// What the last accepted batch was.
    last_sent: Option<Sent>,
}

impl std::fmt::Debug for NftDatapath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NftDatapath")
            .field("config", &self.config)
            .field("programmed", &self.shadow.is_programmed())
            .field("force_full", &self.force_full)
            .finish_non_exhaustive()
    }
}

impl NftDatapath {
    /// Opens the netlink socket in the configured namespace. Nothing is sent yet.
    pub fn new(config: NftConfig) -> proxy_core::Result<Self> {
        let socket = match &config.netns {
            Some(path) => Socket::open_in(path),
            None => Socket::open(),
        }
        .map_err(|e| fatal(format!("opening the netlink socket: {e}")))?;
        Ok(NftDatapath {
            socket,
            config,
            shadow: Shadow::new(),
            schema: Schema::new(),
            force_full: false,
            inject_failure: false,
            flags: None,
            last_sent: None,
        })
    }

    /// Opens a datapath programming the namespace at `netns` with planner configuration `plan`.
    pub fn open_in(netns: &Path, plan: plan::Config) -> proxy_core::Result<Self> {
        Self::new(NftConfig {
            netns: Some(netns.to_path_buf()),
            plan,
            table_flags: TableFlags::default(),
        })
    }

    /// The `NFT_TABLE_F_*` bits our tables are created with; `None` before the first sync.
    pub fn table_flags(&self) -> Option<u32> {
        self.flags
    }

    /// What the last batch the kernel accepted was (size, pages, iovecs).
    pub fn last_sent(&self) -> Option<Sent> {
        self.last_sent
    }

    /// Sends batches as at most `max` iovecs; see [`Socket::set_max_iovecs`].
    #[doc(hidden)]
    pub fn set_max_iovecs(&mut self, max: usize) {
        self.socket.set_max_iovecs(max);
    }

    /// The table flags to create tables with: [`TableFlags::None`] is 0; [`TableFlags::Auto`]
    /// probes the kernel once (see [`owner::probe`]) and logs what it found.
    fn resolve_flags(&mut self) -> proxy_core::Result<u32> {
        if let Some(flags) = self.flags {
            return Ok(flags);
        }
        let supported = match self.config.table_flags {
            TableFlags::None => false,
            TableFlags::Auto => owner::probe(&mut self.socket)
                .map_err(|e| classify(&e, format!("probing table flag support: {e}")))?,
        };
        let flags = owner::bits(self.config.table_flags, supported);
        if flags != 0 {
            tracing::info!(
                flags = %owner::describe(flags),
                portid = self.socket.portid(),
                "our nftables tables are owned by this process: others cannot change or flush them"
            );
        } else if self.config.table_flags == TableFlags::Auto {
            tracing::warn!(
                "the kernel has no owner+persist table flags (Linux 6.9+): our nftables tables are \
                 unprotected; `nft flush ruleset` removes them until the next full sync"
            );
        } else {
            tracing::info!("our nftables tables are created without flags (configured)");
        }
        self.flags = Some(flags);
        Ok(flags)
    }

    /// The configuration.
    pub fn config(&self) -> &NftConfig {
        &self.config
    }

    /// What the datapath believes it programmed.
    pub fn shadow(&self) -> &Shadow {
        &self.shadow
    }

    /// Makes the next sync's batch fail in the kernel: an extra rule jumping to a chain that
    /// does not exist is appended to its transaction. For tests of the failure path.
    #[doc(hidden)]
    pub fn inject_failure_next_sync(&mut self) {
        self.inject_failure = true;
    }

    /// The planner configuration for `state`, completed from the state's node
    /// ([`proxy_core::policy::NodeConfig::for_node`]).
    fn plan_config(&self, state: &ProxyState) -> plan::Config {
        self.config.plan.for_node(&state.node)
    }

    /// Encodes `tx` (creating tables with `table_flags`) and applies it as one batch; the
    /// report counts what was sent.
    fn apply(&mut self, tx: &Transaction, table_flags: u32) -> proxy_core::Result<SyncReport> {
        let encoded = encode::encode(tx, &self.schema, table_flags)
            .map_err(|e| fatal(format!("encoding the transaction: {e}")))?;
        let report = SyncReport {
            messages: encoded.messages(),
            bytes: encoded.bytes(),
            ..report_counts(tx)
        };
        let sent = self
            .socket
            .apply(encoded.batch())
            .map_err(|e| kernel_error(&e, &encoded, tx))?;
        self.last_sent = Some(sent);
        Ok(report)
    }
}

fn fatal(message: String) -> proxy_core::Error {
    proxy_core::Error::fatal(NAME, message)
}

/// Whether the kernel refusing a batch with `errno` is worth retrying (see the module docs).
pub fn retryable_errno(errno: Errno) -> bool {
    matches!(
        errno,
        Errno::EBUSY
            | Errno::EAGAIN
            | Errno::EINTR
            | Errno::ENOBUFS
            | Errno::ENOMEM
            | Errno::ENOENT
            | Errno::EEXIST
    )
}

/// The datapath error for a failed [`Socket::apply`] of `encoded` (the encoding of `tx`).
fn kernel_error(err: &netlink::Error, encoded: &Encoded, tx: &Transaction) -> proxy_core::Error {
    let message = match err {
        netlink::Error::Rejected { first, all } => {
            let what = encoded
                .describe_seq(tx, first.seq)
                .map(|d| format!(" at {d}"))
                .unwrap_or_default();
            let more = if all.len() > 1 {
                format!(" ({} messages refused)", all.len())
            } else {
                String::new()
            };
            let hint = if first.errno == Errno::EPERM {
                " (no CAP_NET_ADMIN, or our table is owned by another process's netlink \
                 socket: another svcproxy running in this network namespace)"
            } else {
                ""
            };
            format!("the kernel refused the batch, nothing was applied: {first}{what}{more}{hint}")
        }
        other => other.to_string(),
    };
    let message = format!(
        "{message} [{} messages, {} bytes]",
        encoded.messages(),
        encoded.bytes()
    );
    classify(err, message)
}

/// `message` about `err` as a retryable or a fatal datapath error (see the module docs).
fn classify(err: &netlink::Error, message: String) -> proxy_core::Error {
    let retryable = match err {
        netlink::Error::Rejected { first, .. } => retryable_errno(first.errno),
        netlink::Error::Send(io) | netlink::Error::Recv(io) => io
            .raw_os_error()
            .is_some_and(|e| retryable_errno(Errno::from_raw(e))),
        netlink::Error::MissingReplies { .. } => true,
        netlink::Error::Open(_)
        | netlink::Error::Netns { .. }
        | netlink::Error::Malformed(_)
        | netlink::Error::TooLarge { .. } => false,
    };
    if retryable {
        proxy_core::Error::retryable(NAME, message)
    } else {
        proxy_core::Error::fatal(NAME, message)
    }
}

/// Objects added and removed by `tx`: tables, chains, sets, rules and elements added;
/// tables, chains, sets and elements deleted. A flush counts as one removal (the planner does
/// not know how many objects it empties).
fn report_counts(tx: &Transaction) -> SyncReport {
    let mut r = SyncReport::default();
    for cmd in &tx.commands {
        match cmd.op {
            Op::AddTable
            | Op::AddChain(_)
            | Op::AddSet(_)
            | Op::AddRule { .. }
            | Op::AddElement { .. } => r.objects_added += 1,
            Op::FlushTable
            | Op::DeleteTable
            | Op::FlushChain(_)
            | Op::DeleteChain(_)
            | Op::FlushSet(_)
            | Op::DeleteSet(_)
            | Op::DeleteElement { .. } => r.objects_removed += 1,
        }
    }
    r
}

#[async_trait]
impl Datapath for NftDatapath {
    fn name(&self) -> &str {
        NAME
    }

    /// Plans, encodes and applies one batch; see the module documentation. The netlink
    /// exchange is synchronous (the kernel handles the whole batch inside one `sendmsg`), so
    /// this future does not yield.
    async fn sync(
        &mut self,
        state: &ProxyState,
        delta: &Delta,
        mode: SyncMode,
    ) -> proxy_core::Result<SyncReport> {
        let start = Instant::now();
        let mode = if self.force_full {
            SyncMode::Full
        } else {
            mode
        };
        let config = self.plan_config(state);
        let plan = plan::plan(state, delta, &self.shadow, mode, &config);
        let mut tx = plan.transaction;
        if std::mem::take(&mut self.inject_failure) {
            tx.push(
                Family::Ip,
                Op::AddRule {
                    chain: names::SERVICES.into(),
                    rule: Rule::new(vec![Stmt::Verdict(Verdict::Jump(MISSING_CHAIN.into()))]),
                },
            );
        }
        if tx.is_empty() {
            self.shadow.commit(plan.update);
            return Ok(SyncReport {
                duration: start.elapsed(),
                ..SyncReport::default()
            });
        }
        let flags = self.resolve_flags()?;
        match self.apply(&tx, flags) {
            Ok(report) => {
                self.shadow.commit(plan.update);
                self.schema.learn(&tx);
                self.force_full = false;
                tracing::debug!(
                    mode = ?plan.mode,
                    messages = report.messages,
                    bytes = report.bytes,
                    "nftables batch applied"
                );
                Ok(SyncReport {
                    duration: start.elapsed(),
                    ..report
                })
            }
            Err(err) => {
                self.force_full = true;
                Err(err)
            }
        }
    }

    /// Deletes `ip svcproxy` and `ip6 svcproxy` in one batch, each as `add table` + `delete
    /// table` so that a missing table is not an error (idempotent). Other tables are not
    /// touched. A table this datapath owns, an orphaned one (its owner exited) and an
    /// unflagged one are deleted alike; one owned by another live process is refused
    /// (`EPERM`). The next sync is a full rebuild.
    async fn cleanup(&mut self) -> proxy_core::Result<()> {
        let mut tx = Transaction::new(names::TABLE);
        for f in Family::ALL {
            tx.push(f, Op::AddTable);
            tx.push(f, Op::DeleteTable);
        }
        // Delete-if-exists only: the encoder sends no table flags.
        let result = self.apply(&tx, 0).map(drop);
        // Whatever happened, what we programmed is no longer known.
        self.shadow.reset();
        self.schema.clear();
        self.force_full = true;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_classes() {
        assert!(retryable_errno(Errno::EBUSY));
        assert!(retryable_errno(Errno::ENOENT));
        assert!(!retryable_errno(Errno::EINVAL));
        assert!(!retryable_errno(Errno::EOPNOTSUPP));
    }

    #[test]
    fn counts_adds_and_removals() {
        let mut tx = Transaction::new("t");
        tx.push(Family::Ip, Op::AddTable);
        tx.push(Family::Ip, Op::FlushTable);
        tx.push(
            Family::Ip,
            Op::DeleteElement {
                set: "s".into(),
                key: Vec::new(),
            },
        );
        let r = report_counts(&tx);
        assert_eq!((r.objects_added, r.objects_removed), (1, 2));
    }
}
