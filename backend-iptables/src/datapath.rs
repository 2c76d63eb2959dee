//! [`IptablesDatapath`]: the iptables backend as a [`proxy_core::Datapath`].
//!
//! A sync is: plan (pure: state, delta and the shadow of what was programmed, see
//! [`crate::plan`]) -> per family, run the plan's restore documents in order
//! (`iptables-restore --noflush`, see [`crate::runner`]), on a full sync with the jump rules
//! from the built-in chains repaired by the last one -> keep the plan's shadow.
//!
//! * **Failure**: the document the tool refused changed nothing (each table's `COMMIT` is one
//!   kernel transaction) and later documents are not run; earlier ones stay applied. The old
//!   shadow is kept and the next sync is forced to [`SyncMode::Full`], preceded by a look at
//!   what the kernel holds ([`Shadow::adopt_saved`]), so chains of ours that a partly applied
//!   sync left behind are found and deleted. The error carries the tool's reason and the
//!   input line it blamed, and is logged with it.
//! * **First sync**: like after a failure, our chains already in the kernel (left by an earlier
//!   run) are adopted first, so the full sync deletes those it no longer needs.
//! * **Variant**: `iptables-legacy` or `iptables-nft`, given or detected
//!   ([`crate::variant::detect`]). With `iptables-nft` the planner cuts documents into chunks of
//!   [`plan::NFT_CHUNK_CHAINS`] chains (its restore is quadratic in the size of one input);
//!   with legacy a family is one document.
//! * **Jump rules** (from `PREROUTING`, `INPUT`, ... to our chains; built-in chains are never
//!   declared in a restore, which would flush everyone's rules): on full syncs the built-in
//!   chains are read first (one `-save -t TABLE` per table with legacy, one `-S CHAIN` per
//!   chain with nft, nothing more when the sync read the whole ruleset already) and the fixes
//!   ([`jumps::jump_fixes`]) are added to the family's last document: no command per jump
//!   (with `-C` each would read the whole table: 0.5 s with legacy, 0.8 s with nft at 10 000
//!   services), and the jumps appear in the same transaction as the last chains they lead to.
//!   The fixes are safe against concurrent writers and re-verified when they changed
//!   anything: see [`crate::jumps`].
//! * **The xtables lock**: the tools wait for it; a sync that waited says so in the log.
//!
//! Running the tools blocks the calling thread (like the nftables backend's netlink
//! exchange): this future does not yield.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use proxy_core::model::IpFamily;
use proxy_core::{Datapath, Delta, ProxyState, SyncMode, SyncReport};
use tokio::time::Instant;

use crate::error::Error;
use crate::jumps;
use crate::names;
use crate::plan::{self, FamilyPlan, Plan, Shadow};
use crate::restore::{RestoreDoc, Table};
use crate::runner::{self, CommandRunner, DEFAULT_LOCK_WAIT, RestoreRunner};
use crate::variant::{self, Variant};

/// The backend's name, in logs, metrics and errors.
pub const NAME: &str = "iptables";

/// How many times a sync that changed jump rules fixes them again when it finds them changed
/// by another writer (see [`crate::jumps`]).
const JUMP_ATTEMPTS: usize = 3;

/// The chain the failure injected by [`IptablesDatapath::inject_failure_next_sync`] jumps to;
/// it never exists.
const MISSING_CHAIN: &str = "SVCP-INJECTED-MISSING";

/// How to build an [`IptablesDatapath`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IptablesConfig {
    /// The network namespace to program (a file such as `/run/netns/NAME`); `None`: the
    /// caller's namespace.
    pub netns: Option<PathBuf>,
    /// The variant to drive; `None`: detect it in the namespace.
    pub variant: Option<Variant>,
    /// How long the tools wait for the xtables lock before giving up.
    pub lock_wait: Duration,
    /// The planner's configuration. Empty `node_ips` are taken from the state's node at each
    /// sync; `chunk_chains` is set from the variant when `None`.
    pub plan: plan::Config,
}

impl Default for IptablesConfig {
    fn default() -> Self {
        IptablesConfig {
            netns: None,
            variant: None,
            lock_wait: DEFAULT_LOCK_WAIT,
            plan: plan::Config::default(),
        }
    }
}

/// The chunking the planner should use for `variant`: chunks for `iptables-nft`, one document
/// per family for legacy.
pub fn chunk_chains_for(variant: Variant) -> Option<usize> {
    match variant {
        Variant::Legacy => None,
        Variant::Nft => Some(plan::NFT_CHUNK_CHAINS),
    }
}

