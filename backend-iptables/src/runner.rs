//! The one place that runs the `iptables` tools: [`RestoreRunner`] and its command
//! implementation [`CommandRunner`]; the text work around them: finding the rules of a
//! built-in chain ([`chain_rules`]) and the input that removes everything of ours
//! ([`cleanup_input`], [`cleanup`]; with `iptables-nft` also the built-in chains that held
//! nothing but our jumps, [`emptied_base_chains`]).
//!
//! # Commands
//!
//! * restore: `{ip,ip6}tables-VARIANT-restore --noflush -w SECS`, the input on stdin. With
//!   `--noflush` only the chains the input declares are flushed, so a partial input leaves
//!   every other chain alone; each table's section is one kernel transaction (`COMMIT`).
//! * save: `{ip,ip6}tables-VARIANT-save [-t TABLE]` (read only).
//! * list: `{ip,ip6}tables-VARIANT -w SECS -t TABLE -S CHAIN` (read only). With `iptables-nft`
//!   this reads one chain, where `-C` and `-save` read the whole table (0.8 s and 2-7 s at
//!   10 000 services); with legacy every read copies the whole table blob, so one `-save -t
//!   TABLE` is cheaper than a listing per chain.
//!
//! Everything runs inside the target network namespace when one is given: the command is
//! spawned from a short-lived thread that has `setns`ed into it (the calling thread never moves).
//!
//! # The xtables lock
//!
//! `iptables-legacy` serializes every writer on the host through `/run/xtables.lock`, shared by
//! all network namespaces. The tools are run with `-w SECS` so they wait for it instead of
//! failing; before a restore the runner looks in `/proc/locks` for a holder of the lock (only
//! looking: taking it, even briefly, could fail someone else's command), so that a sync that
//! waited says so in the log ([`Restored::lock_held`]). A wait that runs out is
//! [`Error::Lock`]. `iptables-nft` does not use the lock (nf_tables has transactions).

use std::fs::File;
use std::io::Write as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use nix::sched::CloneFlags;
use proxy_core::model::IpFamily;
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::variant::Variant;

/// How long the tools wait for the xtables lock by default.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(30);

/// The exit status `iptables` uses when the xtables lock could not be taken.
const EXIT_RESOURCE_PROBLEM: i32 = 4;

/// What a successful restore took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Restored {
    /// Wall time of the tool, including any wait for the lock.
    pub duration: Duration,
    /// Whether another program held the xtables lock when the restore started (so part of
    /// `duration` was spent waiting for it).
    pub lock_held: bool,
}

/// Runs the `iptables` tools of one variant, in one network namespace.
///
/// Tests wrap it to record or refuse what the datapath sends.
pub trait RestoreRunner: Send {
    /// The variant whose tools run.
    fn variant(&self) -> Variant;

    /// Runs the restore tool of `family` with `--noflush` and `input` on stdin.
    fn restore(&mut self, family: IpFamily, input: &str) -> Result<Restored>;

    /// Runs the save tool of `family` (for `table` only, if given) and returns what it
    /// printed.
    fn save(&mut self, family: IpFamily, table: Option<&str>) -> Result<String>;

    /// Lists the rules of `chain` in `table` of `family` (`-S`) and returns what it printed.
    fn list(&mut self, family: IpFamily, table: &str, chain: &str) -> Result<String>;
}

/// A network namespace to run in, or the current one.
#[derive(Debug)]
struct Target {
    netns: Option<(PathBuf, File)>,
}

impl Target {
    fn new(netns: Option<&Path>) -> Result<Target> {
        let netns = match netns {
            Some(path) => {
                let file = File::open(path).map_err(|source| Error::Netns {
                    path: path.to_path_buf(),
                    source,
                })?;
                Some((path.to_path_buf(), file))
            }
            None => None,
        };
        Ok(Target { netns })
    }

    /// Runs `program args`, with `input` on stdin if given, and collects its output.
    fn run(&self, program: &str, args: &[&str], input: Option<&[u8]>) -> Result<Output> {
        let spawn = || spawn_and_wait(program, args, input);
        match &self.netns {
            None => spawn(),
            Some((path, file)) => std::thread::scope(|scope| {
                let handle = scope.spawn(|| {
                    nix::sched::setns(file, CloneFlags::CLONE_NEWNET).map_err(|e| {
                        Error::Netns {
                            path: path.clone(),
                            source: e.into(),
                        }
                    })?;
                    spawn()
                });
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            }),
        }
    }
}

