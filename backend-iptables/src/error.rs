//! The applier's errors: one enum, a variant per failing step, with the tool's own words.
//!
//! The planner is infallible; everything here comes from running the `iptables` tools
//! ([`crate::runner`]) or choosing which of them to run ([`crate::variant`]).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use proxy_core::model::IpFamily;

use crate::variant::Variant;

/// Why running an `iptables` tool failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The tool could not be started (not installed, or no process could be created).
    #[error("failed to run {command}: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The target network namespace could not be opened or entered.
    #[error("failed to enter the network namespace {}: {source}", path.display())]
    Netns {
        /// The namespace file (`/run/netns/NAME`).
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// A restore was refused. The table whose `COMMIT` failed (and every later one) was not
    /// changed; tables committed earlier in the same input were.
    #[error("{}", RestoreDisplay(self))]
    Restore {
        /// The variant whose tool refused the input.
        variant: Variant,
        /// The family (`iptables-restore` or `ip6tables-restore`).
        family: IpFamily,
        /// The exit status (`None`: killed by a signal).
        exit: Option<i32>,
        /// The tool's standard error, as it printed it.
        stderr: String,
        /// The 1-based number of the input line the tool blamed, if it said.
        line: Option<usize>,
        /// That line's text.
        text: Option<String>,
    },
    /// The xtables lock stayed held by another program for longer than the wait allowed.
    #[error("{tool}: another program held the xtables lock for more than {}s: {}", waited.as_secs(), stderr.trim())]
    Lock {
        /// The tool that gave up.
        tool: String,
        /// How long it waited.
        waited: Duration,
        /// Its standard error.
        stderr: String,
    },
    /// The jump rules from the built-in chains kept changing under the sync's fixes: another
    /// writer is changing them at the same time.
    #[error(
        "the jump rules of {family} still needed fixes after {attempts} attempts (another \
         program is changing them at the same time): {}",
        fixes.join("; ")
    )]
    Jumps {
        /// The family.
        family: IpFamily,
        /// How many times the fixes were applied.
        attempts: usize,
        /// The fixes still needed.
        fixes: Vec<String>,
    },
    /// Some other command (`-save`, `-C`, `-I`, `--version`) failed.
    #[error("{command} failed ({}): {}", exit_text(*exit), stderr.trim())]
    Command {
        /// The command line.
        command: String,
        /// The exit status (`None`: killed by a signal).
        exit: Option<i32>,
        /// Its standard error.
        stderr: String,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether trying again may succeed: a refused restore (the forced full sync repairs
    /// chains changed by someone else), a lock that was busy, a command that failed. Tools
    /// that cannot be started and namespaces that cannot be entered stay so.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Restore { .. }
            | Error::Lock { .. }
            | Error::Command { .. }
            | Error::Jumps { .. } => true,
            Error::Spawn { .. } | Error::Netns { .. } => false,
        }
    }

    /// Whether this is a tool that is not installed.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Spawn { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }

    /// The restore error for a tool that exited with `exit` and `stderr` on `input`: the line it
    /// blamed is looked up in `input`.
    pub fn restore(
        variant: Variant,
        family: IpFamily,
        exit: Option<i32>,
        stderr: String,
        input: &str,
    ) -> Self {
        let line = failing_line(&stderr);
        let text = line
            .and_then(|n| input.lines().nth(n.checked_sub(1)?))
            .map(str::to_owned);
        Error::Restore {
            variant,
            family,
            exit,
            stderr,
            line,
            text,
        }
    }
}

fn exit_text(exit: Option<i32>) -> String {
    match exit {
        Some(code) => format!("exit {code}"),
        None => "killed by a signal".to_owned(),
    }
}

/// Renders [`Error::Restore`]: `iptables-nft-restore refused the input (exit 2) at line 6
/// "COMMIT": Chain 'X' does not exist`.
struct RestoreDisplay<'a>(&'a Error);

impl fmt::Display for RestoreDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Error::Restore {
            variant,
            family,
            exit,
            stderr,
            line,
            text,
        } = self.0
        else {
            return Ok(());
        };
        write!(
            f,
            "{} refused the input ({})",
            variant.restore(*family),
            exit_text(*exit)
        )?;
        match (line, text) {
            (Some(n), Some(t)) => write!(f, " at line {n} {t:?}")?,
            (Some(n), None) => write!(f, " at line {n}")?,
            _ => {}
        }
        write!(f, ": {}", reason(stderr))
    }
}

/// The tool's reason, without its boilerplate (`Error occurred at line`, `Try ... --help`).
pub fn reason(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("Error occurred at line") && !l.starts_with("Try `")
        })
        .collect();
    if lines.is_empty() {
        "no reason given".to_owned()
    } else {
        lines.join("; ")
    }
}

/// The input line an `iptables-restore` error names: `Error occurred at line: N` (1.8 parse and
/// commit errors, both variants), `line N failed` (older legacy commit errors), `... at line N`.
pub fn failing_line(stderr: &str) -> Option<usize> {
    let number = |rest: &str| -> Option<usize> {
        let digits: String = rest
            .trim_start_matches([':', ' '])
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    };
    for l in stderr.lines() {
        if let Some((_, rest)) = l.split_once("at line")
            && let Some(n) = number(rest)
        {
            return Some(n);
        }
        if let Some((_, rest)) = l.split_once("line ")
            && let Some(n) = number(rest)
            && rest.contains("failed")
        {
            return Some(n);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const NFT: &str = "iptables-nft-restore v1.8.9 (nf_tables): Chain 'SP-MISSING' does not exist\nError occurred at line: 6\nTry `iptables-nft-restore -h' or 'iptables-nft-restore --help' for more information.\n";
    const LEGACY: &str = "iptables-restore v1.8.9 (legacy): Couldn't load target `SP-MISSING':No such file or directory\n\nError occurred at line: 5\nTry `iptables-restore -h' or 'iptables-restore --help' for more information.\n";

    #[test]
    fn finds_the_failing_line() {
        assert_eq!(failing_line(NFT), Some(6));
        assert_eq!(failing_line(LEGACY), Some(5));
        assert_eq!(failing_line("iptables-restore: line 12 failed\n"), Some(12));
        assert_eq!(
            failing_line("iptables-restore: COMMIT expected at line 9\n"),
            Some(9)
        );
        assert_eq!(failing_line("something else\n"), None);
    }

    #[test]
    fn restore_error_names_the_line_and_the_reason() {
        let input = "*nat\n:A - [0:0]\n:B - [0:0]\n-A A -j B\n-A A -j SP-MISSING\nCOMMIT\n";
        let err = Error::restore(Variant::Legacy, IpFamily::V4, Some(2), LEGACY.into(), input);
        let msg = err.to_string();
        assert!(
            msg.starts_with("iptables-legacy-restore refused the input (exit 2) at line 5 \"-A A -j SP-MISSING\": iptables-restore v1.8.9 (legacy): Couldn't load target"),
            "{msg}"
        );
        assert!(!msg.contains("Try `"), "{msg}");
        assert!(err.is_retryable());
    }
}