/// The iptables datapath: see the module documentation. `R` runs the tools (tests wrap
/// [`CommandRunner`] to record what is sent).
pub struct IptablesDatapath<R: RestoreRunner = CommandRunner> {
    runner: R,
    plan: plan::Config,
    /// What the kernel holds, as far as we know (replaced after each accepted sync).
    shadow: Shadow,
    /// The previous sync failed (or a cleanup ran, or none ran yet): the next one is full,
    /// after adopting what the kernel holds.
    force_full: bool,
    /// Test hook: add a rule the tool refuses to the next sync's first document.
    inject_failure: bool,
}

impl<R: RestoreRunner> std::fmt::Debug for IptablesDatapath<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IptablesDatapath")
            .field("variant", &self.runner.variant())
            .field("plan", &self.plan)
            .field("force_full", &self.force_full)
            .finish_non_exhaustive()
    }
}

impl IptablesDatapath<CommandRunner> {
    /// Opens the target namespace and settles the variant (detecting it if not given; the
    /// choice and its reason are logged). Nothing is changed yet.
    pub fn new(config: IptablesConfig) -> proxy_core::Result<Self> {
        let netns = config.netns.as_deref();
        let variant = match config.variant {
            Some(v) => v,
            None => {
                let d = variant::detect(netns, &names::is_ours).map_err(into_core)?;
                tracing::info!(variant = %d.variant, reason = %d.reason, "iptables variant detected");
                d.variant
            }
        };
        let runner = CommandRunner::new(netns, variant)
            .map_err(into_core)?
            .with_lock_wait(config.lock_wait);
        Ok(Self::with_runner(runner, config.plan))
    }
}

impl<R: RestoreRunner> IptablesDatapath<R> {
    /// A datapath running the tools through `runner`, planning with `plan` (`chunk_chains`
    /// set from the runner's variant when `None`).
    pub fn with_runner(runner: R, mut plan: plan::Config) -> Self {
        if plan.chunk_chains.is_none() {
            plan.chunk_chains = chunk_chains_for(runner.variant());
        }
        IptablesDatapath {
            runner,
            plan,
            shadow: Shadow::new(),
            force_full: true,
            inject_failure: false,
        }
    }

    /// The variant driven.
    pub fn variant(&self) -> Variant {
        self.runner.variant()
    }

    /// The runner.
    pub fn runner(&self) -> &R {
        &self.runner
    }

    /// The runner, mutably.
    pub fn runner_mut(&mut self) -> &mut R {
        &mut self.runner
    }

    /// The planner configuration (empty node IPs are taken from each sync's state).
    pub fn plan_config(&self) -> &plan::Config {
        &self.plan
    }

    /// What the datapath believes it programmed.
    pub fn shadow(&self) -> &Shadow {
        &self.shadow
    }

    /// Makes the next sync fail in the kernel: its first document gets a rule jumping to a
    /// chain that does not exist, so the tool refuses it and nothing of that sync is applied.
    /// For tests of the failure path.
    #[doc(hidden)]
    pub fn inject_failure_next_sync(&mut self) {
        self.inject_failure = true;
    }

    /// The planner configuration for `state`, completed from the state's node
    /// ([`proxy_core::policy::NodeConfig::for_node`]).
    fn plan_config_for(&self, state: &ProxyState) -> plan::Config {
        plan::Config {
            node: self.plan.node.for_node(&state.node),
            ..self.plan.clone()
        }
    }

    /// Records in the shadow the chains of ours the kernel holds now (families of `config`);
    /// returns the save outputs read.
    fn adopt_kernel(&mut self, config: &plan::Config) -> Result<BTreeMap<IpFamily, String>, Error> {
        let mut saved = BTreeMap::new();
        for family in config.node.families() {
            let save = self.runner.save(family, None)?;
            self.shadow.adopt_saved(family, &save);
            saved.insert(family, save);
        }
        Ok(saved)
    }

    /// The rules of the built-in chains `fam`'s jumps go into, as save text: `saved` if this
    /// sync read it already, else one `-save -t TABLE` per table (legacy: any read copies the
    /// whole table) or one `-S CHAIN` per chain (nft: reads just that chain).
    fn builtin_rules(&mut self, fam: &FamilyPlan, saved: Option<&String>) -> Result<String, Error> {
        if let Some(saved) = saved {
            return Ok(saved.clone());
        }
        let mut out = String::new();
        match self.runner.variant() {
            Variant::Legacy => {
                let tables: BTreeSet<Table> = fam.jumps.iter().map(|j| j.table).collect();
                for table in tables {
                    out.push_str(&self.runner.save(fam.family, Some(table.name()))?);
                }
            }
            Variant::Nft => {
                let chains: BTreeSet<(Table, &str)> =
                    fam.jumps.iter().map(|j| (j.table, j.chain)).collect();
                for (table, chain) in chains {
                    out.push_str(&format!("*{table}\n"));
                    out.push_str(&self.runner.list(fam.family, table.name(), chain)?);
                    out.push_str("COMMIT\n");
                }
            }
        }
        Ok(out)
    }