/// Runs `program args` from the current thread (so in its network namespace).
fn spawn_and_wait(program: &str, args: &[&str], input: Option<&[u8]>) -> Result<Output> {
    let command_line = || format!("{program} {}", args.join(" "));
    let mut child = Command::new(program)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn {
            command: command_line(),
            source,
        })?;
    let stdin = child.stdin.take();
    std::thread::scope(|scope| {
        // Write from another thread: a tool that fails early stops reading, and stderr must
        // keep draining meanwhile.
        if let (Some(mut stdin), Some(input)) = (stdin, input) {
            scope.spawn(move || {
                // A broken pipe means the tool exited early; its status tells why.
                let _ = stdin.write_all(input);
            });
        }
        child.wait_with_output().map_err(|source| Error::Spawn {
            command: command_line(),
            source,
        })
    })
}

/// Runs `program args` once inside `netns` (the current namespace if `None`).
pub fn run_in(
    netns: Option<&Path>,
    program: &str,
    args: &[&str],
    input: Option<&[u8]>,
) -> Result<Output> {
    Target::new(netns)?.run(program, args, input)
}

/// The [`RestoreRunner`] that runs the real tools.
#[derive(Debug)]
pub struct CommandRunner {
    target: Target,
    variant: Variant,
    lock_wait: Duration,
}

impl CommandRunner {
    /// Runs `variant`'s tools in `netns` (opened now, so a missing namespace fails here), or in
    /// the current namespace.
    pub fn new(netns: Option<&Path>, variant: Variant) -> Result<Self> {
        Ok(CommandRunner {
            target: Target::new(netns)?,
            variant,
            lock_wait: DEFAULT_LOCK_WAIT,
        })
    }

    /// Waits at most `wait` (whole seconds, at least 1) for the xtables lock.
    pub fn with_lock_wait(mut self, wait: Duration) -> Self {
        self.lock_wait = wait;
        self
    }

    fn wait_arg(&self) -> String {
        self.lock_wait.as_secs().max(1).to_string()
    }

    /// The error for a tool that exited with `output` and is not a restore.
    fn command_error(&self, tool: &str, args: &[&str], output: &Output) -> Error {
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        if let Some(err) = self.lock_error(tool, output, &stderr) {
            return err;
        }
        Error::Command {
            command: format!("{tool} {}", args.join(" ")),
            exit: output.status.code(),
            stderr,
        }
    }

    /// [`Error::Lock`] if the tool gave up waiting for the xtables lock.
    fn lock_error(&self, tool: &str, output: &Output, stderr: &str) -> Option<Error> {
        (output.status.code() == Some(EXIT_RESOURCE_PROBLEM) && stderr.contains("xtables lock"))
            .then(|| Error::Lock {
                tool: tool.to_owned(),
                waited: self.lock_wait,
                stderr: stderr.to_owned(),
            })
    }
}

impl RestoreRunner for CommandRunner {
    fn variant(&self) -> Variant {
        self.variant
    }

    fn restore(&mut self, family: IpFamily, input: &str) -> Result<Restored> {
        let tool = self.variant.restore(family);
        let wait = self.wait_arg();
        let lock_held = self.variant.uses_xtables_lock() && xtables_lock_holder().is_some();
        if lock_held {
            tracing::info!(
                tool,
                "another program holds the xtables lock: waiting for it"
            );
        }
        let start = Instant::now();
        let output = self
            .target
            .run(tool, &["--noflush", "-w", &wait], Some(input.as_bytes()))?;
        let duration = start.elapsed();
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            if let Some(err) = self.lock_error(tool, &output, &stderr) {
                return Err(err);
            }
            return Err(Error::restore(
                self.variant,
                family,
                output.status.code(),
                stderr,
                input,
            ));
        }
        Ok(Restored {
            duration,
            lock_held,
        })
    }

    fn save(&mut self, family: IpFamily, table: Option<&str>) -> Result<String> {
        let tool = self.variant.save(family);
        let args: &[&str] = match table {
            Some(t) => &["-t", t],
            None => &[],
        };
        let output = self.target.run(tool, args, None)?;
        if !output.status.success() {
            return Err(self.command_error(tool, args, &output));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    fn list(&mut self, family: IpFamily, table: &str, chain: &str) -> Result<String> {
        let tool = self.variant.iptables(family);
        let wait = self.wait_arg();
        let args = ["-w", wait.as_str(), "-t", table, "-S", chain];
        let output = self.target.run(tool, &args, None)?;
        if !output.status.success() {
            return Err(self.command_error(tool, &args, &output));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

/// The xtables lock file: `$XTABLES_LOCKFILE`, else `/run/xtables.lock` (as the tools do).
fn xtables_lock_path() -> PathBuf {
    std::env::var_os("XTABLES_LOCKFILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/xtables.lock"))
}

/// The pid of a process holding the xtables lock, from `/proc/locks` (`None`: free, or
/// unknown).
pub fn xtables_lock_holder() -> Option<u32> {
    let meta = std::fs::metadata(xtables_lock_path()).ok()?;
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    flock_holder(&locks, meta.dev(), meta.ino())
}

/// The pid holding a `FLOCK` on the file `(dev, ino)` in a `/proc/locks` text (lines such as
/// `3: FLOCK  ADVISORY  WRITE 1234 00:1a:789 0 EOF`; waiters, marked `->`, are skipped).
fn flock_holder(locks: &str, dev: u64, ino: u64) -> Option<u32> {
    // Linux's dev_t encoding; /proc/locks prints major and minor in hex.
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    let want = format!("{major:02x}:{minor:02x}:{ino}");
    locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            [_, "FLOCK", _, _, pid, file, ..] if *file == want => pid.parse().ok(),
            _ => None,
        }
    })
}