    /// Runs the plan's documents, the last one of each family of a full plan carrying the
    /// jump-rule fixes; the report counts what was sent. `saved`: save outputs this sync
    /// already read.
    fn apply(
        &mut self,
        plan: &Plan,
        saved: &BTreeMap<IpFamily, String>,
    ) -> Result<SyncReport, Error> {
        let mut report = SyncReport::default();
        for family in &plan.removed_families {
            let cleaned = runner::cleanup(&mut self.runner, *family, &names::is_ours)?;
            report.objects_removed += cleaned.chains + cleaned.jumps;
        }
        for fam in &plan.families {
            let mut texts: Vec<String> = fam.docs.iter().map(RestoreDoc::text).collect();
            if self.inject_failure && !fam.docs.is_empty() {
                self.inject_failure = false;
                texts[0] = injected(&fam.docs[0]);
            }
            let fixes = match plan.mode {
                SyncMode::Full => {
                    let existing = self.builtin_rules(fam, saved.get(&fam.family))?;
                    jumps::jump_fixes(&fam.jumps, &existing)
                }
                SyncMode::Partial => BTreeMap::new(),
            };
            let (added, removed) = jumps::counts(&fixes);
            report.objects_added += added + fam.counts.rules + fam.counts.chains_written;
            report.objects_removed += removed + fam.counts.chains_deleted;
            self.run_docs(fam.family, texts, &fixes, &mut report)?;
            if !fixes.is_empty() {
                self.settle_jumps(fam)?;
            }
        }
        Ok(report)
    }

    /// Runs one family's documents in order, `fixes` added to the last one. If that last one
    /// is refused, it may be for a jump fix made stale by another writer (see
    /// [`crate::jumps`]): it is run again without them, and the caller fixes the jumps anew.
    fn run_docs(
        &mut self,
        family: IpFamily,
        mut texts: Vec<String>,
        fixes: &BTreeMap<Table, Vec<String>>,
        report: &mut SyncReport,
    ) -> Result<(), Error> {
        let plain_last = texts.pop().unwrap_or_default();
        let mut last = plain_last.clone();
        jumps::splice(&mut last, fixes);
        texts.push(last);
        texts.retain(|text| !text.is_empty());
        let total = texts.len();
        for (i, text) in texts.iter().enumerate() {
            let is_last = i + 1 == total;
            let restored = match self.runner.restore(family, text) {
                Err(err @ Error::Restore { .. }) if is_last && !fixes.is_empty() => {
                    tracing::info!(
                        %family, error = %err,
                        "the restore with the jump fixes was refused: running it without them"
                    );
                    if plain_last.is_empty() {
                        Ok(runner::Restored::default())
                    } else {
                        self.runner.restore(family, &plain_last)
                    }
                }
                other => other,
            }
            .inspect_err(|err| log_refused(err, family, i + 1, total))?;
            if restored.lock_held {
                tracing::info!(
                    %family,
                    took = ?restored.duration,
                    "the sync waited for the xtables lock held by another program"
                );
            }
            report.messages += text.lines().count();
            report.bytes += text.len();
        }
        Ok(())
    }

    /// After a sync that changed jump rules: reads the built-in chains again and repeats the
    /// fixes until none is needed (a concurrent writer may have inserted a duplicate or
    /// changed a chain under a fix, which refused it), at most [`JUMP_ATTEMPTS`] times. See
    /// [`crate::jumps`].
    fn settle_jumps(&mut self, fam: &FamilyPlan) -> Result<(), Error> {
        for attempt in 1..=JUMP_ATTEMPTS {
            let existing = self.builtin_rules(fam, None)?;
            let fixes = jumps::jump_fixes(&fam.jumps, &existing);
            if fixes.is_empty() {
                return Ok(());
            }
            tracing::info!(
                family = %fam.family,
                attempt,
                fixes = ?fixes,
                "jump rules changed by another writer during the sync: fixing them again"
            );
            match self.runner.restore(fam.family, &jumps::input(&fixes)) {
                Ok(_) => {}
                Err(err @ Error::Restore { .. }) => {
                    tracing::info!(
                        family = %fam.family, error = %err,
                        "a jump fix was refused: the chain changed under it"
                    );
                }
                Err(err) => return Err(err),
            }
        }
        let existing = self.builtin_rules(fam, None)?;
        let fixes = jumps::jump_fixes(&fam.jumps, &existing);
        if fixes.is_empty() {
            return Ok(());
        }
        Err(Error::Jumps {
            family: fam.family,
            attempts: JUMP_ATTEMPTS,
            fixes: fixes.into_values().flatten().collect(),
        })
    }
}