/// The rules of `chain` in `table`, each as its words after `-A CHAIN`, from a save output
/// (`*table` sections) or a `-S` listing (no sections: every `-A CHAIN` line counts).
pub fn chain_rules(text: &str, table: &str, chain: &str) -> Vec<Vec<String>> {
    let mut current: Option<&str> = None;
    text.lines()
        .filter_map(|line| {
            if let Some(t) = line.strip_prefix('*') {
                current = Some(t.trim());
                return None;
            }
            if current.is_some_and(|t| t != table) {
                return None;
            }
            let spec = line.strip_prefix("-A ")?.strip_prefix(chain)?;
            let spec = spec.strip_prefix(' ').or(spec.is_empty().then_some(spec))?;
            Some(split_words(spec))
        })
        .collect()
}

/// The `-j`/`-g` target among a rule's words.
pub fn target_of(words: &[String]) -> Option<&str> {
    words
        .iter()
        .position(|w| matches!(w.as_str(), "-j" | "--jump" | "-g" | "--goto"))
        .and_then(|i| words.get(i + 1))
        .map(String::as_str)
}

/// What [`cleanup`] removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cleaned {
    /// Our chains deleted.
    pub chains: usize,
    /// Rules of other chains (built-in or foreign) deleted because they jumped to ours.
    pub jumps: usize,
    /// Built-in chains deleted (`iptables-nft` only) because they held nothing but our jumps:
    /// see [`emptied_base_chains`].
    pub base_chains: usize,
}

impl Cleaned {
    /// Whether nothing was there.
    pub fn is_empty(&self) -> bool {
        self.chains == 0 && self.jumps == 0 && self.base_chains == 0
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &Cleaned) {
        self.chains += other.chains;
        self.jumps += other.jumps;
        self.base_chains += other.base_chains;
    }
}

/// The built-in chains of a save output, as `(table, chain)`, that hold at least one rule and
/// only rules jumping to our chains, with policy `ACCEPT`: once our jumps are gone they are
/// empty and do nothing.
///
/// With `iptables-nft` a built-in chain is an nftables base chain that exists only once some
/// rule was put in it: the jumps of our first sync create those no one else uses, and
/// [`cleanup`] deletes them again. Whether such a chain existed, empty, before our first sync
/// cannot be told (`iptables-nft-save` and `-S` print every built-in chain, existing or not),
/// so a chain that held only our jumps counts as ours: deleting an empty `ACCEPT` base chain
/// changes no packet's fate, the `iptables` tools still list it (with policy `ACCEPT`) and
/// create it again on its next rule. One holding anyone else's rule, or another policy, is
/// never deleted (and `iptables-nft` itself refuses to delete a built-in chain that holds a
/// rule or whose policy is not `ACCEPT`, so a rule added meanwhile keeps it).
pub fn emptied_base_chains<'a>(
    save: &'a str,
    is_ours: &dyn Fn(&str) -> bool,
) -> Vec<(&'a str, &'a str)> {
    let mut out = Vec::new();
    let mut table: Option<&str> = None;
    let mut base: Vec<(&str, bool)> = Vec::new();
    let mut rules: Vec<(&str, bool)> = Vec::new();
    for line in save.lines() {
        if let Some(name) = line.strip_prefix('*') {
            table = Some(name.trim());
            base.clear();
            rules.clear();
        } else if let Some(decl) = line.strip_prefix(':') {
            let mut words = decl.split_whitespace();
            if let (Some(chain), Some(policy)) = (words.next(), words.next())
                && policy != "-"
            {
                base.push((chain, policy == "ACCEPT"));
            }
        } else if let Some(rule) = line.strip_prefix("-A ") {
            let (chain, spec) = rule.split_once(' ').unwrap_or((rule, ""));
            rules.push((chain, rule_target(spec).as_deref().is_some_and(is_ours)));
        } else if line.trim() == "COMMIT"
            && let Some(t) = table.take()
        {
            for (chain, accept) in &base {
                let mut of_chain = rules.iter().filter(|(c, _)| c == chain).peekable();
                if *accept && of_chain.peek().is_some() && of_chain.all(|(_, ours)| *ours) {
                    out.push((t, *chain));
                }
            }
        }
    }
    out
}

/// The restore input that removes our chains from a save output: per table, `-D` every rule
/// of another chain that jumps or goes to one of ours, then declare (so flush) and `-X` every
/// chain of ours. `None` if there is nothing of ours. Other chains and their other rules are
/// not touched.
pub fn cleanup_input(save: &str, is_ours: &dyn Fn(&str) -> bool) -> Option<(String, Cleaned)> {
    let (tables, cleaned) = ours_per_table(save, is_ours)?;
    let mut out = String::new();
    for t in &tables {
        out.push_str(&t.section(&t.deletes, &t.ours, &t.ours));
    }
    Some((out, cleaned))
}

/// The same removal as [`cleanup_input`], cut into restores of at most `chunk` chains each
/// (`iptables-nft-restore` is quadratic in the size of one input): first the foreign jumps,
/// then the flushes, then the deletions, so every restore is valid on its own. Not atomic.
pub fn cleanup_inputs(
    save: &str,
    is_ours: &dyn Fn(&str) -> bool,
    chunk: usize,
) -> Option<(Vec<String>, Cleaned)> {
    let (tables, cleaned) = ours_per_table(save, is_ours)?;
    let chunk = chunk.max(1);
    let mut docs = Vec::new();
    let jumps: String = tables
        .iter()
        .map(|t| t.section(&t.deletes, &[], &[]))
        .collect();
    if !jumps.is_empty() {
        docs.push(jumps);
    }
    for flush in [true, false] {
        for t in &tables {
            for part in t.ours.chunks(chunk) {
                let (declared, deleted) = if flush {
                    (part, &[][..])
                } else {
                    (&[][..], part)
                };
                docs.push(t.section(&[], declared, deleted));
            }
        }
    }
    Some((docs, cleaned))
}

/// One table's chains of ours and the foreign rules jumping to them, from a save output.
struct OursInTable<'a> {
    name: &'a str,
    ours: Vec<&'a str>,
    deletes: Vec<String>,
}

impl OursInTable<'_> {
    /// A restore section: `-D` lines, declarations (flushes) and `-X` lines; empty if none.
    fn section(&self, deletes: &[String], declared: &[&str], deleted: &[&str]) -> String {
        if deletes.is_empty() && declared.is_empty() && deleted.is_empty() {
            return String::new();
        }
        let mut out = format!("*{}\n", self.name);
        for d in deletes {
            out.push_str(d);
            out.push('\n');
        }
        for chain in declared {
            out.push_str(&format!(":{chain} - [0:0]\n"));
        }
        for chain in deleted {
            out.push_str(&format!("-X {chain}\n"));
        }
        out.push_str("COMMIT\n");
        out
    }
}

/// Our chains and the foreign jumps to them, per table that has any; `None` if none has.
fn ours_per_table<'a>(
    save: &'a str,
    is_ours: &dyn Fn(&str) -> bool,
) -> Option<(Vec<OursInTable<'a>>, Cleaned)> {
    let mut tables = Vec::new();
    let mut cleaned = Cleaned::default();
    let mut current: Option<OursInTable<'a>> = None;
    for line in save.lines() {
        if let Some(name) = line.strip_prefix('*') {
            current = Some(OursInTable {
                name: name.trim(),
                ours: Vec::new(),
                deletes: Vec::new(),
            });
        } else if let Some(decl) = line.strip_prefix(':') {
            let name = decl.split_whitespace().next().unwrap_or_default();
            if let Some(t) = current.as_mut()
                && is_ours(name)
            {
                t.ours.push(name);
            }
        } else if let Some(rule) = line.strip_prefix("-A ") {
            let (chain, spec) = rule.split_once(' ').unwrap_or((rule, ""));
            let target = rule_target(spec);
            if let Some(t) = current.as_mut()
                && !is_ours(chain)
                && target.as_deref().is_some_and(is_ours)
            {
                t.deletes.push(format!("-D {chain} {spec}"));
            }
        } else if line.trim() == "COMMIT"
            && let Some(t) = current.take()
            && (!t.ours.is_empty() || !t.deletes.is_empty())
        {
            cleaned.chains += t.ours.len();
            cleaned.jumps += t.deletes.len();
            tables.push(t);
        }
    }
    (!cleaned.is_empty()).then_some((tables, cleaned))
}