/// The restore inputs a full sync of `fam` sends to a namespace holding nothing of ours: its
/// documents, the last one inserting the jump rules (what `svcproxy dump` prints).
pub fn inputs_from_scratch(fam: &FamilyPlan) -> Vec<String> {
    let mut texts: Vec<String> = fam.docs.iter().map(RestoreDoc::text).collect();
    let fixes = jumps::jump_fixes(&fam.jumps, "");
    if texts.is_empty() && !fixes.is_empty() {
        texts.push(String::new());
    }
    if let Some(last) = texts.last_mut() {
        jumps::splice(last, &fixes);
    }
    texts
}

/// `doc`'s text with a rule the tool refuses added to its nat section.
fn injected(doc: &RestoreDoc) -> String {
    let mut doc = doc.clone();
    doc.table(Table::Nat)
        .rule(names::SERVICES, format!("-j {MISSING_CHAIN}"));
    doc.text()
}

/// Logs a refused restore with the line the tool blamed.
fn log_refused(err: &Error, family: IpFamily, doc: usize, docs: usize) {
    match err {
        Error::Restore {
            line, text, stderr, ..
        } => tracing::warn!(
            %family,
            document = format!("{doc}/{docs}"),
            line = ?line,
            text = text.as_deref().unwrap_or(""),
            stderr = %stderr.trim(),
            "the restore was refused; its tables are unchanged"
        ),
        other => {
            tracing::warn!(%family, document = format!("{doc}/{docs}"), error = %other, "the restore failed")
        }
    }
}

/// The datapath error for `err`.
fn into_core(err: Error) -> proxy_core::Error {
    let message = err.to_string();
    let severity = if err.is_retryable() {
        proxy_core::error::Severity::Retryable
    } else {
        proxy_core::error::Severity::Fatal
    };
    proxy_core::Error::Datapath {
        backend: NAME.to_owned(),
        severity,
        message,
        source: Some(Box::new(err)),
    }
}

#[async_trait]
impl<R: RestoreRunner> Datapath for IptablesDatapath<R> {
    fn name(&self) -> &str {
        NAME
    }

    /// Plans and applies; see the module documentation.
    async fn sync(
        &mut self,
        state: &ProxyState,
        delta: &Delta,
        mode: SyncMode,
    ) -> proxy_core::Result<SyncReport> {
        let start = Instant::now();
        let config = self.plan_config_for(state);
        let (mode, saved) = if self.force_full {
            match self.adopt_kernel(&config) {
                Ok(saved) => (SyncMode::Full, saved),
                Err(err) => return Err(into_core(err)),
            }
        } else {
            (mode, BTreeMap::new())
        };
        let plan = plan::plan(state, delta, &self.shadow, mode, &config);
        match self.apply(&plan, &saved) {
            Ok(report) => {
                tracing::debug!(
                    mode = ?plan.mode,
                    variant = %self.runner.variant(),
                    documents = plan.counts.documents,
                    chains_written = plan.counts.chains_written,
                    chains_deleted = plan.counts.chains_deleted,
                    rules = plan.counts.rules,
                    "iptables restores applied"
                );
                self.shadow = plan.next;
                self.force_full = false;
                Ok(SyncReport {
                    duration: start.elapsed(),
                    ..report
                })
            }
            Err(err) => {
                self.force_full = true;
                Err(into_core(err))
            }
        }
    }

    /// Removes every chain of ours and every rule jumping to one, in both tables (all tables
    /// in fact) and both families, of this datapath's variant; other chains and rules are not
    /// touched. Idempotent. The next sync is a full rebuild.
    async fn cleanup(&mut self) -> proxy_core::Result<()> {
        let mut result = Ok(());
        for family in IpFamily::ALL {
            if let Err(err) = runner::cleanup(&mut self.runner, family, &names::is_ours) {
                // ip6tables may be missing where IPv6 is not used: nothing of ours there.
                if !(family == IpFamily::V6 && err.is_not_found()) && result.is_ok() {
                    result = Err(into_core(err));
                }
            }
        }
        self.shadow = Shadow::new();
        self.force_full = true;
        result
    }
}

/// Removes our chains from `variant` in `netns` (both families), for switching away from it
/// or from this backend. A variant whose tools are not installed holds nothing of ours.
pub fn cleanup_variant(
    netns: Option<&std::path::Path>,
    variant: Variant,
) -> proxy_core::Result<runner::Cleaned> {
    let mut r = CommandRunner::new(netns, variant).map_err(into_core)?;
    let mut total = runner::Cleaned::default();
    for family in IpFamily::ALL {
        match runner::cleanup(&mut r, family, &names::is_ours) {
            Ok(c) => total.add(&c),
            Err(err) if err.is_not_found() => {}
            Err(err) => return Err(into_core(err)),
        }
    }
    Ok(total)
}