/// The `-j`/`-g` target of a rule spec as `iptables-save` prints it (quoted arguments are
/// skipped as a whole).
fn rule_target(spec: &str) -> Option<String> {
    target_of(&split_words(spec)).map(str::to_owned)
}

/// Splits a rule spec into words the way the restore parser does: whitespace separates, a
/// double-quoted string (with `\"` escapes) is one word.
pub fn split_words(spec: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_quotes = false;
    let mut chars = spec.chars();
    let mut started = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' if in_quotes => {
                if let Some(next) = chars.next() {
                    word.push(next);
                }
            }
            '"' => {
                in_quotes = !in_quotes;
                started = true;
            }
            c if c.is_whitespace() && !in_quotes => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            c => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(word);
    }
    words
}

/// Removes every chain of ours (and every rule jumping to one) from every table of `family`:
/// one restore (each table changes in one transaction), or for `iptables-nft` restores of at
/// most [`crate::plan::NFT_CHUNK_CHAINS`] chains each. Idempotent.
pub fn cleanup(
    runner: &mut dyn RestoreRunner,
    family: IpFamily,
    is_ours: &dyn Fn(&str) -> bool,
) -> Result<Cleaned> {
    let save = runner.save(family, None)?;
    let inputs = match crate::datapath::chunk_chains_for(runner.variant()) {
        Some(chunk) => cleanup_inputs(&save, is_ours, chunk),
        None => cleanup_input(&save, is_ours).map(|(input, cleaned)| (vec![input], cleaned)),
    };
    let Some((inputs, mut cleaned)) = inputs else {
        return Ok(Cleaned::default());
    };
    for input in &inputs {
        runner.restore(family, input)?;
    }
    if runner.variant() == Variant::Nft {
        cleaned.base_chains = delete_base_chains(runner, family, &save, is_ours)?;
    }
    Ok(cleaned)
}

/// Deletes the built-in chains that held only our jumps (see [`emptied_base_chains`]), one
/// restore each, so that one that gained a rule meanwhile (and is refused) keeps only itself.
/// Returns how many were deleted.
fn delete_base_chains(
    runner: &mut dyn RestoreRunner,
    family: IpFamily,
    save: &str,
    is_ours: &dyn Fn(&str) -> bool,
) -> Result<usize> {
    let mut deleted = 0;
    for (table, chain) in emptied_base_chains(save, is_ours) {
        match runner.restore(family, &format!("*{table}\n-X {chain}\nCOMMIT\n")) {
            Ok(_) => deleted += 1,
            Err(err @ Error::Restore { .. }) => tracing::info!(
                %family, table, chain, error = %err,
                "kept a built-in chain that held only our jumps: it changed meanwhile"
            ),
            Err(err) => return Err(err),
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours(name: &str) -> bool {
        name.starts_with("SVCPROXY-")
    }

    const SAVE: &str = r#"# Generated by iptables-save v1.8.9 on Mon Nov 23 06:45:02 2026
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:FOREIGN - [0:0]
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A FOREIGN -m comment --comment "-j SVCPROXY-FAKE" -j ACCEPT
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:FOREIGN - [0:0]
:SVCPROXY-SERVICES - [0:0]
:SVCPROXY-SVC-ABC - [0:0]
-A PREROUTING -m comment --comment "svcproxy services" -j SVCPROXY-SERVICES
-A OUTPUT -j FOREIGN
-A FOREIGN -g SVCPROXY-SVC-ABC
-A SVCPROXY-SERVICES -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j SVCPROXY-SVC-ABC
COMMIT
"#;

    #[test]
    fn cleanup_removes_only_ours_and_the_jumps_to_them() {
        let (input, cleaned) = cleanup_input(SAVE, &ours).expect("something to clean");
        assert_eq!(
            input,
            "*nat\n\
             -D PREROUTING -m comment --comment \"svcproxy services\" -j SVCPROXY-SERVICES\n\
             -D FOREIGN -g SVCPROXY-SVC-ABC\n\
             :SVCPROXY-SERVICES - [0:0]\n\
             :SVCPROXY-SVC-ABC - [0:0]\n\
             -X SVCPROXY-SERVICES\n\
             -X SVCPROXY-SVC-ABC\n\
             COMMIT\n"
        );
        assert_eq!(
            cleaned,
            Cleaned {
                chains: 2,
                jumps: 2,
                base_chains: 0,
            }
        );
        assert_eq!(
            cleanup_input("*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n", &ours),
            None
        );
    }

    #[test]
    fn base_chains_holding_only_our_jumps_are_emptied() {
        assert_eq!(emptied_base_chains(SAVE, &ours), [("nat", "PREROUTING")]);
        let save = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n\
            :SVCPROXY-F - [0:0]\n-A INPUT -j SVCPROXY-F\n-A INPUT -j SVCPROXY-F\n\
            -A FORWARD -j SVCPROXY-F\nCOMMIT\n*nat\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n";
        assert_eq!(
            emptied_base_chains(save, &ours),
            [("filter", "INPUT")],
            "not FORWARD (policy DROP), not OUTPUT (empty: it may not be ours)"
        );
    }

    #[test]
    fn chunked_cleanup_removes_jumps_then_flushes_then_deletes() {
        let (docs, cleaned) = cleanup_inputs(SAVE, &ours, 1).expect("something to clean");
        assert_eq!(
            docs,
            vec![
                "*nat\n\
                 -D PREROUTING -m comment --comment \"svcproxy services\" -j SVCPROXY-SERVICES\n\
                 -D FOREIGN -g SVCPROXY-SVC-ABC\n\
                 COMMIT\n",
                "*nat\n:SVCPROXY-SERVICES - [0:0]\nCOMMIT\n",
                "*nat\n:SVCPROXY-SVC-ABC - [0:0]\nCOMMIT\n",
                "*nat\n-X SVCPROXY-SERVICES\nCOMMIT\n",
                "*nat\n-X SVCPROXY-SVC-ABC\nCOMMIT\n",
            ]
        );
        assert_eq!(cleaned.chains, 2);
        let (one, _) = cleanup_inputs(SAVE, &ours, 500).expect("something to clean");
        assert_eq!(one.len(), 3, "jumps, flushes, deletions");
    }

    #[test]
    fn words_respect_quotes() {
        assert_eq!(
            split_words(r#"-m comment --comment "a \"b\" -j X" -j Y"#),
            ["-m", "comment", "--comment", r#"a "b" -j X"#, "-j", "Y"]
        );
        assert_eq!(
            rule_target(r#"-m comment --comment "-j X" -j Y"#).as_deref(),
            Some("Y")
        );
        assert_eq!(rule_target("-p tcp"), None);
    }

    #[test]
    fn finds_the_rules_of_a_chain() {
        let words = |s: &str| split_words(s);
        assert_eq!(
            chain_rules(SAVE, "nat", "PREROUTING"),
            [words(
                r#"-m comment --comment "svcproxy services" -j SVCPROXY-SERVICES"#
            )]
        );
        assert_eq!(chain_rules(SAVE, "filter", "INPUT").len(), 1);
        assert!(chain_rules(SAVE, "nat", "INPUT").is_empty());
        let listing = "-P PREROUTING ACCEPT\n-A PREROUTING -j A\n-A PREROUTINGX -j B\n";
        assert_eq!(chain_rules(listing, "nat", "PREROUTING"), [words("-j A")]);
        assert_eq!(target_of(&words("-m x -g B")), Some("B"));
    }

    #[test]
    fn finds_the_flock_holder() {
        // dev 0:25 (0x19), inode 1234.
        let locks = "1: POSIX  ADVISORY  WRITE 99 00:19:77 0 EOF\n\
                     2: FLOCK  ADVISORY  WRITE 4242 00:19:1234 0 EOF\n\
                     2: -> FLOCK  ADVISORY  WRITE 4343 00:19:1234 0 EOF\n";
        assert_eq!(flock_holder(locks, 25, 1234), Some(4242));
        assert_eq!(flock_holder(locks, 25, 77), None);
        assert_eq!(flock_holder(locks, 26, 1234), None);
    }
}
